"""Atomic writes: the complete file or none, with the permissions a plain ``open`` gives."""
import os
import stat
import tempfile
import unittest

from vps_d2.utils.file_io import atomic_path, atomic_write_json


class TestAtomicWrites(unittest.TestCase):
    def test_written_file_has_the_umask_permissions_not_the_temporary_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "plain.txt"), "w"):
                pass
            atomic_write_json(os.path.join(tmp, "atomic.json"), {"a": 1})
            modes = {name: stat.S_IMODE(os.stat(os.path.join(tmp, name)).st_mode) for name in os.listdir(tmp)}
        self.assertEqual(modes["atomic.json"], modes["plain.txt"])

    def test_a_failed_block_leaves_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaises(RuntimeError), atomic_path(os.path.join(tmp, "x.json")) as path:
                with open(path, "w") as f:
                    f.write("half")
                raise RuntimeError("interrupted")
            self.assertEqual(os.listdir(tmp), [])


if __name__ == "__main__":
    unittest.main()
