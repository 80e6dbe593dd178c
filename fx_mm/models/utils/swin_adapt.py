# Copyright (c) fx_mm contributors. All rights reserved.
"""Fit Swin weights in mmdet's naming (:mod:`.swin_converters`) to a
target model of another window size, input resolution or number of input
channels."""
from collections import OrderedDict
from typing import List, Mapping, Tuple

import torch.nn.functional as F
from torch import Tensor


def _resize_bias_table(table: Tensor, length: int) -> Tensor:
    """(L1, nH) relative position bias table -> (L2, nH), bicubic over the
    (2W-1) x (2W-1) grid of relative offsets."""
    old = int(round(table.shape[0]**0.5))
    new = int(round(length**0.5))
    heads = table.shape[1]
    # [L1, nH] -> [1, nH, S1, S1]
    grid = table.T.reshape(1, heads, old, old)
    grid = F.interpolate(
        grid.float(), size=(new, new), mode='bicubic', align_corners=False)
    # [1, nH, S2, S2] -> [L2, nH]
    return grid.reshape(heads, new * new).T.contiguous().to(table.dtype)


def _resize_pos_embed(embed: Tensor, target: Tensor) -> Tensor:
    """Absolute position embedding (1, L, C) or (1, C, H, W) -> target's
    (1, L', C), bicubic over the patch grid."""
    channels = target.shape[-1]
    if embed.dim() == 4:
        # [1, C, H, W] -> [1, H*W, C]
        embed = embed.flatten(2).transpose(1, 2)
    old = int(round(embed.shape[1]**0.5))
    new = int(round(target.shape[1]**0.5))
    if old == new:
        return embed.contiguous()
    # [1, L, C] -> [1, C, S, S]
    grid = embed.transpose(1, 2).reshape(1, channels, old, old)
    grid = F.interpolate(
        grid.float(), size=(new, new), mode='bicubic', align_corners=False)
    return grid.flatten(2).transpose(1, 2).contiguous().to(embed.dtype)


def _adapt_in_channels(weight: Tensor, in_channels: int) -> Tensor:
    """Patch-embedding conv weight (C, in1, p, p) -> (C, in2, p, p).

    RGB -> 1 channel sums the colour filters (a grey image replicated to
    RGB gives the same response); otherwise the filters are tiled and
    scaled by in1 / in2 so that the response to a constant image is kept.
    """
    old = weight.shape[1]
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // old)
    tiled = weight.repeat(1, repeats, 1, 1)[:, :in_channels]
    return tiled * (old / in_channels)


def adapt_swin_state_dict(
    state_dict: Mapping[str, Tensor],
    target: Mapping[str, Tensor],
    source: str = 'Swin checkpoint'
) -> Tuple['OrderedDict[str, Tensor]', List[str]]:
    """Fit converted Swin weights to a target model of another geometry.

    Handled: another window size (the relative position bias tables are
    resized bicubically), another input resolution (the absolute position
    embedding is resized), another number of input channels (the patch
    embedding is summed to 1 channel or tiled, see
    :func:`_adapt_in_channels`). Everything else must have the target's
    shape.

    Args:
        state_dict (Mapping[str, Tensor]): Converted weights (mmdet names).
        target (Mapping[str, Tensor]): The target model's state dict.
        source (str): Name of the checkpoint for messages.

    Returns:
        tuple: The adapted weights and one line per adapted key.

    Raises:
        ValueError: A shape cannot be adapted (another number of heads,
            another patch size or width); the message names the key.
    """
    adapted: 'OrderedDict[str, Tensor]' = OrderedDict()
    notes = []
    for key, value in state_dict.items():
        if key not in target or tuple(value.shape) == tuple(target[key].shape):
            adapted[key] = value
            continue
        want = target[key]
        old_shape = tuple(value.shape)
        if key.endswith('relative_position_bias_table') \
                and value.dim() == 2 and value.shape[1] == want.shape[1]:
            value = _resize_bias_table(value, want.shape[0])
        elif key == 'absolute_pos_embed' and value.shape[-1 if value.dim(
        ) == 3 else 1] == want.shape[-1]:
            value = _resize_pos_embed(value, want)
        elif key == 'patch_embed.projection.weight' and value.dim() == 4 \
                and value.shape[0] == want.shape[0] \
                and value.shape[2:] == want.shape[2:]:
            value = _adapt_in_channels(value, want.shape[1])
        else:
            hint = ''
            if key.endswith('relative_position_bias_table'):
                hint = ' (another number of attention heads)'
            elif key.startswith('patch_embed.projection'):
                hint = ' (another patch size or embedding width)'
            raise ValueError(
                f'{source}: {key} has shape {old_shape} but the model '
                f'expects {tuple(want.shape)}{hint}; the checkpoint does not '
                'fit this Swin configuration')
        adapted[key] = value
        notes.append(f'{key}: {old_shape} -> {tuple(value.shape)}')
    return adapted, notes
