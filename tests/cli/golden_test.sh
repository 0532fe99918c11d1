#!/usr/bin/env bash
# Golden runs: the byte-exact output of `estimate --json`, `simulate --json`, `plan --json` and
# `sweep --csv` on a few representative scenarios, recorded from main before the layout refactor
# (issue 17). A refactor that changes behaviour changes a byte here.
#   golden_test.sh EPSCOPE DATA_DIR            compare against DATA_DIR/golden/*
#   golden_test.sh EPSCOPE DATA_DIR --update   rewrite DATA_DIR/golden/* (only when behaviour is
#                                              meant to change; say why in the commit)
set -u
bin=$(realpath "$1")
data=$2
update=${3:-}
golden=$data/golden
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
cases=0

# run_case NAME ARGS...: runs `epscope ARGS...` (which writes to stdout) from inside DATA_DIR, so
# file arguments are the relative names the goldens were recorded with, and compares the output
# with DATA_DIR/golden/NAME byte for byte. Outputs of several MB (the 1024-rank cases) are kept as
# their SHA-256 only (golden/NAME.sha256): still byte for byte, without MBs in git.
run_case() {
  local name=$1
  shift
  cases=$((cases + 1))
  if ! (cd "$data" && "$bin" "$@") >"$tmp/$name" 2>"$tmp/$name.err"; then
    echo "FAIL: $name: epscope $* exited non-zero:"
    cat "$tmp/$name.err"
    fail=1
    return
  fi
  local size
  size=$(wc -c <"$tmp/$name")
  if [ "$update" = "--update" ]; then
    rm -f "$golden/$name" "$golden/$name.sha256"
    if [ "$size" -gt 1000000 ]; then
      (cd "$tmp" && sha256sum "$name") >"$golden/$name.sha256"
    else
      cp "$tmp/$name" "$golden/$name"
    fi
  elif [ -f "$golden/$name.sha256" ]; then
    if ! (cd "$tmp" && sha256sum --quiet -c "$golden/$name.sha256" >/dev/null 2>&1); then
      echo "FAIL: $name: epscope $* differs from $golden/$name.sha256 (output $size bytes)"
      fail=1
    fi
  elif ! cmp -s "$tmp/$name" "$golden/$name"; then
    echo "FAIL: $name: epscope $* differs from $golden/$name:"
    diff "$golden/$name" "$tmp/$name" | head -20
    fail=1
  fi
}

# estimate: the default scenario, HT with sampled log-normal routing, NVLink on a 2-node LL case,
# a 1024-rank case, a scenario file with top-k file routing (golden_ll.toml: file:golden_ll_topk.json).
run_case estimate_default.json estimate --json -
run_case estimate_ht_lognormal.json estimate --mode ht --nodes 4 --routing lognormal:1.0 --seed 7 --json -
run_case estimate_nvlink.json estimate --nodes 2 --nvlink on --nvlink-domain 16 --gpus-per-node 8 --json -
run_case estimate_1024.json estimate --nodes 128 --gpus-per-node 8 --routing zipf:1.2 --seed 3 --json -
run_case estimate_scenario_file.json estimate golden_ll.toml --json -

# simulate: the same shapes on the flow-level fabric.
run_case simulate_default.json simulate --json -
run_case simulate_ht_lognormal.json simulate --mode ht --nodes 4 --routing lognormal:1.0 --seed 7 --ecmp hash --json -
run_case simulate_scenario_file.json simulate golden_ll.toml --json -
run_case simulate_nvlink.json simulate --nodes 2 --nvlink on --nvlink-domain 16 --gpus-per-node 8 --json -
run_case simulate_1024.json simulate --nodes 128 --gpus-per-node 8 --routing lognormal:0.5 --seed 3 --json -

# plan: one snapshot placed by every policy, and a short replay.
run_case plan_default.json plan --json -
run_case plan_snapshot.json plan --snapshot plan_snapshot.csv --model plan_model.toml --json -
run_case plan_replay.json plan --replay --trace plan_trace.csv --steps 50 --json -

# sweep: a grid over tokens and routing skew.
run_case sweep_tokens.csv sweep --vary tokens=64,128,256 --vary routing=expected,lognormal:0.5 -j 1 --no-progress --csv -
run_case sweep_ht_nodes.csv sweep --mode ht --vary nodes=2,4 --compare-balanced -j 1 --no-progress --csv -

if [ "$fail" -eq 0 ]; then
  if [ "$update" = "--update" ]; then echo "golden: $cases cases updated"; else echo "golden: $cases cases identical"; fi
fi
exit $fail
