#!/usr/bin/env bash
# The figures BENCHMARKS.md still lacks for an accelerator (GPU or TPU), as JSON lines.
#
#   bash launch/accelerator_bench.sh [OUT.jsonl]     # default: bench_<hostname>.jsonl
#
# Run from the repository root in the project's environment, on a machine with the
# accelerator; every line carries the device kind. About 10 minutes on one GPU.
set -euo pipefail
out=${1:-bench_$(hostname).jsonl}
bench() { python -m inrv_jax.bench.speed "$@" | grep '^{' | tee -a "$out"; }
# The paper step (f32), rendering, render memory and FVD features.
bench --measure=matmul,train,render,render_memory,fvd
# The paper step with the INR's matmuls in bf16.
bench --config=configs/faces.py --config.model.compute_dtype=bfloat16 --measure=train
# 32 inversions in one vmapped call against 32 calls of one.
bench --config=configs/quickstart.py --measure=matmul,inversion --inversion_videos=32 \
  --inversion_steps=50
echo "results in $out"
