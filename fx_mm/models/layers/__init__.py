# Copyright (c) fx_mm contributors. All rights reserved.
from .channel_norm import ChannelLayerNorm, channel_norms

__all__ = ['ChannelLayerNorm', 'channel_norms']
