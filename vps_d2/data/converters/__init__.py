"""Converters of real datasets into the unified video-panoptic format (SPEC §3, §9).

* :mod:`.cityscapes_vps`: the official Cityscapes-VPS release + Cityscapes ``leftImg8bit_sequence``;
* :mod:`.viper`: raw VIPER (``img``/``cls``/``inst``[/``flow``] per sequence);
* :mod:`.check`: validation of a prepared split (``--check`` of both scripts);
* :mod:`.common`: what they share (segment building, deterministic ids, resume, atomic output).

The command-line entry points are ``datasets/prepare_cityscapes_vps.py`` and
``datasets/prepare_viper_vps.py``; ``datasets/README.md`` documents the expected input trees.
"""
from .common import ConversionError  # noqa: F401
