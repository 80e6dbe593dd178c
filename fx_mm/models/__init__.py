# Copyright (c) fx_mm contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .foundation_x import FoundationX, FoundationXNet
from .task_branches import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403

__all__ = ['FoundationX', 'FoundationXNet']
