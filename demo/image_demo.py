# Copyright (c) fx_mm contributors. All rights reserved.
"""Run a Foundation X checkpoint on radiographs.

Writes ``<out-dir>/preds/<name>.json`` (class scores by name, boxes in
pixels of the original image, masks as COCO RLE) and
``<out-dir>/vis/<name>.png`` (an overlay: one tile per head).

Examples::

    python demo/image_demo.py cxr.png configs/<name>.py --weights iter_8.pth
    python demo/image_demo.py dicoms/ configs/<name>.py --weights ckpt.pth \
        --tasks seg --datasets jsrt --model-key student --out-dir outputs
"""
import argparse
import warnings
from typing import List, Optional

from fx_mm.apis import FXInferencer


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Foundation X inference on chest radiographs')
    parser.add_argument(
        'inputs', help='an image (PNG, JPEG, DICOM ...) or a folder')
    parser.add_argument('config', help='the config of the checkpoint')
    parser.add_argument(
        '--weights', help='checkpoint file (random weights when omitted)')
    parser.add_argument(
        '--tasks',
        nargs='+',
        choices=['cls', 'loc', 'seg'],
        help='tasks to run (default: every task of the model)')
    parser.add_argument(
        '--datasets', nargs='+', help='heads to run (default: all)')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument(
        '--model-key',
        choices=['teacher', 'student'],
        help='network that predicts (default: the teacher when the '
        'checkpoint has one)')
    parser.add_argument(
        '--pred-score-thr',
        type=float,
        default=0.3,
        help='box score threshold (default 0.3)')
    parser.add_argument(
        '--score-thr',
        type=float,
        help='deprecated name of --pred-score-thr')
    parser.add_argument(
        '--device', default=None, help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='images per forward')
    parser.add_argument(
        '--show', action='store_true', help='display the overlays')
    parser.add_argument(
        '--no-save-vis', action='store_true', help='do not write vis/')
    parser.add_argument(
        '--no-save-pred', action='store_true', help='do not write preds/')
    parser.add_argument(
        '--print-result', action='store_true', help='print the predictions')
    parser.add_argument(
        '--no-draw-pred',
        action='store_true',
        help='write the bare images to vis/ (mmdet: draw_pred=False)')
    args = parser.parse_args(argv)
    if args.score_thr is not None:
        warnings.warn('image_demo.py: --score-thr is deprecated, use '
                      '--pred-score-thr', DeprecationWarning)
        args.pred_score_thr = args.score_thr
    return args


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    inferencer = FXInferencer(
        args.config,
        weights=args.weights,
        device=args.device,
        model_key=args.model_key)
    results = inferencer(
        args.inputs,
        tasks=args.tasks,
        datasets=args.datasets,
        batch_size=args.batch_size,
        pred_score_thr=args.pred_score_thr,
        draw_pred=not args.no_draw_pred,
        out_dir=args.out_dir,
        no_save_vis=args.no_save_vis,
        no_save_pred=args.no_save_pred,
        show=args.show,
        print_result=args.print_result)
    print(f'{len(results["predictions"])} image(s) through the '
          f'{inferencer.model_key} network')
    if args.out_dir and not (args.no_save_pred and args.no_save_vis):
        print(f'results written to {args.out_dir}')
    return results


if __name__ == '__main__':
    main()
