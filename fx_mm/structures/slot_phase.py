# Copyright (c) fx_mm contributors. All rights reserved.
"""Where the cyclic lock-release loop is, in one place.

:class:`~fx_mm.engine.runner.CyclicLockReleaseLoop` owns a live
:class:`SlotPhaseState`; hooks read it with :func:`current_slot_phase`.
Code that has no runner (a model's warning) reads the copy the loop
publishes in the message hub at every phase start with
:func:`published_slot_phase`. The order in which the loop visits the
(cycle, slot, phase) positions is :func:`phase_sequence`.
"""
from dataclasses import asdict, dataclass
from typing import Iterator, Optional, Tuple

from mmengine.logging import MessageHub

#: the phases of a slot, in training order
PHASES: Tuple[str, ...] = ('lock', 'release')
#: message hub key of the slot and phase that started last (a dict)
SLOT_INFO_KEY = 'fx_slot'


@dataclass
class SlotPhaseState:
    """Where the cyclic loop is; hooks read it with
    :func:`current_slot_phase`.

    ``phase_iter`` counts iterations done inside the phase; the flags are
    True during the hooks of the phase's / slot's last iteration.
    """
    cycle: int = 0
    slot_index: int = 0
    phase: str = 'lock'
    phase_iter: int = 0
    phase_len: int = 0
    slot_name: str = ''
    dataset: str = ''
    task: str = ''
    is_phase_end: bool = False
    is_slot_end: bool = False


def phase_sequence(num_slots: int,
                   cycle: int = 0,
                   slot_index: int = 0,
                   phase: str = PHASES[0]) -> Iterator[Tuple[int, int, str]]:
    """The ``(cycle, slot_index, phase)`` positions in training order,
    from the given one (included) on, without end: every cycle visits the
    slots in order, each slot its :data:`PHASES` in order.

    Args:
        num_slots (int): Slots of a cycle.
        cycle, slot_index, phase: The first position yielded.
    """
    first_phase = PHASES.index(phase)
    while True:
        for index in range(slot_index, num_slots):
            for name in PHASES[first_phase:]:
                yield cycle, index, name
            first_phase = 0
        cycle, slot_index = cycle + 1, 0


def current_slot_phase(runner,
                       required_by: Optional[str] = None
                       ) -> Optional[SlotPhaseState]:
    """The live position of the runner's train loop.

    Args:
        runner: The runner (anything with a ``train_loop``).
        required_by (str, optional): Who cannot work without it (e.g. a
            hook's name); then a loop without a position raises instead of
            returning None.

    Returns:
        SlotPhaseState | None: None when the train loop is not cyclic.
    """
    state = getattr(runner.train_loop, 'state', None)
    if state is None and required_by is not None:
        raise TypeError(
            f'{required_by} needs the cyclic lock-release loop '
            f'(train_cfg.type="CyclicLockReleaseLoop"); the train loop is '
            f'{type(runner.train_loop).__name__}')
    return state


def publish_slot_phase(message_hub: MessageHub, state: SlotPhaseState,
                       num_slots: int) -> None:
    """Put a copy of the phase that starts into the message hub (it is
    saved with checkpoints)."""
    message_hub.update_info(SLOT_INFO_KEY,
                            dict(asdict(state), num_slots=num_slots))


def published_slot_phase() -> Optional[dict]:
    """The current message hub's copy of the phase that started last
    (:class:`SlotPhaseState`'s fields and ``num_slots``), for code without
    a runner; None outside the cyclic loop."""
    return MessageHub.get_current_instance().get_info(SLOT_INFO_KEY)
