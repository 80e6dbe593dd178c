# Copyright (c) fx_mm contributors. All rights reserved.


class CycleLength:
    """Stands for a loop's dataloader where the loop iterates several:
    mmengine asks ``len(loop.dataloader)`` for the length of an "epoch"
    (schedulers, the log's ``[i/N]`` and eta). One train epoch here is one
    cycle; one val/test epoch is every selected slot's loader.

    Args:
        iters_per_cycle (int): The epoch's iterations.
        dataset (optional): What ``loop.dataloader.dataset`` answers (the
            first selected slot's dataset of a validation).
    """

    def __init__(self, iters_per_cycle: int, dataset=None) -> None:
        self.iters_per_cycle = iters_per_cycle
        self.dataset = dataset

    def __len__(self) -> int:
        return self.iters_per_cycle
