# Copyright (c) fx_mm contributors. All rights reserved.
"""DINO localization as the research Foundation X computes it.

The research model (IDEA-DINO with one decoder per dataset) differs from
mmdet's DINO, which :class:`MultiDatasetDINO` composes, in four ways that
change every output; :class:`ResearchDINO` represents each of them so that
the official weights reproduce the research outputs
(``docs/checkpoints.md``):

1. **Encoder-memory projection per dataset.** ``memory_proj``
   (research ``transformer.enc_outputMem_LinearProjection.{k}``) maps the
   shared encoder memory before the two-stage proposals; the projected
   memory is also what the dataset's decoder attends to.
2. **Refinement and output heads are different weights.** The decoder
   refines its reference boxes with ``bbox_head.refine_branches`` (research
   ``bbox_embed``), while the predicted classes and boxes come from
   ``bbox_head.cls_branches`` / ``reg_branches`` (research ``class_embed_`` /
   ``bbox_embed_``). Each is one module shared by the decoder layers
   (``dec_pred_*_embed_share``); the two-stage heads are separate.
   ``inverse_sigmoid`` uses eps 1e-3 everywhere.
3. **Shared query tables.** One content-query table (``query_embedding``,
   research ``tgt_embed``) and one denoising label table
   (``dn_query_generator``, research ``label_enc``) serve every decoder.
4. **Score columns.** Every decoder scores ``num_score_columns`` (research:
   14) columns and the two-stage top-k ranks queries by the maximum over
   all of them. A dataset's own classes are the first columns (the
   converter rotates the research's 1-based category columns to fx_mm's
   0-based labels); predictions are ranked over those columns only.

The input norms (research ``Locnorm1-3``) are :class:`MultiDatasetDINO`'s
``in_norms``; the input projections are its ``ChannelMapper`` neck with
biased convolutions.
"""
import copy
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmdet.models.dense_heads import DINOHead
from mmdet.models.detectors import DeformableDETR
from mmdet.models.layers import (CdnQueryGenerator, DinoTransformerDecoder,
                                 inverse_sigmoid)
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from fx_mm.registry import MODELS
from .builder import build_in_scope
from .loc_branch import (MultiDatasetDINO, two_stage_head_cfg,
                         xavier_init_transformer)


