"""Guarded access to the compiled extension ``vps_d2._C``.

Importing ``vps_d2`` never fails because the extension is missing (``VPS_D2_NO_EXT=1`` builds, or a
checkout that was not built): ops then use their PyTorch references, and only asking explicitly for a
compiled kernel raises.
"""
from typing import Dict, Optional

import torch  # noqa: F401  (first: _C links against torch's libc10, which loading torch makes findable)

try:
    from vps_d2 import _C  # noqa: F401

    _EXT_ERROR: Optional[str] = None
except ImportError as e:  # the extension was not built or does not match this torch
    _C = None
    _EXT_ERROR = str(e)


def has_extension() -> bool:
    """Whether ``vps_d2._C`` imported."""
    return _C is not None


def extension_info() -> Dict[str, object]:
    """What the extension was built with, for logs and bug reports (like detectron2's collect_env)."""
    if _C is None:
        return {"built": False, "error": _EXT_ERROR}
    return {
        "built": True,
        "cuda_kernels": bool(_C.has_cuda()),
        "cuda_version": int(_C.get_cuda_version()),
        "compiler": _C.get_compiler_version(),
    }
