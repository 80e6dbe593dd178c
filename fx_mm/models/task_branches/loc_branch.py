# Copyright (c) fx_mm contributors. All rights reserved.
"""DINO localization with one shared encoder and one decoder per dataset.

mmdet's :class:`~mmdet.models.DINO` runs ``pre_transformer ->
forward_encoder -> pre_decoder -> forward_decoder -> bbox_head`` as separate
methods that read a handful of attributes. Foundation X shares the first two
steps (neck, positional encoding, level embeddings, deformable encoder)
between datasets and gives each dataset its own decoding part (encoder-output
projection, query embedding, denoising query generator, decoder, DINOHead).
Rather than copying DINO's code, the two classes below reuse DINO's step
methods as their own: each owns exactly the attributes those methods read.
"""
import copy
import logging
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import DINO, DeformableDETR
from mmdet.models.layers import (CdnQueryGenerator,
                                 DeformableDetrTransformerEncoder,
                                 DinoTransformerDecoder,
                                 SinePositionalEncoding)
from mmdet.models.utils import samplelist_boxtype2tensor
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModule, ModuleDict
from torch import Tensor
from torch.nn.init import normal_

from fx_mm.registry import MODELS
from fx_mm.structures.slot_phase import published_slot_phase
from ..layers import channel_norms
from .base_branch import MultiDatasetBranch, image_extent
from .builder import build_in_scope

try:
    from mmcv.ops import MultiScaleDeformableAttention
except ImportError:  # pragma: no cover - mmcv without ops
    from mmcv.cnn.bricks.transformer import MultiScaleDeformableAttention


def xavier_init_transformer(transformer: nn.Module) -> None:
    """DINO's transformer initialisation: xavier on every weight matrix,
    then the deformable attentions' own (zero sampling offsets on a grid
    bias; they initialise themselves at construction, so xavier would
    otherwise leave them overwritten)."""
    for p in transformer.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    for m in transformer.modules():
        if isinstance(m, MultiScaleDeformableAttention):
            m.init_weights()


def two_stage_head_cfg(bbox_head: dict, decoder: dict, embed_dims: int,
                       train_cfg: dict, test_cfg: dict, **kwargs) -> dict:
    """A DINO head config completed with what ``DeformableDETR.__init__``
    sets for a two-stage, box-refining DINO (its assertion forbids users
    to set them): one prediction layer per decoder layer plus the
    two-stage one. ``kwargs`` add or override entries."""
    cfg = copy.deepcopy(dict(bbox_head))
    cfg.update(
        embed_dims=embed_dims,
        num_pred_layer=decoder['num_layers'] + 1,
        as_two_stage=True,
        train_cfg=train_cfg,
        test_cfg=test_cfg,
        **kwargs)
    return cfg


class DINODatasetDecoder(BaseModule):
    """The per-dataset half of DINO.

    Owns what DINO's ``pre_decoder`` / ``forward_decoder`` /
    ``gen_encoder_output_proposals`` read: ``decoder``, ``bbox_head``,
    ``query_embedding``, ``memory_trans_fc``/``memory_trans_norm``,
    ``dn_query_generator`` and ``num_queries``.

    Args:
        num_classes (int): Box classes of the dataset.
        decoder (dict): ``DinoTransformerDecoder`` config.
        bbox_head (dict): ``DINOHead`` config (without num_classes).
        dn_cfg (dict): ``CdnQueryGenerator`` config (without num_classes,
            embed_dims, num_matching_queries).
        num_queries (int): Matching queries.
        embed_dims (int): Transformer width.
    """

    pre_decoder = DINO.pre_decoder
    forward_decoder = DINO.forward_decoder
    gen_encoder_output_proposals = DeformableDETR.gen_encoder_output_proposals

    def __init__(self, num_classes: int, decoder: dict, bbox_head: dict,
                 dn_cfg: dict, num_queries: int, embed_dims: int,
                 train_cfg: dict, test_cfg: dict) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.embed_dims = embed_dims
        self.bbox_head = build_in_scope(
            two_stage_head_cfg(
                bbox_head,
                decoder,
                embed_dims,
                train_cfg,
                test_cfg,
                num_classes=num_classes,
                share_pred_layer=False), 'mmdet')
        self.decoder = DinoTransformerDecoder(**decoder)
        self.query_embedding = nn.Embedding(num_queries, embed_dims)
        self.memory_trans_fc = nn.Linear(embed_dims, embed_dims)
        self.memory_trans_norm = nn.LayerNorm(embed_dims)
        dn_cfg = dict(
            dn_cfg,
            num_classes=num_classes,
            embed_dims=embed_dims,
            num_matching_queries=num_queries)
        self.dn_query_generator = CdnQueryGenerator(**dn_cfg)

    def init_weights(self) -> None:
        """DINO's initialisation of its decoding part, then
        :meth:`BaseModule.init_weights` (the DINOHead's, and a
        ``Pretrained`` init_cfg last)."""
        if not self.is_init:
            xavier_init_transformer(self.decoder)
            nn.init.xavier_uniform_(self.memory_trans_fc.weight)
            nn.init.xavier_uniform_(self.query_embedding.weight)
        super().init_weights()


