#!/usr/bin/env bash
# Distributed testing on one or more nodes with torchrun.
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
#
# GPUS is the number of processes on this node (on a CPU-only machine: CPU
# processes; the config then needs env_cfg.dist_cfg.backend='gloo').
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR
# (127.0.0.1), FX_PYTHON (interpreter, default: python on PATH).

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${FX_PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/test.py" \
    $CONFIG \
    $CHECKPOINT \
    --launcher pytorch \
    ${@:4}
