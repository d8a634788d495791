import os
import subprocess
import sys
import unittest

from vps_d2.layers import extension


class TestExtension(unittest.TestCase):
    @unittest.skipIf(os.environ.get("VPS_D2_NO_EXT") == "1", "built without the extension (VPS_D2_NO_EXT=1)")
    def test_extension_is_built_and_reports_itself(self):
        self.assertTrue(extension.has_extension(), extension.extension_info())
        info = extension.extension_info()
        self.assertIsInstance(info["cuda_kernels"], bool)
        self.assertEqual(info["cuda_kernels"], info["cuda_version"] != 0)
        import torch

        self.assertEqual(torch.ops.vps_d2.has_cuda(), info["cuda_kernels"])

    @unittest.skipIf(os.environ.get("VPS_D2_NO_EXT") == "1", "built without the extension (VPS_D2_NO_EXT=1)")
    def test_extension_loads_in_a_fresh_interpreter(self):
        # `import vps_d2` no longer imports torch; _C must still find torch's libraries
        code = "from vps_d2.layers import extension_info; print(extension_info()['built'])"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), "True", out.stderr)

    def test_package_imports_without_the_extension(self):
        # A fresh interpreter in which `vps_d2._C` cannot be imported.
        code = (
            "import sys; sys.modules['vps_d2._C'] = None\n"
            "import vps_d2\n"
            "from vps_d2.layers import extension_info, has_extension\n"
            "assert not has_extension(); info = extension_info()\n"
            "assert info['built'] is False and 'vps_d2._C' in info['error'], info\n"
            "print('ok')\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
