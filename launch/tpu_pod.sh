#!/usr/bin/env bash
# Train on a Cloud TPU VM pod slice: the same command on every worker.
#   launch/tpu_pod.sh TPU_NAME ZONE CONFIG WORKDIR [extra flags...]
# e.g. launch/tpu_pod.sh my-v4-32 us-central2-b configs/faces.py gs-mounted/runs/faces
set -euo pipefail
tpu=$1 zone=$2 config=$3 workdir=$4
shift 4
# Quoted for the workers' shell, so flags with spaces or quotes arrive intact.
flags=$(printf ' %q' --config="$config" --workdir="$workdir" "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command "
  cd ~/inrv_jax && pip install -q -e '.[tpu]' &&
  python -m inrv_jax.main --distributed$flags"
