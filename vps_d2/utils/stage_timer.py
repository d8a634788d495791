"""Wall-clock time per named stage of a pipeline, by wrapping the methods that make each stage
(``tools/benchmark.py``). Nested or repeated calls of one stage add up; on CUDA each timed call is
synchronised so that the time lands in the stage that queued the work."""
import contextlib
import time
from collections import defaultdict
from typing import Callable, Dict, Iterator
from unittest import mock

import torch

__all__ = ["StageTimer"]


class StageTimer:
    def __init__(self, cuda: bool = False):
        self.cuda = cuda
        self.seconds: Dict[str, float] = defaultdict(float)
        self._patches = contextlib.ExitStack()

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def timed(self, stage: str, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            self._sync()
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._sync()
                self.seconds[stage] += time.perf_counter() - start

        return wrapper

    def wrap(self, owner, attribute: str, stage: str) -> None:
        """Time every call of ``owner.attribute`` (a method or a module-level function) as ``stage``
        until :meth:`close`."""
        self._patches.enter_context(mock.patch.object(owner, attribute, self.timed(stage, getattr(owner, attribute))))

    @contextlib.contextmanager
    def frame(self) -> Iterator[Dict[str, float]]:
        """Time one frame: yields a dict that holds, after the block, the frame's seconds per stage
        and ``total``."""
        self.seconds.clear()
        out: Dict[str, float] = {}
        self._sync()
        start = time.perf_counter()
        yield out
        self._sync()
        out.update(self.seconds, total=time.perf_counter() - start)

    def close(self) -> None:
        self._patches.close()
