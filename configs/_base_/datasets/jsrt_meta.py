# What every JSRT config shares: the data root and the SCR organ classes.
# The three JSRT config families take them from here: the multi-task
# dataset config (./jsrt.py), the continued pretraining with a JSRT slot
# (configs/foundation_x/fx_swin-b_cxr15-jsrt_research_continued.py) and the
# JSRT finetuning (configs/finetune/fx_swin-b_jsrt-organ_finetune.py). It
# holds nothing else, so that a config can inherit it beside another
# dataset or pipeline base.
#
# Root: edit it or set FX_JSRT_ROOT (mmengine replaces `{{$VAR:default}}`
# when it loads the config); in the fx_mm development checkout the data lie
# in ../shared/data/jsrt.
jsrt_root = '{{$FX_JSRT_ROOT:data/jsrt}}'

# heart, lungs (patient's left / right) and clavicles, one mask channel
# each: JSRTDataset's METAINFO['seg_classes'] (tests/test_configs.py checks
# the two agree)
jsrt_seg_classes = ('heart', 'left_lung', 'right_lung', 'left_clavicle',
                    'right_clavicle')
