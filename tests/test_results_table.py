# Copyright (c) fx_mm contributors. All rights reserved.
import csv
import json
import math

from fx_mm.evaluation.results_table import (dump_results_table,
                                            format_markdown, nan_to_null,
                                            results_rows)

METRICS = {
    'teacher/jsrt/cls/AUC': 81.25,
    'teacher/jsrt/cls/AUC_nodule': 81.25,
    'teacher/jsrt/seg/Dice': 95.5,
    'teacher/jsrt/seg/IoU': 91.0,
    'teacher/node21/loc/mAP40': 12.0,
    'teacher/node21/loc/mAP50': 10.0,
    'student/jsrt/cls/AUC': float('nan'),
    'student/jsrt/seg/Dice': 94.0,
}


def test_rows_pick_headline_metrics_per_network_and_dataset():
    rows = results_rows(METRICS)
    assert [(r['network'], r['dataset']) for r in rows] == [
        ('teacher', 'jsrt'), ('teacher', 'node21'), ('student', 'jsrt')
    ]
    teacher_jsrt, teacher_node21, student_jsrt = rows
    assert teacher_jsrt['cls AUC'] == 81.25
    assert teacher_jsrt['seg Dice'] == 95.5
    assert teacher_jsrt['loc mAP40'] is None  # jsrt has no loc metric here
    assert teacher_node21['loc mAP40'] == 12.0
    assert math.isnan(student_jsrt['cls AUC'])


def test_keys_without_network_make_rows_without_network():
    """A plain mmengine loop logs ``jsrt/seg/Dice`` (no network)."""
    plain = results_rows({'jsrt/seg/Dice': 90.0})
    assert plain[0]['network'] == '' and plain[0]['seg Dice'] == 90.0
    assert format_markdown(plain).splitlines()[2] == \
        '| jsrt | n/a | n/a | 90.00 |'


def test_markdown_json_csv(tmp_path):
    paths = dump_results_table(METRICS, str(tmp_path))
    md = open(paths['md']).read().splitlines()
    assert md[0] == '| network | dataset | cls AUC | loc mAP40 | seg Dice |'
    # no number (an undefined AUC, a task not evaluated): one spelling
    # per format, the same for both reasons
    assert md[2] == '| teacher | jsrt | 81.25 | n/a | 95.50 |'
    assert md[4] == '| student | jsrt | n/a | n/a | 94.00 |'
    data = json.load(open(paths['json']))
    assert data['table'][2]['cls AUC'] is None  # NaN -> null in JSON
    assert data['table'][2]['loc mAP40'] is None
    assert data['metrics']['student/jsrt/cls/AUC'] is None
    assert data['metrics']['teacher/node21/loc/mAP50'] == 10.0
    rows = list(csv.DictReader(open(paths['csv'])))
    assert rows[1] == {
        'network': 'teacher',
        'dataset': 'node21',
        'cls AUC': 'n/a',
        'loc mAP40': '12.0',
        'seg Dice': 'n/a'
    }
    assert rows[2]['cls AUC'] == 'n/a'  # NaN, not 'nan'
    assert format_markdown(results_rows({})).count('\n') == 1


def test_nan_to_null_reaches_nested_values():
    nan = float('nan')
    row = dict(
        task='seg',
        seeds=3,
        multi=dict(mean=nan, sd=nan, values=[80.0, nan, None]),
        names=('a', nan))
    assert nan_to_null(row) == dict(
        task='seg',
        seeds=3,
        multi=dict(mean=None, sd=None, values=[80.0, None, None]),
        names=('a', None))
    json.dumps(nan_to_null(row), allow_nan=False)
