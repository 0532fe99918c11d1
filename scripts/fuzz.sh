#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) in build-fuzz/ and runs each for a
# bounded time, starting from the committed seed corpus fuzz/corpus/<target>/. New inputs go to
# a scratch copy, so the committed corpus only changes when you copy them in on purpose.
#   bash scripts/fuzz.sh                  every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh fuzz_topk_file    one target, 10 minutes
# Env: FUZZ_SECONDS (per target, default 60), FUZZ_JOBS (targets run at once, default: cores),
#      EPSCOPE_JOBS (build jobs), CXX (default clang++-14 or clang++), FUZZ_SEED (libFuzzer
#      seed, default 1: CI explores the same input sequence every run; 0 = random).
# Exit status 1 when a target crashes; the reproducer is kept in build-fuzz/crashes/<target>/ and
# `build-fuzz/fuzz/<target> FILE` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
jobs=${EPSCOPE_JOBS:-$(nproc)}
par=${FUZZ_JOBS:-$(nproc)}
cxx=${CXX:-$(command -v clang++-14 || command -v clang++ || true)}
if [ -z "$cxx" ] || ! "$cxx" --version | grep -q clang; then
  echo "fuzz.sh: needs clang++ with libFuzzer (Debian: clang-14, libclang-rt-14-dev)" >&2
  exit 2
fi

echo "== building fuzz targets ($cxx, ASan + UBSan + libFuzzer) in build-fuzz/"
# -O1 with line tables: quick to build on a 2-core CI machine, still fast to run, and sanitizer
# reports carry file:line.
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
  -DEPSCOPE_FUZZ=ON -DEPSCOPE_CUDA=OFF -DEPSCOPE_MPI=OFF -DEPSCOPE_BUILD_TESTS=OFF \
  -DEPSCOPE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_all -j"$jobs"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in fuzz_scenario_file fuzz_lists fuzz_topk_file fuzz_records; do
    [ -x "build-fuzz/fuzz/$t" ] && targets+=("$t")
  done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_one() {  # run_one <target>: fuzz for $seconds from a scratch copy of the seed corpus
  local t=$1 work=build-fuzz/work/$1 crashes=build-fuzz/crashes/$1
  rm -rf "$work"
  mkdir -p "$work" "$crashes"
  cp fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  local dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  "build-fuzz/fuzz/$t" "$work" "${dict[@]}" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$crashes/" -print_final_stats=1 \
    >"build-fuzz/$t.log" 2>&1
}

echo "== fuzzing ${targets[*]}: ${seconds} s each, ${par} at a time"
fail=0
running=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  running=$((running + 1))
  if [ "$running" -ge "$par" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
for i in "${!pids[@]}"; do
  t=${names[$i]}
  wait "${pids[$i]}" 2>/dev/null || true
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$t.log" | grep -o '[0-9]*$' || echo "?")
  if grep -qE '^==[0-9]+==ERROR|deadly signal|Test unit written' "build-fuzz/$t.log"; then
    echo "FAIL $t after $runs runs; log build-fuzz/$t.log, reproducer in build-fuzz/crashes/$t/:"
    grep -E 'ERROR|SUMMARY|Test unit written' "build-fuzz/$t.log" | head -5
    fail=1
  else
    echo "ok   $t: $runs runs in ${seconds} s, no crash, leak or UB"
  fi
done
exit $fail
