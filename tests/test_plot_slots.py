# Copyright (c) fx_mm contributors. All rights reserved.
"""The learning-curve figure of tools/analysis_tools/plot_slots.py: whole
cycle ticks, a 0-100 y axis by default, text large enough to read."""
import os.path as osp
import sys

import matplotlib
import pytest

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(
    0,
    osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
        'analysis_tools'))
import plot_slots  # noqa: E402

#: smallest readable text in a saved picture, in pixels
MIN_TEXT_PX = 12

# validation after each of 3 slots (6 iterations a cycle) for two cycles,
# values within 0.03 points of each other
STEPS = [2, 4, 6, 8, 10, 12]
PANELS = {
    ('jsrt', 'cls'): {
        'teacher': ([6], [70.0])
    },
    ('jsrt', 'seg'): {
        'student': (STEPS, [91.01, 91.02, 91.03, 91.02, 91.01, 91.03]),
        'teacher': (STEPS, [91.00, 91.01, 91.02, 91.03, 91.02, 91.01]),
    },
}
METRICS = dict(seg='Dice', cls='AUC')


@pytest.fixture
def figure():
    fig = plot_slots.draw_panels(PANELS, METRICS, 6, 'run')
    yield fig
    plt.close(fig)


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_cycle_ticks_are_whole_numbers(figure):
    # seg validated in cycles 1 and 2, cls at the end of cycle 1
    for ax, cycles in zip(figure.axes, (1, 2)):
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert all(float(t).is_integer() for t in ticks), ticks
        # from the start of training to the last cycle reached
        assert ticks[0] == 0 and ticks[-1] == cycles


def test_y_axis_spans_0_to_100_unless_asked(figure):
    for ax in visible_axes(figure):
        assert ax.get_ylim() == (0, 100)
    fig = plot_slots.draw_panels(PANELS, METRICS, 6, 'run', ylim=None)
    try:
        low, high = fig.axes[1].get_ylim()  # the seg panel, autoscaled
        assert high - low < 1
    finally:
        plt.close(fig)
    args = plot_slots.parse_args(['work', '--ylim', '50', '90'])
    assert args.ylim == [50, 90] and not args.autoscale_y


def test_text_is_readable_at_the_saved_size(figure):
    figure.canvas.draw()
    sizes = [
        text.get_fontsize() * plot_slots.SAVE_DPI / 72
        for text in figure.findobj(matplotlib.text.Text)
        if text.get_visible() and text.get_text()
    ]
    assert sizes and min(sizes) >= MIN_TEXT_PX, min(sizes)
