#!/usr/bin/env bash
# Train on a SLURM cluster: one task per node, each task driving all GPUs of its node.
#   sbatch --nodes=2 --gpus-per-node=8 launch/slurm_gpus.sh CONFIG WORKDIR [extra flags...]
#SBATCH --ntasks-per-node=1
#SBATCH --job-name=inrv_jax
set -euo pipefail
config=$1 workdir=$2
shift 2
srun python -m inrv_jax.main --distributed --config="$config" --workdir="$workdir" "$@"
