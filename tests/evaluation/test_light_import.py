"""The offline scorer imports neither torch nor detectron2 (issue 14 item 5): its worker processes
start in a fraction of a second instead of ~3.5 s each."""
import subprocess
import sys
import unittest

from ..common import REPO

CHECK = (
    "import sys, vps_d2.evaluation, vps_d2.evaluation.scoring, vps_d2.evaluation.__main__; "
    "print(sorted(m for m in ('torch', 'detectron2') if m in sys.modules))"
)


class TestLightImport(unittest.TestCase):
    def test_scorer_imports_no_torch(self):
        out = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(out.strip(), "[]")

    def test_evaluator_still_reachable(self):
        import vps_d2.evaluation as ev

        self.assertEqual(ev.VPQEvaluator.__name__, "VPQEvaluator")


if __name__ == "__main__":
    unittest.main()
