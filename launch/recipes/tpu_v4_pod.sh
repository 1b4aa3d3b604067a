#!/usr/bin/env bash
# Train on a Cloud TPU v4 pod slice: create the TPU VM slice, copy this checkout to every worker,
# build the environment there, and run the same `python -m launch.train` on all workers at once
# (JAX finds the other hosts of the slice itself; every worker runs the identical command).
#
#   launch/recipes/tpu_v4_pod.sh NAME ZONE ACCELERATOR_TYPE MODEL_DIR -- <launch.train flags>
#   launch/recipes/tpu_v4_pod.sh palm-v4 us-central2-b v4-32 /mnt/shared/runs/palm_1b -- \
#       --gin_file=gin/runs/pretrain.gin --gin_file=gin/models/palm_1b.gin \
#       --gin_file=gin/partitioning/palm_fully_sharded.gin \
#       --gin.MIXTURE_OR_TASK_NAME="'palm_demo'" --gin.MIXTURE_OR_TASK_MODULE="'tasks.from_env'" \
#       --gin.TASK_FEATURE_LENGTHS="{'targets': 2048}" --gin.TRAIN_STEPS=100000 \
#       --gin.BATCH_SIZE=256 --gin.partitioning.PjitPartitioner.num_partitions=4
#
# MODEL_DIR must be a directory every worker sees (Filestore/NFS or a gcsfuse mount): all hosts
# write their shards of each checkpoint into it, and process 0 writes metrics.jsonl there.
# Set TPU_VERSION to override the TPU VM image; KEEP=1 keeps the slice after the run.
set -euo pipefail
NAME=$1 ZONE=$2 TYPE=$3 MODEL_DIR=$4
shift 4
[[ ${1:-} == "--" ]] && shift
VERSION=${TPU_VERSION:-tpu-ubuntu2204-base}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

gcloud compute tpus tpu-vm create "$NAME" --zone "$ZONE" --accelerator-type "$TYPE" \
    --version "$VERSION"
tar -C "$ROOT" -czf /tmp/palm-pipeline.tgz --exclude=.venv --exclude=demo_out \
    --exclude=benchmarks/work --exclude=.git .
gcloud compute tpus tpu-vm scp /tmp/palm-pipeline.tgz "$NAME": --zone "$ZONE" --worker=all
# The pinned environment, plus JAX's TPU runtime (libtpu) for the same jax version.
gcloud compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=all --command "
    set -e; mkdir -p palm && tar -xzf palm-pipeline.tgz -C palm && cd palm &&
    sudo apt-get install -y python3.11-venv >/dev/null && make venv PYTHON=python3.11 &&
    .venv/bin/pip install --quiet 'jax[tpu]==$(grep '^jax==' "$ROOT/requirements.txt" | cut -d= -f3)' \
        -f https://storage.googleapis.com/jax-releases/libtpu_releases.html"
ARGS=$(printf '%q ' "$@")
gcloud compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=all --command "
    cd palm && .venv/bin/python -m launch.train --gin.MODEL_DIR=\"'$MODEL_DIR'\" $ARGS"
[[ ${KEEP:-0} == 1 ]] || gcloud compute tpus tpu-vm delete "$NAME" --zone "$ZONE" --quiet