@MODELS.register_module()
class MultiDatasetDINO(MultiDatasetBranch):
    """DINO with a shared encoder and one decoder + head per dataset.

    Shared: ``neck`` (ChannelMapper: backbone stages -> ``num_feature_levels``
    levels of ``embed_dims``, the extra level by a stride-2 conv),
    ``positional_encoding``, ``level_embed`` and the deformable ``encoder``.
    Per dataset (``decoders[dataset]``): see :class:`DINODatasetDecoder`.

    Args:
        datasets (dict): ``{dataset: num_box_classes}``.
        in_indices (Sequence[int]): Backbone outputs fed to the neck
            (paper: stages 2-4 -> ``(1, 2, 3)``).
        neck (dict): mmdet neck config (``ChannelMapper``).
        encoder (dict): ``DeformableDetrTransformerEncoder`` config.
        decoder (dict): ``DinoTransformerDecoder`` config (per dataset).
        bbox_head (dict): ``DINOHead`` config without ``num_classes``.
        positional_encoding (dict): ``SinePositionalEncoding`` config.
        dn_cfg (dict): Contrastive denoising config.
        num_queries (int): Matching queries (paper 900; CPU tests ~100).
        num_feature_levels (int): Levels after the neck. Defaults to 4.
        train_cfg (dict): Assigner config (Hungarian matching costs).
        test_cfg (dict): ``max_per_img``.
        in_norms (bool): LayerNorm over the channels of each input level
            before the neck (``in_norms.{i}``; research: ``Locnorm1-3``), for
            a backbone whose outputs are not normalised. Defaults to False.
    """

    task = 'loc'
    dataset_container = 'decoders'
    #: the class of each dataset's decoding part
    decoder_unit = DINODatasetDecoder

    pre_transformer = DeformableDETR.pre_transformer
    forward_encoder = DeformableDETR.forward_encoder
    get_valid_ratio = staticmethod(DeformableDETR.get_valid_ratio)

    def __init__(self,
                 datasets: Dict[str, int],
                 neck: dict,
                 encoder: dict,
                 decoder: dict,
                 bbox_head: dict,
                 positional_encoding: dict,
                 dn_cfg: dict,
                 in_indices: Sequence[int] = (1, 2, 3),
                 num_queries: int = 900,
                 num_feature_levels: int = 4,
                 train_cfg: dict = None,
                 test_cfg: dict = None,
                 in_norms: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not datasets:
            raise ValueError(f'{type(self).__name__} needs at least one '
                             'dataset in `datasets`')
        self.in_indices = tuple(in_indices)
        self.in_norms = channel_norms(neck['in_channels']) \
            if in_norms else None
        self.num_queries = num_queries
        self.num_feature_levels = num_feature_levels
        self.neck = build_in_scope(neck, 'mmdet')
        self.positional_encoding = SinePositionalEncoding(
            **positional_encoding)
        self.encoder = DeformableDetrTransformerEncoder(**encoder)
        self.embed_dims = self.encoder.embed_dims
        if self.positional_encoding.num_feats * 2 != self.embed_dims:
            raise ValueError(
                'positional_encoding.num_feats must be embed_dims / 2, got '
                f'{self.positional_encoding.num_feats} and {self.embed_dims}')
        # Initialised here as well as in init_weights: mmdet leaves it as
        # uninitialised memory until init_weights, and a model evaluated
        # without training or a checkpoint (mmengine's Runner.test does not
        # call init_weights) then predicts from whatever the allocator held,
        # non-finite values included.
        self.level_embed = nn.Parameter(
            normal_(torch.empty(num_feature_levels, self.embed_dims)))
        # mmengine's ModuleDict: BaseModule.init_weights reaches each
        # decoder's init_weights (and its DINOHead's) through it
        self.decoders = ModuleDict({
            name:
            self.decoder_unit(
                num_classes=num_classes,
                decoder=decoder,
                bbox_head=bbox_head,
                dn_cfg=dn_cfg,
                num_queries=num_queries,
                embed_dims=self.embed_dims,
                train_cfg=train_cfg,
                test_cfg=test_cfg)
            for name, num_classes in datasets.items()
        })

    def init_weights(self) -> None:
        """DINO's initialisation of the shared part.

        mmdet's DINO applies xavier after ``BaseModule.init_weights``, which
        would overwrite a ``Pretrained`` init_cfg (mmengine applies it last
        in ``BaseModule.init_weights``). Here DINO's initialisation comes
        first and a ``Pretrained`` init_cfg (e.g.
        ``prefix='teacher.loc_branch.'``: the shared neck + encoder and the
        decoders of datasets with the same name) wins.
        """
        if not self.is_init:
            xavier_init_transformer(self.encoder)
            normal_(self.level_embed)
        super().init_weights()

    def num_outputs(self, dataset: str) -> int:
        self.check_dataset(dataset)
        return int(self.decoders[dataset].bbox_head.num_classes)

    def forward_shared(self, feats: Sequence[Tensor],
                       data_samples: list) -> Tuple[dict, dict]:
        """Neck + encoder. Returns (encoder outputs, decoder inputs)."""
        feats = [feats[i] for i in self.in_indices]
        if self.in_norms is not None:
            feats = [norm(f) for norm, f in zip(self.in_norms, feats)]
        img_feats = self.neck(tuple(feats))
        encoder_inputs, decoder_inputs = self.pre_transformer(
            img_feats, data_samples)
        encoder_outputs = self.forward_encoder(**encoder_inputs)
        return encoder_outputs, decoder_inputs

    def forward_dataset(self, encoder_outputs: dict, decoder_inputs: dict,
                        data_samples: list, dataset: str) -> dict:
        """``dataset``'s decoding part: the bbox head's input dict."""
        self.check_dataset(dataset)
        unit = self.decoders[dataset]
        decoder_inputs = dict(decoder_inputs)
        extra_decoder_inputs, head_inputs = self.pre_decoder(
            unit, encoder_outputs, data_samples)
        decoder_inputs.update(extra_decoder_inputs)
        head_inputs.update(unit.forward_decoder(**decoder_inputs))
        return head_inputs

    def forward(self, feats: Sequence[Tensor], data_samples: list,
                dataset: str) -> Tuple[Tensor, Tensor]:
        """Scores (num_layers, B, num_queries, num_classes) and normalised
        cxcywh boxes (num_layers, B, num_queries, 4) of every decoder layer
        of ``dataset``'s head."""
        encoder_outputs, decoder_inputs = self.forward_shared(
            feats, data_samples)
        head_inputs = self.forward_dataset(encoder_outputs, decoder_inputs,
                                           data_samples, dataset)
        return self.decoders[dataset].bbox_head(head_inputs['hidden_states'],
                                                head_inputs['references'])

    def pre_decoder(self, unit: nn.Module, encoder_outputs: dict,
                    data_samples: list) -> Tuple[dict, dict]:
        """``unit``'s DINO ``pre_decoder`` (two-stage proposals, queries,
        denoising queries in training)."""
        return unit.pre_decoder(
            **encoder_outputs, batch_data_samples=data_samples)

    def loss(self, feats: Sequence[Tensor], data_samples: list,
             dataset: str) -> Tuple[dict, dict]:
        """Return (DINO losses, consistency features {'memory',
        'hidden_states'})."""
        encoder_outputs, decoder_inputs = self.forward_shared(
            feats, data_samples)
        head_inputs = self.forward_dataset(encoder_outputs, decoder_inputs,
                                           data_samples, dataset)
        nonfinite = [
            key for key, value in head_inputs.items()
            if isinstance(value, Tensor) and value.is_floating_point()
            and not bool(torch.isfinite(value.detach()).all())
        ]
        if nonfinite:
            losses = self._nonfinite_losses(head_inputs, nonfinite,
                                            data_samples, dataset)
        else:
            losses = self.decoders[dataset].bbox_head.loss(
                **head_inputs, batch_data_samples=data_samples)
        hidden = head_inputs['hidden_states']
        dn_meta = head_inputs.get('dn_meta')
        if dn_meta is not None:
            # keep the matching queries only: denoising queries are built
            # from noised ground truth and the teacher has none
            hidden = hidden[:, :, dn_meta['num_denoising_queries']:]
        return losses, dict(
            memory=encoder_outputs['memory'], hidden_states=hidden)

    def _nonfinite_losses(self, head_inputs: dict, nonfinite: List[str],
                          data_samples: list, dataset: str) -> dict:
        """NaN losses, without the Hungarian matching, for decoder outputs
        that are not finite.

        scipy's matcher refuses a NaN cost matrix with a bare ValueError
        that names neither the iteration nor the batch. Instead the loss is
        NaN (still connected to the graph, so the gradients are NaN too)
        and :class:`~fx_mm.engine.hooks.NaNGuardHook` skips or stops the
        step with its usual report; the warning here names the iteration,
        the slot and the files for runs without the hook.
        """
        hub = MessageHub.get_current_instance()
        where = f'iteration {hub.get_info("iter", -1) + 1}'
        slot = published_slot_phase()
        if slot:
            where += (f' (cycle {slot["cycle"] + 1}, slot '
                      f'{slot["slot_index"] + 1}/{slot["num_slots"]} '
                      f'{slot["slot_name"]}, {slot["phase"]} phase)')
        files = [
            str(s.metainfo.get('img_path', '?')) for s in data_samples
            if hasattr(s, 'metainfo')
        ]
        print_log(
            f'MultiDatasetDINO: non-finite {", ".join(nonfinite)} of the '
            f'{dataset} decoder at {where}; Hungarian matching '
            'skipped and the loc loss set to NaN (NaNGuardHook skips or '
            f'stops the step); batch files: {", ".join(files) or "?"}',
            logger='current',
            level=logging.WARNING)
        # the head's predictions join the graph, so that the step touches
        # the parameters a normal one does (DDP's gradient bookkeeping)
        predictions = self.decoders[dataset].bbox_head(
            head_inputs['hidden_states'], head_inputs['references'])
        total = sum(t.sum() for t in predictions) + sum(head_inputs[key].sum()
                                                        for key in nonfinite)
        return dict(loss_nonfinite_loc=total * float('nan'))

    def predict(self,
                feats: Sequence[Tensor],
                data_samples: list,
                dataset: str,
                rescale: bool = True) -> list:
        """Set ``pred_instances`` (boxes in original image pixels when
        ``rescale``)."""
        encoder_outputs, decoder_inputs = self.forward_shared(
            feats, data_samples)
        head_inputs = self.forward_dataset(encoder_outputs, decoder_inputs,
                                           data_samples, dataset)
        results = self.decoders[dataset].bbox_head.predict(
            **head_inputs, rescale=rescale, batch_data_samples=data_samples)
        for sample, pred_instances in zip(data_samples, results):
            # the head clips boxes to img_shape, which includes the padding
            # of a letterbox pipeline: clip them to the image itself
            meta = sample.metainfo
            height, width = meta['ori_shape'][:2] if rescale and \
                'ori_shape' in meta else image_extent(meta)
            bboxes = pred_instances.bboxes
            bboxes[:, 0::2] = bboxes[:, 0::2].clamp(min=0, max=width)
            bboxes[:, 1::2] = bboxes[:, 1::2].clamp(min=0, max=height)
            sample.pred_instances = pred_instances
        samplelist_boxtype2tensor(data_samples)
        return data_samples

    def consistency_features(self, feats: Sequence[Tensor], data_samples,
                             dataset: str) -> dict:
        """Teacher-side features (eval mode: matching queries only)."""
        encoder_outputs, decoder_inputs = self.forward_shared(
            feats, data_samples)
        head_inputs = self.forward_dataset(encoder_outputs, decoder_inputs,
                                           data_samples, dataset)
        return dict(
            memory=encoder_outputs['memory'],
            hidden_states=head_inputs['hidden_states'])
