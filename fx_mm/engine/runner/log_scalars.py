# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Callable


def drop_log_scalars(message_hub, should_drop: Callable[[str], bool]) -> None:
    """Remove the message hub's scalar histories whose key ``should_drop``.

    mmengine's log processor logs every scalar the hub holds (train scalars
    averaged over a window of iterations), so values of another slot or of
    an earlier validation would otherwise be printed again as current.
    """
    scalars = message_hub.log_scalars
    for key in [k for k in scalars if should_drop(k)]:
        scalars.pop(key)
