# Copyright (c) fx_mm contributors. All rights reserved.
"""fx_mm's registries: children of mmengine's roots, scope ``fx_mm``.

With ``default_scope = 'fx_mm'`` a config builds fx_mm's modules by name and
reaches OpenMMLab's by prefix (``type='mmdet.DINOHead'``,
``type='mmseg.UPerHead'``, ``type='mmpretrain.LinearClsHead'``).
``locations`` lets a registry import the sub-package that registers a module
the first time it is asked to build one.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope='fx_mm')
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, scope='fx_mm')
LOOPS = Registry(
    'loop', parent=MMENGINE_LOOPS, locations=['fx_mm.engine'], scope='fx_mm')
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, locations=['fx_mm.engine'], scope='fx_mm')

DATASETS = Registry(
    'dataset',
    parent=MMENGINE_DATASETS,
    locations=['fx_mm.datasets'],
    scope='fx_mm')
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMENGINE_DATA_SAMPLERS,
    locations=['fx_mm.datasets'],
    scope='fx_mm')
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    locations=['fx_mm.datasets.transforms'],
    scope='fx_mm')

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, locations=['fx_mm.models'],
    scope='fx_mm')
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMENGINE_MODEL_WRAPPERS,
    locations=['fx_mm.models'],
    scope='fx_mm')
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_WEIGHT_INITIALIZERS,
    locations=['fx_mm.models'],
    scope='fx_mm')

OPTIMIZERS = Registry(
    'optimizer',
    parent=MMENGINE_OPTIMIZERS,
    locations=['fx_mm.engine.optimizers'],
    scope='fx_mm')
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    locations=['fx_mm.engine.optimizers'],
    scope='fx_mm')
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['fx_mm.engine.optimizers'],
    scope='fx_mm')
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    locations=['fx_mm.engine.optimizers'],
    scope='fx_mm')

METRICS = Registry(
    'metric',
    parent=MMENGINE_METRICS,
    locations=['fx_mm.evaluation'],
    scope='fx_mm')
EVALUATOR = Registry(
    'evaluator',
    parent=MMENGINE_EVALUATOR,
    locations=['fx_mm.evaluation'],
    scope='fx_mm')

TASK_UTILS = Registry(
    'task util',
    parent=MMENGINE_TASK_UTILS,
    locations=['fx_mm.models'],
    scope='fx_mm')

VISUALIZERS = Registry(
    'visualizer',
    parent=MMENGINE_VISUALIZERS,
    locations=['fx_mm.visualization'],
    scope='fx_mm')
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMENGINE_VISBACKENDS,
    locations=['fx_mm.visualization'],
    scope='fx_mm')

LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMENGINE_LOG_PROCESSORS,
    locations=['fx_mm.engine'],
    scope='fx_mm')
INFERENCERS = Registry(
    'inferencer',
    parent=MMENGINE_INFERENCERS,
    locations=['fx_mm.apis'],
    scope='fx_mm')
FUNCTIONS = Registry(
    'function',
    parent=MMENGINE_FUNCTIONS,
    locations=['fx_mm.datasets'],
    scope='fx_mm')
