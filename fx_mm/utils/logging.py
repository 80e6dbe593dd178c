# Copyright (c) fx_mm contributors. All rights reserved.
import logging
from contextlib import contextmanager
from typing import Iterator

from mmengine.logging import MMLogger


@contextmanager
def init_info_at_debug() -> Iterator[None]:
    """Show mmengine's per-parameter initialisation report only at DEBUG.

    ``BaseModule.init_weights`` logs one INFO record per parameter when the
    current logger writes to no file (a model built outside a Runner, e.g.
    by the inferencer): over a thousand lines for Foundation X. Inside this
    context the current logger drops INFO records unless its level is
    DEBUG; warnings and errors pass.
    """
    logger = MMLogger.get_current_instance()
    level = logger.level  # may be NOTSET: the handlers decide
    shows_debug = (logging.NOTSET < level <= logging.DEBUG) or (
        level == logging.NOTSET and logger.handlers
        and min(h.level for h in logger.handlers) <= logging.DEBUG)
    if not shows_debug:
        logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
