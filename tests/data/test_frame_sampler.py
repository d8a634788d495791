import unittest

import numpy as np

from vps_d2.data.frame_sampler import sample_reference, sample_target


class TestFrameSampler(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.RandomState(0)
        self.numbers = list(range(1, 31))
        self.annotated = [f % 5 == 0 for f in self.numbers]  # Cityscapes-VPS: 5, 10, ..., 30

    def test_target_is_annotated_and_all_are_drawn(self):
        drawn = {sample_target(self.annotated, self.rng) for _ in range(200)}
        self.assertEqual(drawn, {4, 9, 14, 19, 24, 29})

    def test_reference_within_range_is_previous_or_next_annotated(self):
        refs = {sample_reference(self.numbers, self.annotated, 14, 5, self.rng) for _ in range(100)}
        self.assertEqual(refs, {9, 19})  # frames 10 and 20 around frame 15
        refs = {sample_reference(self.numbers, self.annotated, 4, 5, self.rng) for _ in range(50)}
        self.assertEqual(refs, {9})  # first annotated frame: only the next one

    def test_dense_annotation_draws_every_offset_but_zero(self):
        dense = [True] * 30
        refs = {sample_reference(self.numbers, dense, 10, 5, self.rng) for _ in range(500)}
        self.assertEqual(refs, set(range(5, 16)) - {10})

    def test_out_of_range_falls_back_to_nearest_and_single_frame_to_itself(self):
        sparse = [f in (1, 12, 30) for f in self.numbers]
        self.assertEqual(sample_reference(self.numbers, sparse, 0, 5, self.rng), 11)
        only = [f == 7 for f in self.numbers]
        self.assertEqual(sample_reference(self.numbers, only, 6, 5, self.rng), 6)

    def test_deterministic_for_a_seed(self):
        a = [sample_reference(self.numbers, [True] * 30, 10, 5, np.random.RandomState(7)) for _ in range(3)]
        b = [sample_reference(self.numbers, [True] * 30, 10, 5, np.random.RandomState(7)) for _ in range(3)]
        self.assertEqual(a, b)

    def test_no_annotated_frame_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "no annotated frame"):
            sample_target([False] * 5, self.rng)


if __name__ == "__main__":
    unittest.main()
