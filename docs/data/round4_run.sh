#!/bin/bash
# Fourth round (issue 3), final run: the final build (new) and the third round's build (base, main
# e60ca46) alternated in one call; our NCCL backend; --check cases for both HT dispatch paths
# (whole rows per warp, chunks per warp) and the new slot layout; GPU gtests; compute-sanitizer
# and the fault matrix. MODE=quick runs the timing part only.
cd "$(dirname "$0")"
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 CUDA_MODULE_LOADING=EAGER
export LD_LIBRARY_PATH=$(python3 -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'lib'))"):$LD_LIBRARY_PATH
LOG=$OUT/final.log; CHK=$OUT/checks.log; : > "$LOG"; : > "$CHK"
NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$NAME" in *H200*) PRESET=h200-cx7; M=h200 ;; *) PRESET=h100-cx7; M=h100 ;; esac
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
for rep in 1 2 3; do
  run base-ht$G base $HT
  run ht$G new $HT $( ((rep == 1)) && echo "--link-probe --json $OUT/round4_ht${G}_${M}x$G.jsonl")
done
for g in $(seq $G -2 2); do
  for rep in 1 2; do
    run base-ll$g base --gpus-per-node $g $LL
    run ll$g new --gpus-per-node $g $LL $( ((rep == 1)) && echo "--json $OUT/round4_ll${g}_${M}x$G.jsonl")
    run nccl$g new --gpus-per-node $g $NC $( ((rep == 1)) && echo "--json $OUT/round4_nccl${g}_${M}x$G.jsonl")
  done
done
echo "timing total $(( $(date +%s) - T0 )) s" >> "$LOG"
if [[ ${MODE:-full} == full ]]; then
  if ((G >= 4)); then TOK=5,0,16,1; R7=4096,7,0,333; PG=96,8,0,33; HTOK=2048,100,0,64; else TOK=5,0; R7=4096,7; PG=96,0; HTOK=2048,100; fi
  run ht-ragged new --gpus-per-node $G --mode ht --max-tokens-per-rank 64 --tokens $TOK -w 1 -n 3 -c
  run ht-ragged-both-paths new --gpus-per-node $G --mode ht --max-tokens-per-rank 4096 --tokens $R7 -w 1 -n 3 -c
  for h in 1536 8320 9216; do
    run ht-hidden$h new --gpus-per-node $G --mode ht --hidden $h --max-tokens-per-rank 2048 --tokens $HTOK -w 1 -n 3 -c
  done
  run ht-bf16 new --gpus-per-node $G --mode ht --dispatch-dtype bf16 --max-tokens-per-rank 4096 --tokens $R7 -w 2 -n 5 -c --num-sms 32
  run ht-pergpu new --gpus-per-node $G --mode ht --launch per-gpu --max-tokens-per-rank 2048 --tokens $( ((G >= 4)) && echo 2000,8,0,33 || echo 2000,0) -w 2 -n 5 -c
  # As run; refused with exit 2 (the run() prefix already gives --routing, and bench takes one):
  run ht-zipf new --gpus-per-node $G --mode ht --routing zipf:1.5 --max-tokens-per-rank 4096 --tokens 4096 -w 2 -n 5 -c
  run ll-ragged new --gpus-per-node $G --mode ll --max-tokens-per-rank 64 --tokens $TOK -w 1 -n 3 -c
  run ll-bf16 new --gpus-per-node $G --mode ll --dispatch-dtype bf16 --max-tokens-per-rank 128 --tokens 128 -w 2 -n 5 -c
  run ll-pergpu new --gpus-per-node $G --mode ll --launch per-gpu --max-tokens-per-rank 128 --tokens $PG -w 2 -n 5 -c
  run nccl-ragged-per-expert new --gpus-per-node $G --backend nccl --mode ll --max-tokens-per-rank 64 --tokens $TOK -w 1 -n 3 -c
  run nccl-ragged-per-rank new --gpus-per-node $G --backend nccl --mode ht --max-tokens-per-rank 64 --tokens $TOK -w 1 -n 3 -c
  run nccl-sweep-check new --gpus-per-node $G --backend nccl --mode ll --max-tokens-per-rank 1024 -b 1 -e 1024 -f 4 -c -w 2 -n 5
fi
echo "bench total $(( $(date +%s) - T0 )) s" >> "$LOG"
python3 summarize.py "$LOG" | tee "$OUT/summary.txt"
grep -E "^rc=[^0]|check found|rror" "$LOG" | head
[[ ${MODE:-full} == full ]] || exit 0
for t in $(./epscope_gpu_tests --gtest_list_tests | grep '^  '); do
  echo "=== gtest $t" >> "$CHK"
  timeout 120 ./epscope_gpu_tests --gtest_filter=GpuBench.$t >> "$CHK" 2>&1; echo "rc=$? $t" >> "$CHK"
done
echo "gtests done $(( $(date +%s) - T0 )) s" >> "$CHK"
grep -E "^rc=" "$CHK" | tr '\n' ' '; echo
export PATH=$PATH:/usr/local/cuda/bin
EPSCOPE=./new bash gpu_faults.sh sanitizers faults > $OUT/faults.log 2>&1
echo "faults done $(( $(date +%s) - T0 )) s"
grep -E "^###" $OUT/faults.log
