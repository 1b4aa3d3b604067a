#!/usr/bin/env bash
# Multi-node GPU training without a scheduler: run this on every node with its index.
#
#   NODE 0:  launch/recipes/gpu_multinode.sh 10.0.0.1:1234 2 0 /shared/runs/x -- <train flags>
#   NODE 1:  launch/recipes/gpu_multinode.sh 10.0.0.1:1234 2 1 /shared/runs/x -- <train flags>
#
# Each process drives all GPUs of its node; the coordinator is node 0 (any free port).
set -euo pipefail
COORDINATOR=$1 COUNT=$2 INDEX=$3 MODEL_DIR=$4
shift 4
[[ ${1:-} == "--" ]] && shift
exec .venv/bin/python -m launch.train --coordinator_address="$COORDINATOR" \
    --process_count="$COUNT" --process_index="$INDEX" --gin.MODEL_DIR="'$MODEL_DIR'" "$@"
