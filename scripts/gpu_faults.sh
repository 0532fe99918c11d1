#!/usr/bin/env bash
# GPU fault matrix of docs/reliability.md: injected faults (bench --fault), compute-sanitizer on
# the LL and HT kernels, and NCCL under MPI (emulated nodes, faults). Uses up to 4 GPUs (at least
# 2; GPUS overrides the count nvidia-smi gives).
#   EPSCOPE=build-cuda/src/cli/epscope scripts/gpu_faults.sh faults sanitizers
#   EPSCOPE_MPI=build-mpi/src/cli/epscope OMPI_ENV=ompi/env.sh scripts/gpu_faults.sh mpi
# Each fault case prints one line: what was injected, the exit code, the wall time and the error
# lines (every other rank must name the faulty rank and the run must end non-zero, within the
# --timeout-ms deadline plus process start).
set -u
EPSCOPE=${EPSCOPE:-build-cuda/src/cli/epscope}
GPUS=${GPUS:-$(nvidia-smi -L | wc -l)}
((GPUS > 4)) && GPUS=4
B="--preset h100-cx7 --nodes 1 --gpus-per-node $GPUS --max-tokens-per-rank 64 --tokens 16 -w 0 -n 2"

case_line() {  # case_line NAME COMMAND...: runs it (60 s cap), prints rc, seconds, stderr
  local name=$1
  shift
  local start end rc
  start=$(date +%s%N)
  timeout 60 "$@" >/tmp/fault_out.txt 2>/tmp/fault_err.txt
  rc=$?
  end=$(date +%s%N)
  printf '### %s: rc=%d, %d ms\n$ %s\n' "$name" "$rc" $(((end - start) / 1000000)) "$*"
  grep -v '^#' /tmp/fault_err.txt | head -c 3000
  grep -E 'Dispatch|rank 0|check' /tmp/fault_out.txt | head -8
  echo
}

faults() {
  case_line "nvlink ll one-process never-send" \
    $EPSCOPE bench $B --mode ll --timeout-ms 1000 --fault 1:never-send
  case_line "nvlink ht per-gpu exit" \
    $EPSCOPE bench $B --mode ht --launch per-gpu --timeout-ms 1000 --fault 1:exit
  case_line "nvlink ll per-gpu late 3 s > timeout 1 s" \
    $EPSCOPE bench $B --mode ll --launch per-gpu --timeout-ms 1000 --fault 1:late:3000000
  case_line "nvlink ll one-process late 500 us < timeout, --check" \
    $EPSCOPE bench $B --mode ll --timeout-ms 1000 --fault 1:late:500 --check
  case_line "nccl one-process never-send" \
    $EPSCOPE bench $B --mode ll --backend nccl --timeout-ms 1000 --fault 1:never-send
}

sanitizers() {
  # LL on GPUs 0,1 and HT on GPUs 2,3 at the same time (one after the other with 2 GPUs); each
  # tool in turn.
  local S="--preset h100-cx7 --nodes 1 --gpus-per-node 2 --max-tokens-per-rank 16 --tokens 5,1 -c -w 0 -n 1 --num-sms 8 --timeout-ms 60000"
  local ht_gpus=2,3
  ((GPUS < 4)) && ht_gpus=0,1
  for tool in synccheck memcheck racecheck; do
    for pair in "ll 0,1" "ht $ht_gpus"; do
      set -- $pair
      (CUDA_VISIBLE_DEVICES=$2 timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 \
        $EPSCOPE bench $S --mode $1 >/tmp/san_$1.txt 2>&1
       echo "### compute-sanitizer --tool $tool, $1: rc=$?"
       grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:|Invalid|Race|Barrier|error' /tmp/san_$1.txt | head -20) &
      ((GPUS < 4)) && wait
    done
    wait
  done
}

mpi() {
  source "${OMPI_ENV:?OMPI_ENV must name the env.sh of scripts/pack_openmpi.sh}"
  local M="${EPSCOPE_MPI:?} bench --preset h100-cx7 --nodes 2 --gpus-per-node 2 --backend nccl --launch mpi --mode ll --max-tokens-per-rank 128"
  mpiexec --version | head -1
  case_line "mpi 2 emulated nodes x 2, NCCL over NVLink, --check" \
    mpiexec -np 4 $M --tokens 128 --check -w 3 -n 20
  case_line "mpi 2 emulated nodes x 2, NCCL network transport (P2P and SHM off), --check" \
    mpiexec -np 4 -x NCCL_P2P_DISABLE=1 -x NCCL_SHM_DISABLE=1 -x NCCL_IB_DISABLE=1 \
    -x NCCL_SOCKET_IFNAME=lo $M --tokens 128 --check -w 3 -n 20
  case_line "mpi never-send" mpiexec -np 4 $M --tokens 16 -w 0 -n 2 --timeout-ms 1000 \
    --fault 1:never-send
  case_line "mpi exit (mpiexec ends the job when a rank dies)" \
    mpiexec -np 4 $M --tokens 16 -w 0 -n 2 --timeout-ms 1000 --fault 1:exit
  case_line "mpi exit (mpiexec --enable-recovery keeps the others running)" \
    mpiexec --enable-recovery -np 4 $M --tokens 16 -w 0 -n 2 --timeout-ms 1000 --fault 1:exit
  case_line "mpi exit, network transport" \
    mpiexec --enable-recovery -np 4 -x NCCL_P2P_DISABLE=1 -x NCCL_SHM_DISABLE=1 \
    -x NCCL_IB_DISABLE=1 -x NCCL_SOCKET_IFNAME=lo $M --tokens 16 -w 0 -n 2 --timeout-ms 1000 \
    --fault 1:exit
}

for section in "$@"; do
  "$section"
done
