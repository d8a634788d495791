#!/usr/bin/env python
"""Build the ``vps_d2`` package and its ``vps_d2._C`` extension, the way detectron2 does.

* C++ sources under ``vps_d2/layers/csrc`` are always compiled (a CPU-only build always works).
* CUDA sources (``*.cu``) are added, with ``WITH_CUDA`` defined, when ``CUDA_HOME`` is set and
  either a GPU is visible or ``FORCE_CUDA=1`` (for GPU-less build hosts).
* ``TORCH_CUDA_ARCH_LIST`` is honoured by torch's ``BuildExtension``; ``NVCC_FLAGS`` adds flags.
* ``VPS_D2_NO_EXT=1`` installs pure Python: every op then falls back to its PyTorch reference.
"""
import glob
import os
import re

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def get_version() -> str:
    with open(os.path.join(ROOT, "vps_d2", "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def want_extension() -> bool:
    return os.environ.get("VPS_D2_NO_EXT", "0") != "1"


def get_extensions():
    """One extension module, ``vps_d2._C``, built from every source under ``layers/csrc``."""
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, CppExtension, CUDAExtension

    csrc = os.path.join("vps_d2", "layers", "csrc")
    sources = sorted(glob.glob(os.path.join(csrc, "**", "*.cpp"), recursive=True))
    cuda_sources = sorted(glob.glob(os.path.join(csrc, "**", "*.cu"), recursive=True))

    extension = CppExtension
    define_macros = []
    extra_compile_args = {"cxx": ["-O3"]}
    force_cuda = os.environ.get("FORCE_CUDA", "0") == "1"
    if CUDA_HOME is not None and (torch.cuda.is_available() or force_cuda):
        extension = CUDAExtension
        sources += cuda_sources
        define_macros.append(("WITH_CUDA", None))
        extra_compile_args["nvcc"] = [
            "-O3",
            "-DCUDA_HAS_FP16=1",
            "-D__CUDA_NO_HALF_OPERATORS__",
            "-D__CUDA_NO_HALF_CONVERSIONS__",
            "-D__CUDA_NO_HALF2_OPERATORS__",
        ] + os.environ.get("NVCC_FLAGS", "").split()

    return [
        extension(
            "vps_d2._C",
            sources,
            include_dirs=[os.path.abspath(csrc)],
            define_macros=define_macros,
            extra_compile_args=extra_compile_args,
        )
    ]


def build_kwargs():
    if not want_extension():
        return {}
    from torch.utils.cpp_extension import BuildExtension

    return {
        "ext_modules": get_extensions(),
        "cmdclass": {"build_ext": BuildExtension.with_options(no_python_abi_suffix=False)},
    }


setup(
    name="vps_d2",
    version=get_version(),
    description="VPSNet++ video panoptic segmentation as a Detectron2 extension",
    packages=find_packages(exclude=("configs", "tests", "tests.*", "demo", "datasets", "benchmarks")),
    python_requires=">=3.10",
    install_requires=[],  # installed by `make setup` (dev/setup_env.sh), see README
    **build_kwargs(),
)
