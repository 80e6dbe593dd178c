# Copyright (c) fx_mm contributors. All rights reserved.
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register fx_mm's modules (and OpenMMLab's, for prefixed types).

    Importing the sub-packages runs their ``@register_module`` decorators.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'fx_mm'`` so that registries look up fx_mm's modules first.
            Defaults to True.
    """
    import fx_mm.datasets  # noqa: F401,F811
    import fx_mm.engine  # noqa: F401,F811
    import fx_mm.evaluation  # noqa: F401,F811
    import fx_mm.models  # noqa: F401,F811
    import fx_mm.visualization  # noqa: F401,F811

    if not init_default_scope:
        return
    never_created = DefaultScope.get_current_instance() is None \
        or not DefaultScope.check_instance_created('fx_mm')
    if never_created:
        DefaultScope.get_instance('fx_mm', scope_name='fx_mm')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'fx_mm':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "fx_mm", '
                      '`register_all_modules` will force the current'
                      ' default scope to be "fx_mm". If this is not '
                      'expected, please set `init_default_scope=False`.')
        # avoid name conflict
        new_instance_name = f'fx_mm-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='fx_mm')
