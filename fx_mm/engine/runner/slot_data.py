# Copyright (c) fx_mm contributors. All rights reserved.
"""Per-phase data: the sample order is a pure function of
(seed, cycle, slot, phase), so a resumed run regenerates it and skips the
positions already consumed (indices, not decoded images). Every sample's
random augmentation is seeded by its position in the phase, which keeps
resume exact with any number of dataloader workers."""
import math
import random
from functools import partial
from typing import List, Sequence

import numpy as np
import torch
from mmengine.dataset import pseudo_collate, worker_init_fn
from mmengine.dist import get_dist_info
from torch.utils.data import DataLoader, Dataset

from fx_mm.registry import FUNCTIONS


def phase_seed(seed: int, cycle: int, slot: int, phase: int) -> int:
    """A 31-bit seed for one phase of one slot of one cycle."""
    rng = np.random.default_rng([seed, cycle, slot, phase])
    return int(rng.integers(0, 2**31 - 1))


def iteration_seed(seed: int, iteration: int, rank: int) -> int:
    """A 31-bit seed for the model's random draws (dropout, drop path,
    denoising noise) in one training iteration of one rank."""
    # the trailing tag keeps these apart from the phase seeds
    rng = np.random.default_rng([seed, iteration, rank, 0x17E5])
    return int(rng.integers(0, 2**31 - 1))


def phase_plan(num_samples: int, fraction: float, batch_size: int,
               seed: int) -> List[int]:
    """Dataset indices of one phase for ALL ranks, rank-interleaved.

    ``ceil(fraction * num_samples)`` samples make the phase; the count is
    rounded up to whole batches on every rank (wrapping around a fresh
    permutation), so all ranks run the same number of full iterations.
    """
    if num_samples <= 0:
        raise ValueError('cannot plan a phase over an empty dataset')
    _, world_size = get_dist_info()
    wanted = math.ceil(fraction * num_samples)
    per_step = batch_size * world_size
    total = math.ceil(wanted / per_step) * per_step
    rng = np.random.default_rng(seed)
    order: List[int] = []
    while len(order) < total:
        order.extend(rng.permutation(num_samples).tolist())
    return order[:total]


def phase_num_iters(num_samples: int, fraction: float, batch_size: int,
                    world_size: int) -> int:
    wanted = math.ceil(fraction * num_samples)
    return math.ceil(wanted / (batch_size * world_size))


class PhaseDataset(Dataset):
    """The samples of one rank in one phase, from ``start`` on.

    Args:
        dataset: The slot's dataset.
        indices (Sequence[int]): This rank's dataset indices in order.
        seed (int): Phase seed; sample ``k``'s augmentation RNG is seeded
            from ``(seed, k)``.
        start (int): Position to begin at (resume inside a phase).
    """

    def __init__(self, dataset, indices: Sequence[int], seed: int,
                 start: int = 0) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.seed = seed
        self.start = start

    def __len__(self) -> int:
        return len(self.indices) - self.start

    def __getitem__(self, position: int):
        position += self.start
        sample_seed = int(
            np.random.default_rng([self.seed, position]).integers(2**31 - 1))
        # Seed the global RNGs the transforms use, and give the caller's
        # state back (the main process also draws dropout/denoising noise).
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(sample_seed)
            np.random.seed(sample_seed)
            torch.manual_seed(sample_seed)
            try:
                return self.dataset[self.indices[position]]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


def build_phase_dataloader(dataset,
                           fraction: float,
                           batch_size: int,
                           seed: int,
                           start_iter: int = 0,
                           num_workers: int = 0,
                           collate_fn: dict = None,
                           pin_memory: bool = False) -> DataLoader:
    """A loader over this rank's share of one phase, from ``start_iter``."""
    rank, world_size = get_dist_info()
    plan = phase_plan(len(dataset), fraction, batch_size, seed)
    rank_indices = plan[rank::world_size]
    phase_data = PhaseDataset(
        dataset, rank_indices, seed, start=start_iter * batch_size)
    collate_cfg = dict(collate_fn or dict(type='pseudo_collate'))
    collate_type = collate_cfg.pop('type')
    collate = FUNCTIONS.get(collate_type) if isinstance(
        collate_type, str) else collate_type
    collate = partial(collate, **collate_cfg) if collate_cfg else \
        (collate or pseudo_collate)
    init_fn = partial(
        worker_init_fn, num_workers=num_workers, rank=rank, seed=seed) \
        if num_workers > 0 else None
    # A DataLoader iterator draws its base seed from the GLOBAL torch RNG
    # unless it has its own generator; a resumed run creates one more
    # iterator than the uninterrupted run (for the interrupted phase), so
    # drawing from the global RNG would shift all later noise.
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        phase_data,
        generator=generator,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=False,
        worker_init_fn=init_fn,
        persistent_workers=False)
