#!/bin/bash
# Final run for the issue-3 speed targets: the final build (new), its record tails switched off
# (EPSCOPE_KVARIANT=1), the baseline (main at 2d77372), GPU gtests and compute-sanitizer.
cd "$(dirname "$0")"
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 CUDA_MODULE_LOADING=EAGER
export LD_LIBRARY_PATH=$(python3 -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'lib'))"):$LD_LIBRARY_PATH
LOG=$OUT/final.log; CHK=$OUT/checks.log; : > "$LOG"; : > "$CHK"
NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$NAME" in *H200*) PRESET=h200-cx7 ;; *) PRESET=h100-cx7 ;; esac
{ date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,clocks.max.sm --format=csv; } >> "$LOG" 2>&1
printf 'balanced-1 1\nbalanced-128 128\n' > /tmp/llcases.txt
T0=$(date +%s)
run() {
  local label=$1 var=$2 bin=$3; shift 3
  echo "=== RUN $label: EPSCOPE_KVARIANT=$var $bin bench --preset $PRESET --nodes 1 --routing uniform $* ($(( $(date +%s) - T0 )) s)" >> "$LOG"
  EPSCOPE_KVARIANT=$var timeout 90 ./$bin bench --preset $PRESET --nodes 1 --routing uniform "$@" >> "$LOG" 2>&1
  echo "rc=$?" >> "$LOG"
}
LL="--mode ll --max-tokens-per-rank 1024 --cases /tmp/llcases.txt -w 10 -n 50 -c"
HT="--gpus-per-node 4 --mode ht --max-tokens-per-rank 4096 --tokens 4096 -w 5 -n 30 -c"
NC="--backend nccl --mode ll --max-tokens-per-rank 1024 --cases /tmp/llcases.txt -w 5 -n 30 -c"
run ll4 0 new --gpus-per-node 4 $LL --link-probe --json $OUT/ll4.jsonl
run ll2 0 new --gpus-per-node 2 $LL --link-probe --json $OUT/ll2.jsonl
run ht4-32 0 new $HT --num-sms 32 --link-probe --json $OUT/ht4.jsonl
run nccl2 0 new --gpus-per-node 2 $NC --json /tmp/nccl2.jsonl
run nccl4 0 new --gpus-per-node 4 $NC --json /tmp/nccl4.jsonl
cat /tmp/nccl2.jsonl /tmp/nccl4.jsonl > $OUT/nccl.jsonl 2>/dev/null
run base-ll4 0 base --gpus-per-node 4 $LL
run base-ll2 0 base --gpus-per-node 2 $LL
run base-ht4-32 0 base $HT --num-sms 32
run notail-ll4 1 new --gpus-per-node 4 $LL
run notail-ll2 1 new --gpus-per-node 2 $LL
run notail-ht4-32 1 new $HT --num-sms 32
echo "bench total $(( $(date +%s) - T0 )) s" >> "$LOG"
for t in $(./epscope_gpu_tests --gtest_list_tests | grep '^  '); do
  echo "=== gtest $t" >> "$CHK"
  timeout 120 ./epscope_gpu_tests --gtest_filter=GpuBench.$t >> "$CHK" 2>&1; echo "rc=$? $t" >> "$CHK"
done
echo "gtests done $(( $(date +%s) - T0 )) s" >> "$CHK"
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for tool in memcheck racecheck; do for mode in ll ht; do
  if (( $(date +%s) - T0 > 230 )); then echo "=== SKIP sanitizer $tool $mode" >> "$CHK"; continue; fi
  echo "=== sanitizer $tool $mode" >> "$CHK"
  timeout 100 $CS --tool $tool ./new bench --preset $PRESET --nodes 1 --routing uniform --gpus-per-node 4 --mode $mode --max-tokens-per-rank 16 --tokens 5,0,16,1 -c -w 0 -n 1 --timeout-ms 60000 > /tmp/cs.log 2>&1
  echo "rc=$? $tool $mode" >> "$CHK"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Check:|rror" /tmp/cs.log | head -12 >> "$CHK"
done; done
echo "all done $(( $(date +%s) - T0 )) s" >> "$CHK"
python3 summarize.py "$LOG" | tee "$OUT/summary.txt"
grep -E "^rc=|SUMMARY|FAILED|done" "$CHK"
grep -E "^rc=[^0]|check found" "$LOG" | head
