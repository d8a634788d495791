"""benchmarks/ablation.py: the protocol's commands (Base stage, fine-tuning from it, cue rows), the
tables, the orderings with their gaps and the plots it writes."""
import os
import tempfile
import unittest

from .common import load_script


def report(vpq: float, th: float, st: float, stq: float, pq: float = 50.0) -> dict:
    per_k = {str(k): {"VPQ": vpq + k} for k in (0, 5, 10, 15)}
    return {"per_k": per_k, "VPQ": vpq, "VPQ_th": th, "VPQ_st": st, "STQ": stq, "PQ": pq, "PQ_th": pq - 1,
            "PQ_st": pq + 1}


def opts_of(cmd: list) -> dict:
    """The ``KEY VALUE`` opts after the config file (and the variant's switches)."""
    start = cmd.index("--config-file") + 2
    return dict(zip(cmd[start::2], cmd[start + 1::2]))


class TestAblation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ablation = load_script("benchmarks/ablation.py")

    def args(self, *argv):
        return self.ablation.parse_args(["--output", "/tmp/x", *argv])

    def test_variant_switches_follow_the_variant_configs(self):
        switches = {v: dict(zip(*[iter(self.ablation.variant_switches(v))] * 2))
                    for v in ("base", "attend", "track", "pp_a", "pp_f", "fusetrack_flow")}
        self.assertEqual((switches["base"]["MODEL.VPS.FUSE_ON"], switches["base"]["MODEL.VPS.TRACK_ON"]), ("False", "False"))
        self.assertEqual((switches["attend"]["MODEL.FUSE.ALIGN_ON"], switches["attend"]["MODEL.FUSE.ATTEND_ON"]), ("False", "True"))
        self.assertEqual(switches["track"]["MODEL.VPS.FUSE_ON"], "False")
        self.assertEqual(switches["track"]["MODEL.TRACK_HEAD.NAME"], "masktrack")
        self.assertEqual(switches["pp_a"]["MODEL.FUSE.BIDIRECTIONAL"], "True")
        self.assertEqual(switches["pp_f"]["MODEL.TRACK_HEAD.NAME"], "contrastive")
        self.assertEqual((switches["pp_f"]["MODEL.VPS.EDGE_ON"], switches["pp_f"]["MODEL.VPS.TUBE_ON"]), ("True", "True"))
        self.assertEqual((switches["base"]["MODEL.FUSE.FLOW_LOSS_WEIGHT"], switches["fusetrack_flow"]["MODEL.FUSE.FLOW_LOSS_WEIGHT"]),
                         ("0.0", "1.0"))
        self.assertEqual(switches["fusetrack_flow"]["MODEL.VPS.TRACK_ON"], "True")
        self.assertNotIn("fuse_flow", self.args().variants)  # only when asked for: it needs --flow data

    def test_base_stage_then_every_variant_fine_tunes_from_it_for_the_rest_of_the_schedule(self):
        args = self.args("--iters", "600", "--base-iters", "400", "--split", "hard", "SOLVER.BASE_LR", "0.001")
        base = opts_of(self.ablation.train_command(args, "base", 2, stage="base"))
        self.assertEqual((base["SOLVER.MAX_ITER"], base["SOLVER.STEPS"]), ("400", "(300, 368)"))
        self.assertEqual(base["DATASETS.TEST"], "()")  # the stage is not evaluated
        self.assertNotIn("MODEL.WEIGHTS", base)
        self.assertEqual(base["OUTPUT_DIR"], "/tmp/x/_base_stage/seed2")
        cmd = self.ablation.train_command(args, "fusetrack", 2)
        self.assertIn("tiny_vpsnet_pp_cpu.yaml", cmd[cmd.index("--config-file") + 1])
        tuned = opts_of(cmd)
        self.assertEqual(tuned["MODEL.VPS.FUSE_ON"], "True")
        self.assertEqual(tuned["MODEL.WEIGHTS"], "/tmp/x/_base_stage/seed2/model_final.pth")
        self.assertEqual((tuned["SOLVER.MAX_ITER"], tuned["SOLVER.STEPS"]), ("200", "(150, 184)"))
        self.assertEqual(tuned["DATASETS.TRAIN"], "('synthetic_vps_hard_train',)")
        self.assertEqual(tuned["DATASETS.TEST"], "('synthetic_vps_hard_test',)")
        self.assertEqual(tuned["SEED"], "2")
        self.assertEqual(tuned["SOLVER.BASE_LR"], "0.001")  # extra opts come last, so they win

    def test_from_scratch_without_a_base_stage(self):
        tuned = opts_of(self.ablation.train_command(self.args("--iters", "100", "--split", "clean"), "track", 0))
        self.assertNotIn("MODEL.WEIGHTS", tuned)
        self.assertEqual((tuned["SOLVER.MAX_ITER"], tuned["DATASETS.TEST"]), ("100", "('synthetic_vps_test',)"))

    def test_cue_rows_evaluate_fusetrack_weights_with_one_cue_alone(self):
        cmd = self.ablation.cue_command(self.args(), "iou_match", 1)
        self.assertIn("--eval-only", cmd)
        opts = opts_of(cmd)
        self.assertEqual(opts["MODEL.WEIGHTS"], "/tmp/x/fusetrack/seed1/model_final.pth")
        self.assertEqual(opts["MODEL.TRACKER.MASK_IOU_WEIGHT"], "2.0")
        for key in ("APPEARANCE_WEIGHT", "BOX_IOU_WEIGHT", "CLASS_WEIGHT", "SCORE_WEIGHT"):
            self.assertEqual(opts[f"MODEL.TRACKER.{key}"], "0.0", key)
        self.assertEqual(opts["OUTPUT_DIR"], "/tmp/x/iou_match/seed1")

    def test_base_iters_must_leave_iterations_to_fine_tune(self):
        with self.assertRaises(SystemExit):
            self.args("--iters", "400", "--base-iters", "400")

    def test_r50_command_uses_the_variant_config_as_it_is(self):
        cmd = self.ablation.train_command(self.args("--scale", "r50"), "pp_c", 0)
        self.assertTrue(cmd[cmd.index("--config-file") + 1].endswith("vpsnet_pp_c_R_50_FPN_3k_synthetic_vps.yaml"))
        self.assertNotIn("MODEL.VPS.FUSE_ON", cmd)
        self.assertNotIn("SOLVER.MAX_ITER", cmd)

    def test_mean_std_orderings_and_detector_check(self):
        table = self.ablation.aggregate({
            "track": {0: report(10, 4, 14, 8), 1: report(12, 6, 16, 10)},
            "fusetrack": {0: report(20, 30, 14, 8), 1: report(22, 32, 16, 10)},
        })
        vpq = table["track"]["VPQ"]
        self.assertEqual((vpq["mean"], vpq["seeds"]), (11.0, [10, 12]))
        self.assertAlmostEqual(vpq["std"], 2 ** 0.5)
        self.assertEqual(table["track"]["VPQ@15"]["mean"], 26.0)
        row = self.ablation.markdown_table(table, ["track"], self.ablation.TABLE_IV_COLUMNS).splitlines()[2]
        self.assertTrue(row.startswith("| Track | 11.0 ± 1.4 | 16.0 ± 1.4 |"), row)
        (found,) = self.ablation.orderings(table, [0, 1])
        self.assertEqual((found["column"], found["mean_difference"], found["verdict"]), ("VPQ", 10.0, "holds"))
        self.assertEqual((found["standard_error"], found["positive_seeds"]), (0.0, 2))
        detector = self.ablation.detector_check(table)
        self.assertEqual((detector["best"], detector["below"]), (31.0, ["track"]))
        text = self.ablation.orderings_markdown([found], detector)
        self.assertIn("learns a detector (VPQ^Th ≥ 0.8 × the best, 31.0): no: Track", text)
        self.assertIn("FuseTrack > Track in VPQ: paired difference +10.00 ± 0.00 (SE, 2 seeds; positive in 2 of 2): "
                      "holds.", text)

    def test_orderings_are_paired_by_seed(self):
        # the seeds differ by 10 but every seed's FuseTrack beats its Track by 1-1.5: overlapping
        # spreads, a resolved paired difference (1.25 ± 0.25 SE > 2 SE)
        table = self.ablation.aggregate({
            "track": {0: report(10, 4, 14, 8), 1: report(20, 6, 16, 10)},
            "fusetrack": {0: report(11, 4, 14, 8), 1: report(21.5, 6, 16, 10)},
        })
        (found,) = self.ablation.orderings(table, [0, 1])
        self.assertAlmostEqual(found["mean_difference"], 1.25)
        self.assertAlmostEqual(found["standard_error"], 0.25)
        self.assertEqual((found["verdict"], found["differences"]), ("holds", {0: 1.0, 1: 1.5}))
        table["fusetrack"]["VPQ"]["seeds"] = [12.0, 19.0]  # +2, -1: 0.5 ± 1.5, not resolved
        self.assertEqual(self.ablation.orderings(table, [0, 1])[0]["verdict"], "not resolved")

    def test_plots_are_written(self):
        table = self.ablation.aggregate({v: {0: report(10, 4, 14, 8)} for v in ("base", "fuse", "track", "cls_sort")})
        with tempfile.TemporaryDirectory() as tmp:
            paths = self.ablation.plot_tables(table, tmp)
            self.assertEqual(sorted(os.listdir(tmp)), ["table_ii.png", "table_iv.png"])
            self.assertTrue(all(os.path.getsize(p) > 1000 for p in paths))

    def test_model_zoo_block_is_replaced_between_its_markers_only(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "MODEL_ZOO.md")
            with open(path, "w") as f:
                f.write("head\n<!-- ablation:tiny:hard:begin -->\nold\n<!-- ablation:tiny:hard:end -->\ntail\n")
            self.ablation.replace_block(path, "tiny:hard", "| new |")
            with open(path) as f:
                self.assertEqual(f.read(), "head\n<!-- ablation:tiny:hard:begin -->\n| new |\n<!-- ablation:tiny:hard:end -->\ntail\n")
            with self.assertRaisesRegex(SystemExit, "no '<!-- ablation:r50:hard:begin -->'"):
                self.ablation.replace_block(path, "r50:hard", "x")
            self.assertEqual(os.listdir(tmp), ["MODEL_ZOO.md"])  # no temporary file left behind


if __name__ == "__main__":
    unittest.main()
