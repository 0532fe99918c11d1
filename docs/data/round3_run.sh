#!/bin/bash
# Final run of this session (issue 3): GPU gtests, targets side by side with the baseline build
# (main at e60624d), our NCCL backend, compute-sanitizer and the fault matrix on the final tree.
cd "$(dirname "$0")"
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 CUDA_MODULE_LOADING=EAGER
export LD_LIBRARY_PATH=$(python3 -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'lib'))"):$LD_LIBRARY_PATH
LOG=$OUT/final.log; CHK=$OUT/checks.log; : > "$LOG"; : > "$CHK"
NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$NAME" in *H200*) PRESET=h200-cx7 ;; *) PRESET=h100-cx7 ;; esac
G=$(nvidia-smi -L | wc -l); ((G > 4)) && G=4
{ date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,clocks.max.sm --format=csv; } >> "$LOG" 2>&1
printf 'balanced-1 1\nbalanced-128 128\n' > /tmp/llcases.txt
T0=$(date +%s)
run() {
  local label=$1 bin=$2; shift 2
  echo "=== RUN $label: $bin bench --preset $PRESET --nodes 1 --routing uniform $* ($(( $(date +%s) - T0 )) s)" >> "$LOG"
  timeout 120 ./$bin bench --preset $PRESET --nodes 1 --routing uniform "$@" >> "$LOG" 2>&1
  echo "rc=$?" >> "$LOG"
}
LL="--mode ll --max-tokens-per-rank 1024 --cases /tmp/llcases.txt -w 10 -n 50 -c"
HT="--gpus-per-node $G --mode ht --max-tokens-per-rank 4096 --tokens 4096 -w 5 -n 30 -c --num-sms 32"
NC="--backend nccl --mode ll --max-tokens-per-rank 1024 --cases /tmp/llcases.txt -w 5 -n 30 -c"
for g in $(seq $G -2 2); do
  run ll$g new --gpus-per-node $g $LL --link-probe --json $OUT/ll$g.jsonl
  run nccl$g new --gpus-per-node $g $NC --json $OUT/nccl$g.jsonl
  run base-ll$g base --gpus-per-node $g $LL
done
run ht$G new $HT --link-probe --json $OUT/ht$G.jsonl
run base-ht$G base $HT
run ht$G-again new $HT
run base-ht$G-again base $HT
if ((G >= 4)); then TOK=5,0,16,1; else TOK=5,0; fi
run nccl-ragged-per-expert new --gpus-per-node $G --backend nccl --mode ll --max-tokens-per-rank 64 --tokens $TOK -w 1 -n 3 -c
if ((G >= 4)); then HOT=1024,8,8,8; else HOT=1024,8; fi
run nccl-sweep-check new --gpus-per-node $G --backend nccl --mode ll --max-tokens-per-rank 1024 -b 1 -e 1024 -f 4 -c -w 2 -n 5
run nccl-pergpu-hot new --gpus-per-node $G --backend nccl --mode ll --max-tokens-per-rank 1024 --launch per-gpu --routing zipf:1.5 --tokens $HOT -c -w 2 -n 5
run base-nccl$G base --gpus-per-node $G $NC
run nccl$G-again new --gpus-per-node $G $NC
run nccl-ragged-per-rank new --gpus-per-node $G --backend nccl --mode ht --max-tokens-per-rank 64 --tokens $TOK -w 1 -n 3 -c
echo "bench total $(( $(date +%s) - T0 )) s" >> "$LOG"
for t in $(./epscope_gpu_tests --gtest_list_tests | grep '^  '); do
  echo "=== gtest $t" >> "$CHK"
  timeout 120 ./epscope_gpu_tests --gtest_filter=GpuBench.$t >> "$CHK" 2>&1; echo "rc=$? $t" >> "$CHK"
done
echo "gtests done $(( $(date +%s) - T0 )) s" >> "$CHK"
export PATH=$PATH:/usr/local/cuda/bin
EPSCOPE=./new bash gpu_faults.sh sanitizers faults > $OUT/faults.log 2>&1
echo "faults done $(( $(date +%s) - T0 )) s" >> "$CHK"
python3 summarize.py "$LOG" | tee "$OUT/summary.txt"
grep -E "^rc=|done" "$CHK" | tr '\n' ' '; echo
grep -E "^###" $OUT/faults.log
grep -E "^rc=[^0]|check found" "$LOG" | head
