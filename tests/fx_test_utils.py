# Copyright (c) fx_mm contributors. All rights reserved.
"""Small real configs for the tests (built from the shipped configs)."""
import importlib.util
import os.path as osp
import socket
import subprocess
import sys

from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'foundation_x',
                       'fx_swin-t_synthetic_demo.py')
# the same demo on the research-compatible architecture
RESEARCH_DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'foundation_x',
                                'fx_swin-t_synthetic_demo_research.py')


def tiny_demo_config(work_dir: str,
                     num_images: int = 24,
                     image_size: int = 128,
                     max_cycles: int = 1,
                     batch_size: int = 4,
                     data_root: str = None,
                     config: str = DEMO_CONFIG) -> Config:
    """The demo config (or ``config``, a variant of it) shrunk for CPU
    tests: few phantoms, 128 px."""
    cfg = Config.fromfile(config)
    data_root = data_root or osp.join(work_dir, 'synthetic_cxr')
    for slots in (cfg.train_cfg.slots, cfg.val_cfg.slots,
                  cfg.test_cfg.slots):
        for slot in slots:
            slot.dataset.num_images = num_images
            slot.dataset.data_root = data_root
            slot.dataset.split_ratios = (0.5, 0.25, 0.25)
            for transform in slot.dataset.pipeline:
                if transform.type == 'mmdet.Resize':
                    transform.scale = (image_size, image_size)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.batch_size = batch_size
    cfg.train_cfg.max_cycles = max_cycles
    cfg.model.loc_branch.num_queries = 20
    cfg.model.loc_branch.test_cfg.max_per_img = 20
    cfg.work_dir = work_dir
    cfg.default_hooks.logger.interval = 1
    return cfg


def load_tool(relative_path: str, module_name: str = None):
    """Import a script (``tools/...``, ``demo/...``: not package modules)
    by its path relative to the repository root."""
    path = osp.join(REPO_ROOT, relative_path)
    name = module_name or 'fx_' + osp.splitext(relative_path)[0].replace(
        '/', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_two_slot_config(work_dir: str):
    """phantom_a cls + seg, 8 images (4 train: lock 1 + release 2
    iterations per slot at batch 2, so 6 iterations a cycle)."""
    cfg = tiny_demo_config(
        work_dir, num_images=8, image_size=64, max_cycles=1, batch_size=2)

    def keep(slot):
        return slot.dataset.variant == 'phantom_a' and \
            slot.dataset.task in ('cls', 'seg')

    for loop in (cfg.train_cfg, cfg.val_cfg, cfg.test_cfg):
        loop.slots = [s for s in loop.slots if keep(s)]
    cfg.val_evaluator = [
        m for m in cfg.val_evaluator
        if m.dataset_name == 'phantom_a' and m.type != 'DetectionMAP'
    ]
    cfg.test_evaluator = cfg.val_evaluator
    # validate each slot right after training it, and all at cycle ends
    cfg.train_cfg.val_interval = 1
    cfg.train_cfg.val_scope = 'slots'
    cfg.train_cfg.val_at_cycle_end = True
    return cfg


def train_then_resume(work_dir: str) -> dict:
    """:func:`tiny_two_slot_config` trained for cycle 1, then resumed with
    ``--resume`` into cycle 2 (two timestamp dirs in ``work_dir``).

    Returns:
        dict: ``work_dir``, ``first_iter`` (the iteration of the first run's
        last checkpoint) and ``resume_log`` (the second run's output).
    """
    from fx_mm.utils import load_fx_checkpoint
    config = write_config(
        tiny_two_slot_config(work_dir), osp.join(work_dir, 'tiny.py'))
    run_train(config, timeout=600)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        first_iter = load_fx_checkpoint(f.read().strip())['meta']['iter']
    resume_log = run_train(
        config,
        '--resume',
        '--cfg-options',
        'train_cfg.max_cycles=2',
        timeout=600)
    return dict(
        work_dir=work_dir, first_iter=first_iter, resume_log=resume_log)


def write_config(cfg: Config, path: str) -> str:
    cfg.dump(path)
    return path


def set_hook(cfg: Config, hook_type: str, **kwargs) -> None:
    """Configure the custom hook ``hook_type``: replace the runtime's
    entry of that type (hooks must not run twice) or append one."""
    hook = dict(type=hook_type, **kwargs)
    for k, existing in enumerate(cfg.custom_hooks):
        if existing['type'] == hook_type:
            cfg.custom_hooks[k] = hook
            return
    cfg.custom_hooks.append(hook)


def run_train(config: str, *args: str, timeout: int = 1200) -> str:
    """Run ``tools/train.py CONFIG ARGS`` in a subprocess; assert success
    and return its output (stdout + stderr)."""
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    return output


def free_port() -> int:
    """A free TCP port on localhost (for torch.distributed rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


#: top-level helper variables of the shipped configs, used while the config
#: is parsed and not read afterwards
CONFIG_VARIABLES = ('train_slots', 'val_slots', 'test_slots', 'class_names',
                    'variants', 'tasks', 'metric_types', 'head_sizes',
                    'resize', 'train_pipeline', 'test_pipeline',
                    'swin_channels', 'num_queries', 'embed_dims',
                    'synthetic_root', 'synthetic_num_images', 'image_size',
                    'warmup_cycles', 'max_cycles')


def drop_config_variables(cfg: Config) -> Config:
    """Remove :data:`CONFIG_VARIABLES` from ``cfg``: mmengine formats the
    whole config (yapf) three times per Runner, which dominates a short
    test run's start."""
    for key in CONFIG_VARIABLES:
        cfg.pop(key, None)
    return cfg
