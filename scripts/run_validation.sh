#!/bin/bash
# Runs the validation grid (scripts/validation_grid.py) with --json for our LL kernels, our HT
# kernels and the NCCL backend on this node's GPUs, writing
# $OUTDIR/validation_{ll,ht,nccl}_<gpu>x<N>.jsonl. Usage:
#   EPSCOPE=build/src/cli/epscope OUTDIR=docs/data scripts/run_validation.sh [N_GPUS]
set -euo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
here=$(cd "$(dirname "$0")" && pwd)
EPSCOPE=${EPSCOPE:-build/src/cli/epscope}
OUTDIR=${OUTDIR:-docs/data}
ITERS=${ITERS:-20}
N=${1:-$(nvidia-smi -L | wc -l)}
NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$NAME" in *H200*) GPU=h200; PRESET=h200-cx7 ;; *H100*) GPU=h100; PRESET=h100-cx7 ;; *) GPU=gpu; PRESET=h100-cx7 ;; esac
mkdir -p "$OUTDIR"
tmp=$(mktemp -d)
python3 "$here/validation_grid.py" --ranks "$N" --max-tokens 1024 > "$tmp/grid_ll.txt"
python3 "$here/validation_grid.py" --ranks "$N" --max-tokens 4096 > "$tmp/grid_ht.txt"
common=(--preset "$PRESET" --nodes 1 --gpus-per-node "$N" --routing uniform -w 3 -n "$ITERS")
"$EPSCOPE" bench "${common[@]}" --mode ll --max-tokens-per-rank 1024 --cases "$tmp/grid_ll.txt" \
  --json "$OUTDIR/validation_ll_${GPU}x${N}.jsonl" > "$OUTDIR/validation_ll_${GPU}x${N}.log"
"$EPSCOPE" bench "${common[@]}" --mode ht --max-tokens-per-rank 4096 --num-sms 32 \
  --cases "$tmp/grid_ht.txt" --json "$OUTDIR/validation_ht_${GPU}x${N}.jsonl" \
  > "$OUTDIR/validation_ht_${GPU}x${N}.log"
"$EPSCOPE" bench "${common[@]}" --backend nccl --mode ll --max-tokens-per-rank 1024 \
  --cases "$tmp/grid_ll.txt" --json "$OUTDIR/validation_nccl_${GPU}x${N}.jsonl" \
  > "$OUTDIR/validation_nccl_${GPU}x${N}.log"
rm -rf "$tmp"
wc -l "$OUTDIR"/validation_*_"${GPU}x${N}".jsonl