@MODELS.register_module()
class ResearchDINOHead(DINOHead):
    """DINOHead with the research's separate refinement heads.

    Args:
        num_dataset_classes (int): The dataset's classes: score columns
            ``0 .. num_dataset_classes - 1``. ``num_classes`` is the number
            of score columns (research: 14).
        share_layer_branches (bool): One class / box / refinement module
            for all decoder layers (research ``dec_pred_*_embed_share``).
            Defaults to True.
        inverse_sigmoid_eps (float): Research: 1e-3.
        **kwargs: :class:`DINOHead` arguments.
    """

    def __init__(self,
                 *args,
                 num_dataset_classes: int,
                 share_layer_branches: bool = True,
                 inverse_sigmoid_eps: float = 1e-3,
                 **kwargs) -> None:
        # read by _init_layers, which DETRHead.__init__ calls
        self.share_layer_branches = share_layer_branches
        super().__init__(*args, **kwargs)
        if not 0 < num_dataset_classes <= self.num_classes:
            raise ValueError(
                f'num_dataset_classes must be in 1..{self.num_classes} (the '
                f'score columns), got {num_dataset_classes}')
        self.num_dataset_classes = num_dataset_classes
        self.inverse_sigmoid_eps = inverse_sigmoid_eps

    def _init_layers(self) -> None:
        """``cls_branches`` / ``reg_branches``: one entry per decoder layer
        (the output heads) and a last one for the two-stage proposals;
        ``refine_branches``: one per decoder layer (box refinement)."""
        super()._init_layers()
        num_layers = self.num_pred_layer - 1
        refine = copy.deepcopy(self.reg_branches[0])
        if self.share_layer_branches:
            self.cls_branches = nn.ModuleList([self.cls_branches[0]] *
                                              num_layers +
                                              [self.cls_branches[-1]])
            self.reg_branches = nn.ModuleList([self.reg_branches[0]] *
                                              num_layers +
                                              [self.reg_branches[-1]])
            self.refine_branches = nn.ModuleList([refine] * num_layers)
        else:
            self.refine_branches = nn.ModuleList(
                copy.deepcopy(refine) for _ in range(num_layers))

    def init_weights(self) -> None:
        super().init_weights()
        for branch in self.refine_branches:
            nn.init.constant_(branch[-1].weight, 0.)
            nn.init.constant_(branch[-1].bias, 0.)

    def forward(self, hidden_states: Tensor,
                references: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """Scores and normalised cxcywh boxes of every decoder layer.

        Args:
            hidden_states (Tensor): (num_layers, B, num_queries, C), normed.
            references (list[Tensor]): num_layers + 1 reference boxes
                (B, num_queries, 4) in [0, 1]; layer ``l`` adds its offsets
                to ``references[l]``, its input.

        Returns:
            tuple[Tensor]: (num_layers, B, num_queries, num_classes) scores
            and (num_layers, B, num_queries, 4) boxes.
        """
        classes, coords = [], []
        for layer_id, hidden_state in enumerate(hidden_states):
            reference = inverse_sigmoid(
                references[layer_id], eps=self.inverse_sigmoid_eps)
            classes.append(self.cls_branches[layer_id](hidden_state))
            coords.append((self.reg_branches[layer_id](hidden_state) +
                           reference).sigmoid())
        return torch.stack(classes), torch.stack(coords)

    def _predict_by_feat_single(self,
                                cls_score: Tensor,
                                bbox_pred: Tensor,
                                img_meta: dict,
                                rescale: bool = True) -> InstanceData:
        """Top-k boxes over the dataset's own score columns.

        Args:
            cls_score (Tensor): (num_queries, num_classes) logits.
            bbox_pred (Tensor): (num_queries, 4) normalised cxcywh boxes.
        """
        scores = cls_score[:, :self.num_dataset_classes].sigmoid()
        max_per_img = min(
            self.test_cfg.get('max_per_img', len(cls_score)), scores.numel())
        scores, indexes = scores.flatten().topk(max_per_img)
        labels = indexes % self.num_dataset_classes
        bboxes = bbox_cxcywh_to_xyxy(bbox_pred[indexes //
                                               self.num_dataset_classes])
        height, width = img_meta['img_shape'][:2]
        bboxes[:, 0::2] = (bboxes[:, 0::2] * width).clamp(min=0, max=width)
        bboxes[:, 1::2] = (bboxes[:, 1::2] * height).clamp(min=0, max=height)
        if rescale:
            bboxes /= bboxes.new_tensor(img_meta['scale_factor']).repeat(
                (1, 2))
        return InstanceData(bboxes=bboxes, scores=scores, labels=labels)


class ResearchDINODatasetDecoder(BaseModule):
    """The per-dataset half of the research DINO: encoder-memory
    projection, two-stage proposal layers, decoder and heads.

    Args:
        num_classes (int): Box classes of the dataset.
        decoder (dict): ``DinoTransformerDecoder`` config.
        bbox_head (dict): :class:`ResearchDINOHead` arguments (its losses
            ...) with ``num_score_columns`` (research: 14); any ``type`` is
            replaced by ResearchDINOHead.
        dn_cfg (dict): Unused: the denoising generator is shared (kept for
            the signature of :class:`MultiDatasetDINO`'s units).
        num_queries (int): Matching queries.
        embed_dims (int): Transformer width.
    """

    gen_encoder_output_proposals = DeformableDETR.gen_encoder_output_proposals

    def __init__(self, num_classes: int, decoder: dict, bbox_head: dict,
                 dn_cfg: dict, num_queries: int, embed_dims: int,
                 train_cfg: dict, test_cfg: dict) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.embed_dims = embed_dims
        bbox_head = dict(bbox_head)
        num_score_columns = bbox_head.pop('num_score_columns')
        self.bbox_head = build_in_scope(
            two_stage_head_cfg(
                bbox_head,
                decoder,
                embed_dims,
                train_cfg,
                test_cfg,
                num_classes=num_score_columns,
                num_dataset_classes=num_classes,
                # the class itself: built in mmdet's scope, so that its
                # losses and assigner resolve there
                type=ResearchDINOHead), 'mmdet')
        self.decoder = DinoTransformerDecoder(**decoder)
        self.memory_proj = nn.Linear(embed_dims, embed_dims)
        self.memory_trans_fc = nn.Linear(embed_dims, embed_dims)
        self.memory_trans_norm = nn.LayerNorm(embed_dims)

    def init_weights(self) -> None:
        if not self.is_init:
            xavier_init_transformer(self.decoder)
            nn.init.xavier_uniform_(self.memory_trans_fc.weight)
            nn.init.xavier_uniform_(self.memory_proj.weight)
            nn.init.zeros_(self.memory_proj.bias)
        super().init_weights()

    def pre_decoder(
            self, memory: Tensor, memory_mask: Tensor, spatial_shapes: Tensor,
            batch_data_samples: list, query_embedding: nn.Embedding,
            dn_query_generator: CdnQueryGenerator) -> Tuple[dict, dict]:
        """Two-stage proposals and queries from the projected memory.

        mmdet's ``DINO.pre_decoder`` with the research's memory projection
        first and the shared query tables.

        Args:
            memory (Tensor): Encoder output (B, num_tokens, C).
            memory_mask (Tensor | None): (B, num_tokens), True at padding.
            spatial_shapes (Tensor): (num_levels, 2).
            query_embedding (nn.Embedding): Shared content queries.
            dn_query_generator (CdnQueryGenerator): Shared denoising
                queries (training only).

        Returns:
            tuple[dict]: decoder inputs (``query``, ``memory``: the
            projected memory, ``reference_points``, ``dn_mask``) and head
            inputs (training: top-k proposal scores and boxes, ``dn_meta``).
        """
        memory = self.memory_proj(memory)
        batch_size = memory.shape[0]
        enc_cls = self.bbox_head.cls_branches[self.decoder.num_layers]
        enc_reg = self.bbox_head.reg_branches[self.decoder.num_layers]
        output_memory, output_proposals = self.gen_encoder_output_proposals(
            memory, memory_mask, spatial_shapes)
        enc_outputs_class = enc_cls(output_memory)
        enc_outputs_coord_unact = enc_reg(output_memory) + output_proposals
        # the research ranks proposals by their best score over all columns
        topk_indices = torch.topk(
            enc_outputs_class.max(-1)[0], k=self.num_queries, dim=1)[1]
        topk_score = torch.gather(
            enc_outputs_class, 1,
            topk_indices.unsqueeze(-1).repeat(1, 1, enc_cls.out_features))
        topk_coords_unact = torch.gather(
            enc_outputs_coord_unact, 1,
            topk_indices.unsqueeze(-1).repeat(1, 1, 4))
        topk_coords = topk_coords_unact.sigmoid()
        topk_coords_unact = topk_coords_unact.detach()

        query = query_embedding.weight[None].repeat(batch_size, 1, 1)
        if self.training:
            dn_label_query, dn_bbox_query, dn_mask, dn_meta = \
                dn_query_generator(batch_data_samples)
            query = torch.cat([dn_label_query, query], dim=1)
            reference_points = torch.cat([dn_bbox_query, topk_coords_unact],
                                         dim=1)
        else:
            reference_points = topk_coords_unact
            dn_mask, dn_meta = None, None
        decoder_inputs = dict(
            query=query,
            memory=memory,
            reference_points=reference_points.sigmoid(),
            dn_mask=dn_mask)
        head_inputs = dict(
            enc_outputs_class=topk_score,
            enc_outputs_coord=topk_coords,
            dn_meta=dn_meta) if self.training else dict()
        return decoder_inputs, head_inputs

    def forward_decoder(self,
                        query: Tensor,
                        memory: Tensor,
                        memory_mask: Tensor,
                        reference_points: Tensor,
                        spatial_shapes: Tensor,
                        level_start_index: Tensor,
                        valid_ratios: Tensor,
                        dn_mask: Tensor = None,
                        **kwargs) -> Dict[str, Tensor]:
        """The decoder, refining boxes with ``refine_branches``."""
        hidden_states, references = self.decoder(
            query=query,
            value=memory,
            key_padding_mask=memory_mask,
            self_attn_mask=dn_mask,
            reference_points=reference_points,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            reg_branches=self.bbox_head.refine_branches,
            **kwargs)
        return dict(hidden_states=hidden_states, references=list(references))


@MODELS.register_module()
class ResearchDINO(MultiDatasetDINO):
    """The research Foundation X localization branch (see the module
    docstring for what differs from :class:`MultiDatasetDINO`).

    Args:
        label_book_size (int): Rows of the shared denoising label table
            (research ``dn_labelbook_size + 1`` = 16).
        **kwargs: :class:`MultiDatasetDINO` arguments; ``bbox_head`` needs
            ``num_score_columns``.
    """

    decoder_unit = ResearchDINODatasetDecoder

    def __init__(self, label_book_size: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.query_embedding = nn.Embedding(self.num_queries, self.embed_dims)
        dn_cfg = dict(
            kwargs['dn_cfg'],
            num_classes=label_book_size,
            embed_dims=self.embed_dims,
            num_matching_queries=self.num_queries)
        self.dn_query_generator = CdnQueryGenerator(**dn_cfg)

    def init_weights(self) -> None:
        if not self.is_init:
            nn.init.xavier_uniform_(self.query_embedding.weight)
        super().init_weights()

    def num_outputs(self, dataset: str) -> int:
        self.check_dataset(dataset)
        return self.decoders[dataset].bbox_head.num_dataset_classes

    def pre_decoder(self, unit: nn.Module, encoder_outputs: dict,
                    data_samples: list) -> Tuple[dict, dict]:
        return unit.pre_decoder(
            **encoder_outputs,
            batch_data_samples=data_samples,
            query_embedding=self.query_embedding,
            dn_query_generator=self.dn_query_generator)
