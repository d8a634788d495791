"""vps_d2: VPSNet++ video panoptic segmentation as a Detectron2 extension.

``import vps_d2`` is light (no torch, no detectron2), so that the offline scorer
(``vps_d2.evaluation``) and its worker processes start fast; subpackages load when first used
(``vps_d2.modeling``, ``vps_d2.add_vps_config``, ...). ``import vps_d2`` registers nothing:
``vps_d2.config.register_all()`` registers the model components (``VPSNet``, ``TrackROIHeads``,
``UPSNetSemanticHead``, vps_d2's own registries) and the built-in datasets (``DatasetCatalog`` /
``MetadataCatalog``), and ``add_vps_config`` (where every entry point starts) calls it. A dataset
of one's own: ``vps_d2.data.datasets.register_vps_dataset`` (datasets/README.md "Your own videos").
"""
__version__ = "0.1.0"

import importlib
import warnings

# detectron2 0.7 / fvcore call torch.jit.script at import, deprecated in torch 2.14; the warning says
# nothing to vps_d2's users and would sit above every CLI's one-line error.
warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated", category=FutureWarning)
warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)

_SUBPACKAGES = ("config", "data", "engine", "evaluation", "layers", "modeling", "tracking", "utils")


def __getattr__(name: str):
    """Import a subpackage (or ``add_vps_config``) on first use (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name == "add_vps_config":
        return importlib.import_module(".config", __name__).add_vps_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
