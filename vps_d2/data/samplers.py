"""A training sampler that can continue an interrupted run where it stopped."""
import itertools

from detectron2.data.samplers import TrainingSampler


class ResumableTrainingSampler(TrainingSampler):
    """detectron2's ``TrainingSampler`` (an infinite, seeded stream of shuffled indices) started at
    position ``start`` of its global stream: a run resumed at iteration i with ``start`` = i x total
    batch size sees the same videos in the same order as an uninterrupted run."""

    def __init__(self, size: int, shuffle: bool = True, seed=None, start: int = 0):
        super().__init__(size, shuffle=shuffle, seed=seed)
        self.start = start

    def _infinite_indices(self):
        return itertools.islice(super()._infinite_indices(), self.start, None)
