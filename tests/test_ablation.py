"""benchmarks/ablation.py: the variant switches it passes, the commands it runs, the table it writes."""
import os
import tempfile
import unittest

from .common import load_script


def report(vpq: float, th: float, st: float, stq: float) -> dict:
    per_k = {str(k): {"VPQ": vpq + k} for k in (0, 5, 10, 15)}
    return {"per_k": per_k, "VPQ": vpq, "VPQ_th": th, "VPQ_st": st, "STQ": stq}


class TestAblation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ablation = load_script("benchmarks/ablation.py")

    def test_variant_switches_follow_the_variant_configs(self):
        switches = {v: dict(zip(*[iter(self.ablation.variant_switches(v))] * 2)) for v in ("track", "pp_a", "pp_f")}
        self.assertEqual(switches["track"]["MODEL.VPS.FUSE_ON"], "False")
        self.assertEqual(switches["track"]["MODEL.TRACK_HEAD.NAME"], "masktrack")
        self.assertEqual(switches["pp_a"]["MODEL.FUSE.BIDIRECTIONAL"], "True")
        self.assertEqual(switches["pp_a"]["MODEL.VPS.TUBE_ON"], "False")
        self.assertEqual(switches["pp_f"]["MODEL.TRACK_HEAD.NAME"], "contrastive")
        self.assertEqual((switches["pp_f"]["MODEL.VPS.EDGE_ON"], switches["pp_f"]["MODEL.VPS.TUBE_ON"]), ("True", "True"))

    def test_tiny_command_has_the_switches_schedule_seed_and_test_split(self):
        args = self.ablation.parse_args(["--iters", "100", "--output", "/tmp/x", "SOLVER.BASE_LR", "0.001"])
        cmd = self.ablation.run_command(args, "fusetrack", 2, "/tmp/x/fusetrack/seed2")
        self.assertIn("tiny_vpsnet_pp_cpu.yaml", cmd[cmd.index("--config-file") + 1])
        pairs = dict(zip(cmd[cmd.index("--num-gpus") + 2::2], cmd[cmd.index("--num-gpus") + 3::2]))
        self.assertEqual(pairs["MODEL.VPS.FUSE_ON"], "True")
        self.assertEqual(pairs["SOLVER.MAX_ITER"], "100")
        self.assertEqual(pairs["SOLVER.STEPS"], "(75, 92)")
        self.assertEqual(pairs["SEED"], "2")
        self.assertEqual(pairs["DATASETS.TEST"], "('synthetic_vps_test',)")
        self.assertEqual(pairs["SOLVER.BASE_LR"], "0.001")  # extra opts come last, so they win

    def test_r50_command_uses_the_variant_config_as_it_is(self):
        args = self.ablation.parse_args(["--scale", "r50"])
        cmd = self.ablation.run_command(args, "pp_c", 0, "/tmp/out")
        self.assertTrue(cmd[cmd.index("--config-file") + 1].endswith("vpsnet_pp_c_R_50_FPN_3k_synthetic_vps.yaml"))
        self.assertNotIn("MODEL.VPS.FUSE_ON", cmd)
        self.assertNotIn("SOLVER.MAX_ITER", cmd)

    def test_mean_and_std_over_seeds_and_the_markdown_row(self):
        table = self.ablation.aggregate({"track": {0: report(10, 4, 14, 8), 1: report(12, 6, 16, 10)}})
        vpq = table["track"]["VPQ"]
        self.assertEqual((vpq["mean"], vpq["seeds"]), (11.0, [10, 12]))
        self.assertAlmostEqual(vpq["std"], 2 ** 0.5)
        self.assertEqual(table["track"]["VPQ@15"]["mean"], 26.0)
        row = self.ablation.markdown_table(table).splitlines()[2]
        self.assertTrue(row.startswith("| Track | 11.0 ± 1.4 | 16.0 ± 1.4 |"), row)

    def test_model_zoo_block_is_replaced_between_its_markers_only(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "MODEL_ZOO.md")
            with open(path, "w") as f:
                f.write("head\n<!-- ablation:tiny:begin -->\nold\n<!-- ablation:tiny:end -->\ntail\n")
            self.ablation.replace_block(path, "tiny", "| new |")
            with open(path) as f:
                self.assertEqual(f.read(), "head\n<!-- ablation:tiny:begin -->\n| new |\n<!-- ablation:tiny:end -->\ntail\n")
            with self.assertRaisesRegex(SystemExit, "no '<!-- ablation:r50:begin -->'"):
                self.ablation.replace_block(path, "r50", "x")
            self.assertEqual(os.listdir(tmp), ["MODEL_ZOO.md"])  # no temporary file left behind


if __name__ == "__main__":
    unittest.main()
