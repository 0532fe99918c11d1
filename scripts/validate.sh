#!/bin/bash
# The validation study of docs/validation.md: for every docs/data/validation_*.jsonl, fit the model
# on the balanced cases and predict every imbalanced one (`calibrate --holdout balanced`), then
# draw the plots into docs/img/ and print the error table.
#   scripts/validate.sh [EPSCOPE_BINARY]          (default: build/src/cli/epscope)
set -euo pipefail
cd "$(dirname "$0")/.."
epscope=${1:-build/src/cli/epscope}
mkdir -p out/validation docs/img
calibs=()
for records in docs/data/validation_*.jsonl; do
  name=$(basename "$records" .jsonl)
  # Our kernels pull in combine; NCCL's grouped send/recv and DeepEP's kernels push.
  design=pull; case "$name" in *nccl*|*deepep*) design=push ;; esac
  "$epscope" calibrate "$records" --holdout balanced --combine-design $design \
    -o "out/validation/$name.json" \
    > "out/validation/$name.txt"
  tail -3 "out/validation/$name.txt" | head -2
  calibs+=("out/validation/$name.json")
done
/usr/bin/python3 scripts/plot_validation.py --out docs/img "${calibs[@]}"
