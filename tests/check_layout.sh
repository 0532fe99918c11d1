#!/usr/bin/env bash
# docs/architecture.md rules that a compiler does not check. Fails with the offending file or line.
#  1. CPU only: no CUDA, NCCL, MPI or pybind header under include/epscope or src/core; .cu/.cuh
#     files only under src/gpu.
#  2. Stages: no source file directly in src/core or include/epscope; every file sits in a stage
#     folder of the pipeline.
#  3. One dependency direction: an #include from a file of stage X (src/core/X/ or
#     include/epscope/X/) names a header of stage X or of a stage of lower rank, never a later
#     stage or a sibling of the same rank. Public includes "epscope/<stage>/..." and private ones
#     ("<stage>/name.h" from src/core, "name.h" beside the file) are both checked.
#  4. One name, one file: no two source files under src/ and python/src share a file name.
# Usage: check_layout.sh REPO_ROOT
set -u
root=$1
fail=0

# Rank of each stage: base < scenario < traffic < model < {estimate, simulate}
# < {calibrate, plan, sweep} < report. Same rank, different stage: siblings, which must not
# include each other.
declare -A rank=(
  [base]=0 [scenario]=1 [traffic]=2 [model]=3 [estimate]=4 [simulate]=4
  [calibrate]=5 [plan]=5 [sweep]=5 [report]=6
)

# 1. CPU only.
if grep -rnE '#include[[:space:]]*[<"](cuda|nccl|mpi|pybind11|cuda_runtime)' "$root/include/epscope" "$root/src/core"; then
  echo "FAIL: a GPU/MPI/Python header is included by the core"
  fail=1
fi
stray=$(cd "$root" && find src include python fuzz tests bench -name '*.cu' -o -name '*.cuh' | grep -v '^src/gpu/' || true)
if [ -n "$stray" ]; then
  echo "FAIL: CUDA sources outside src/gpu: $stray"
  fail=1
fi

# 2. Stage folders only.
for dir in src/core include/epscope; do
  loose=$(cd "$root" && find "$dir" -maxdepth 1 -type f ! -name CMakeLists.txt)
  if [ -n "$loose" ]; then
    echo "FAIL: files directly in $dir (put them in a stage folder): $loose"
    fail=1
  fi
  for stage_dir in "$root/$dir"/*/; do
    stage=$(basename "$stage_dir")
    if [ -z "${rank[$stage]+x}" ]; then
      echo "FAIL: $dir/$stage is not a pipeline stage (${!rank[*]}); add it to docs/architecture.md and here"
      fail=1
    fi
  done
done

# 3. Includes go to the same stage or an earlier one.
check_file() {  # check_file PATH_RELATIVE_TO_ROOT STAGE
  local file=$1 stage=$2 dir target to lineno line
  dir=$(dirname "$file")
  while IFS=: read -r lineno line; do
    target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$line")
    to=""
    if [[ $target == epscope/*/* ]]; then
      to=${target#epscope/}
      to=${to%%/*}
      [ -f "$root/include/$target" ] || to="?"
    elif [ -f "$root/$dir/$target" ]; then
      to=$stage
    elif [[ $target == */* ]] && [ -f "$root/src/core/$target" ]; then
      to=${target%%/*}
    else
      to="?"
    fi
    if [ "$to" = "?" ]; then
      echo "FAIL: $file:$lineno: $line -- no such header in include/ or src/core/"
      fail=1
    elif [ -z "${rank[$to]+x}" ]; then
      echo "FAIL: $file:$lineno: $line -- '$to' is not a pipeline stage"
      fail=1
    elif [ "$to" != "$stage" ] && [ "${rank[$to]}" -ge "${rank[$stage]}" ]; then
      echo "FAIL: $file:$lineno: $line -- stage $stage (rank ${rank[$stage]}) must not include stage $to (rank ${rank[$to]}): dependencies go scenario -> traffic -> model -> estimate | simulate -> calibrate | plan | sweep -> report"
      fail=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$root/$file")
}
while IFS= read -r file; do
  case $file in
    src/core/*) rest=${file#src/core/} ;;
    include/epscope/*) rest=${file#include/epscope/} ;;
  esac
  stage=${rest%%/*}
  [ -n "${rank[$stage]+x}" ] || continue  # reported above
  check_file "$file" "$stage"
done < <(cd "$root" && find src/core include/epscope -mindepth 2 -type f \( -name '*.h' -o -name '*.cpp' \) | sort)

# 4. No two source files share a name.
dups=$(cd "$root" && find src python/src -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' -o -name '*.py' \) -printf '%f\n' | sort | uniq -d)
if [ -n "$dups" ]; then
  for name in $dups; do
    echo "FAIL: several source files are named $name: $(cd "$root" && find src python/src -name "$name" | tr '\n' ' ')"
  done
  fail=1
fi

[ "$fail" -eq 0 ] && echo "layout: ok"
exit $fail
