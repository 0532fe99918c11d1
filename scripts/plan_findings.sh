#!/usr/bin/env bash
# Reproduces the "Plan" section of docs/findings.md: DeepSeek-V3 decode on 2x8 H800 and 4x8 H100,
# average KV 1k / 5k / 20k, two-batch overlap off and on; every policy plus the lambda sweep.
# Usage: scripts/plan_findings.sh [EPSCOPE_BINARY] [OUT_DIR]
set -euo pipefail
epscope=${1:-build/src/cli/epscope}
out=${2:-build/plan-findings}
mkdir -p "$out"
# cluster preset nodes kv-capacity(tokens/rank) ; requests/rank = min(128, 0.75 x capacity / avg KV)
for cluster in "h800-cx7 2 175000" "h100-cx7 4 465000"; do
  read -r preset nodes capacity <<<"$cluster"
  ranks=$((nodes * 8))
  for kv in 1000 5000 20000; do
    per_rank=$((capacity * 3 / 4 / kv))
    per_rank=$((per_rank > 128 ? 128 : per_rank))
    for tbo in off on; do
      name="${preset}-${nodes}x8-kv${kv}-tbo${tbo}"
      flag=""
      [[ $tbo == on ]] && flag="--tbo"
      "$epscope" plan --preset "$preset" --nodes "$nodes" --gpus-per-node 8 --nvlink on \
        --requests $((per_rank * ranks)) --avg-kv "$kv" --kv-sigma 0.8 --drafts 1 \
        --acceptance 0.8 --kv-capacity "$capacity" --lambda 0:1:0.1 $flag \
        --json "$out/$name.json" --svg "$out/$name.svg" >"$out/$name.txt"
      echo "$name: $(grep 'sweet spot:' "$out/$name.txt")"
    done
  done
done
