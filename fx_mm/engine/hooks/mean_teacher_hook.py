# Copyright (c) fx_mm contributors. All rights reserved.
import torch
from mmengine.dist import all_reduce_params, get_world_size
from mmengine.hooks import Hook

from fx_mm.registry import HOOKS
from fx_mm.structures.slot_phase import current_slot_phase
from fx_mm.utils.model_wrappers import unwrap_model


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Exponential moving average of the student into the teacher.

    ``teacher = (1 - student_weight) * teacher + student_weight * student``
    for parameters AND floating-point buffers (BatchNorm statistics);
    integer buffers (``num_batches_tracked``) are copied. The paper's
    "teacher = 0.8 teacher + 0.2 student" is ``student_weight=0.2``. (mmdet's
    and mmengine's EMA call this number ``momentum``; the name here says
    which side it weighs.) The research code never averages buffers; fx_mm
    does.

    Under DDP each rank's BatchNorm layers see different batches, so the
    student's running statistics differ between ranks (DDP only broadcasts
    rank 0's buffers at the next forward). Before each teacher update the
    student's floating-point buffers are averaged over the ranks (like
    mmengine's ``SyncBuffersHook`` does per epoch), so the statistics use
    every rank's data and student and teacher stay identical on all ranks.

    Args:
        student_weight (float): Weight of the student in one update.
            Defaults to 0.2 (paper).
        interval (str): ``'phase'``: update at the end of every lock and
            release phase (paper); ``'iter'``: after every iteration.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 student_weight: float = 0.2,
                 interval: str = 'phase') -> None:
        if not 0 < student_weight <= 1:
            raise ValueError(
                f'student_weight must be in (0, 1], got {student_weight}')
        if interval not in ('phase', 'iter'):
            raise ValueError(
                f'interval must be "phase" or "iter", got {interval!r}')
        self.student_weight = student_weight
        self.interval = interval

    def before_run(self, runner) -> None:
        if unwrap_model(runner.model).teacher is None:
            raise ValueError('MeanTeacherHook needs a model built with '
                             'with_teacher=True')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        state = current_slot_phase(runner)
        if self.interval == 'iter' or (state is not None
                                       and state.is_phase_end):
            model = unwrap_model(runner.model)
            self.sync_student_buffers(model.student)
            self.update_teacher(model.student, model.teacher,
                                self.student_weight)

    @staticmethod
    def sync_student_buffers(student: torch.nn.Module) -> None:
        """Average the floating-point buffers over the ranks (no-op in a
        single process)."""
        if get_world_size() == 1:
            return
        buffers = [b for b in student.buffers() if b.dtype.is_floating_point]
        if buffers:
            all_reduce_params(buffers, op='mean')

    @staticmethod
    @torch.no_grad()
    def update_teacher(student: torch.nn.Module, teacher: torch.nn.Module,
                       student_weight: float) -> None:
        """One EMA step (parameters and buffers)."""
        student_state = dict(student.named_parameters())
        student_state.update(student.named_buffers())
        averaged, targets = [], []
        for name, teacher_value in list(teacher.named_parameters()) + list(
                teacher.named_buffers()):
            student_value = student_state[name]
            if teacher_value.dtype.is_floating_point:
                averaged.append(teacher_value.data)
                targets.append(student_value.data.to(teacher_value.dtype))
            else:
                teacher_value.copy_(student_value)
        # one fused call instead of a Python loop over thousands of tensors
        # (the same lerp per tensor)
        torch._foreach_lerp_(averaged, targets, student_weight)
