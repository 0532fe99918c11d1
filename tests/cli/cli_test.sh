#!/usr/bin/env bash
# Command-line behaviour of `epscope estimate`: exit codes, one-line errors, JSON fields.
set -u
bin=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

expect_error() {  # expect_error <field substring> <args...>
  local want=$1
  shift
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 2 ] || ! grep -q -- "$want" "$tmp/err" || [ "$lines" -ne 1 ]; then
    echo "FAIL: epscope $* -> rc=$rc, stderr:"
    cat "$tmp/err"
    fail=1
  fi
}

expect_error "preset: 'h900'" estimate --preset h900
expect_error "tokens: '100x15'" estimate --tokens 100x15
expect_error "tokens: '2000 on rank 0'" estimate --tokens 2000
expect_error "tokens: '-3'" estimate --tokens -3
expect_error "hidden: '0'" estimate --hidden 0
expect_error "nodes" estimate --nodes 1000000
expect_error "mode: 'fast'" estimate --mode fast
expect_error "nvlink: 'maybe'" estimate --nvlink maybe
expect_error "routing" estimate --routing zipf:x
# Issue 8: NaN, infinity, negative and absurd values, each one line naming the field.
expect_error "nic-gbps: 'nan'" estimate --nic-gbps nan
expect_error "nvlink-gbps: 'inf'" estimate --nvlink-gbps inf
expect_error "nic-gbps: '1e-300'" estimate --nic-gbps 1e-300
expect_error "launch-us: '-1'" estimate --launch-us -1
expect_error "launch-us: '1e+308'" estimate --launch-us 1e308
expect_error "oversubscription: '0.5'" estimate --oversubscription 0.5
expect_error "nodes: '-1'" estimate --nodes -1
expect_error "gpus-per-node: '0'" estimate --gpus-per-node 0
expect_error "nodes" estimate --nodes 1000 --gpus-per-node 1000
expect_error "topk: '300'" estimate --topk 300
expect_error "experts: '0'" estimate --experts 0
expect_error "max-tokens-per-rank: '0'" estimate --max-tokens-per-rank 0
expect_error "tokens: '1099511627776'" estimate --tokens 1099511627776
expect_error "tokens" estimate --tokens 1x1000000
expect_error "start-offset-us: 'nan'" estimate --start-offset-us nan
expect_error "start-offset-us: '-5'" estimate --start-offset-us -5
expect_error "routing: 'lognormal:inf'" estimate --routing lognormal:inf
expect_error "routing: 'zipf:1000'" estimate --routing zipf:1000
printf '[cluster]\nnic_gbps = nan\n' >"$tmp/nan.toml"
expect_error "cluster.nic_gbps" estimate "$tmp/nan.toml"
printf 'tokens = [1e300]\n' >"$tmp/huge.toml"
expect_error "tokens" estimate "$tmp/huge.toml"
expect_error "scenario file" estimate "$tmp/missing.toml"
printf 'mode = \n' >"$tmp/bad.toml"
expect_error "malformed TOML" estimate "$tmp/bad.toml"
printf '{"params": {"nic_tx_gbps": -1}}' >"$tmp/calib.json"
expect_error "calibration" estimate --tokens 64 --calibration "$tmp/calib.json"
printf '{"params": {"nic_tx_gbps": 1e400}}' >"$tmp/calib_overflow.json"
expect_error "calibration" estimate --tokens 64 --calibration "$tmp/calib_overflow.json"
printf '{"topk_idx": [[[1e400]]]}' >"$tmp/overflow.json"
expect_error "routing file" estimate --routing "file:$tmp/overflow.json"
# bench --fault is checked before any GPU is touched (these run without GPUs too).
expect_error "fault: 'x:never-send'" bench --gpus-per-node 2 --fault x:never-send
expect_error "fault: '-1:exit'" bench --gpus-per-node 2 --fault=-1:exit
expect_error "fault: '1:crash'" bench --gpus-per-node 2 --fault 1:crash
expect_error "fault: '1:late:-5'" bench --gpus-per-node 2 --fault 1:late:-5
expect_error "fault: '1:exit'" bench --gpus-per-node 2 --fault 1:exit
expect_error "fault: '2:never-send'" bench --nodes 1 --gpus-per-node 2 --fault 2:never-send

# The built-in default prints the ratio and the bottleneck, and `epscope` alone runs it.
"$bin" >"$tmp/default.txt" 2>&1 || { echo "FAIL: epscope with no arguments"; fail=1; }
grep -q "unbalanced / balanced = 1\.[67]" "$tmp/default.txt" || { echo "FAIL: no ratio"; fail=1; }
grep -q "sender NIC of rank 0: 2880 copies, 21.3 MB at 50 GB/s" "$tmp/default.txt" || { echo "FAIL: no bottleneck"; fail=1; }

# JSON has the documented fields.
"$bin" estimate --tokens 384x8,64x8 --nvlink off --compare-balanced --json "$tmp/r.json" >/dev/null || fail=1
for key in '"dispatch_us"' '"combine_us"' '"total_us"' '"ranks"' '"balanced"' '"ratio"' '"wait_us"' '"send_bytes"' '"recv_bytes"' '"bottleneck"' '"tokens"'; do
  grep -q "$key" "$tmp/r.json" || { echo "FAIL: JSON lacks $key"; fail=1; }
done
# A scenario file from the test data works and flags override it.
"$bin" estimate "$data/golden_ll.toml" --json "$tmp/g.json" >/dev/null || { echo "FAIL: golden file"; fail=1; }
grep -q '"total_us": 15.212' "$tmp/g.json" || { echo "FAIL: golden total"; fail=1; }
# Issue 8: a routing file whose path is not UTF-8 still gives JSON (bad bytes become U+FFFD).
latin1=$(printf 'r\xff.json')
cp "$data/golden_ll_topk.json" "$tmp/$latin1"
"$bin" estimate --nodes 2 --gpus-per-node 2 --topk 2 --experts 4 --hidden 128 \
  --routing "file:$tmp/$latin1" --json "$tmp/latin1.json" >/dev/null 2>"$tmp/err" ||
  { echo "FAIL: non-UTF-8 path:"; cat "$tmp/err"; fail=1; }
grep -qF "$(printf 'r\xef\xbf\xbd.json')" "$tmp/latin1.json" ||
  { echo "FAIL: the non-UTF-8 path is not in the JSON with U+FFFD"; fail=1; }
# Issue 8, determinism: the same scenario and seed give byte-identical JSON on every run.
for run in 1 2; do
  "$bin" estimate --nvlink on --tokens 300x8,20x8 --routing lognormal:0.7 --seed 9 \
    --compare-balanced --json "$tmp/det$run.json" >/dev/null || { echo "FAIL: determinism run"; fail=1; }
done
cmp -s "$tmp/det1.json" "$tmp/det2.json" || { echo "FAIL: two runs of one seed differ"; fail=1; }
exit $fail
