"""Initial optical flow sources (SPEC §4 "Initial flow"): registry and implementations."""
from . import dis, oracle, raft, zero  # noqa: F401  (registration)
from .registry import FLOW_REGISTRY, build_initial_flow  # noqa: F401
