#!/usr/bin/env bash
# docs/architecture.md rules that a compiler does not check: no CUDA, NCCL, MPI or pybind header
# under include/epscope or src/core; .cu/.cuh files only under src/gpu.
set -u
root=$1
fail=0
if grep -rnE '#include[[:space:]]*[<"](cuda|nccl|mpi|pybind11|cuda_runtime)' "$root/include/epscope" "$root/src/core"; then
  echo "FAIL: a GPU/MPI/Python header is included by the core"
  fail=1
fi
stray=$(cd "$root" && git ls-files '*.cu' '*.cuh' 2>/dev/null | grep -v '^src/gpu/' || true)
if [ -n "$stray" ]; then
  echo "FAIL: CUDA sources outside src/gpu: $stray"
  fail=1
fi
exit $fail
