"""Memory stays flat over a long stream (issue 24): benchmarks/bench_stream_memory.py over 1,000
frames, every frame at the most detections, in a fresh process; the RSS after frame 100 may not
rise by more than 5 % (benchmarks/README.md "Memory over a long stream" has the 10,000-frame run)."""
import os
import subprocess
import sys
import tempfile
import unittest

from .common import REPO


class TestStreamMemory(unittest.TestCase):
    def test_rss_flat_over_1000_frames(self):
        with tempfile.TemporaryDirectory() as out:
            proc = subprocess.run(
                [sys.executable, os.path.join(REPO, "benchmarks", "bench_stream_memory.py"), "--frames", "1000",
                 "--every", "50", "--height", "64", "--width", "128", "--device", "cpu", "--max-drift", "5",
                 "--quiet", "--out", out],
                capture_output=True, text=True, cwd=REPO, timeout=1800,
                env=dict(os.environ, OMP_NUM_THREADS="1"),
            )
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr[-3000:])
            self.assertRegex(proc.stdout, r"RSS \(MiB\) drift after frame 100: [+-]\d+\.\d+ %")
            self.assertEqual(sorted(os.listdir(out)), ["memory.csv", "memory.png"])
            with open(os.path.join(out, "memory.csv")) as f:
                self.assertEqual(len(f.readlines()), 1 + 1 + 1000 // 50)  # header, frame 1, every 50


if __name__ == "__main__":
    unittest.main()
