#!/usr/bin/env bash
# The README's two set-up commands, on a fresh Debian 12 machine (run as root, or with sudo):
#   bash scripts/setup.sh run    installs what is missing, builds, runs `epscope estimate` on the
#                                built-in default scenario
#   bash scripts/setup.sh test   installs what is missing, builds, runs every test (release build,
#                                then the CPU suite again under ASan+UBSan+LeakSanitizer, then
#                                each libFuzzer target for FUZZ_SECONDS, default 60: see
#                                docs/reliability.md); GPU tests are skipped with a message when
#                                there is no GPU
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-run}
jobs=${EPSCOPE_JOBS:-$(nproc)}

# Debian packages. CUDA 13 and NCCL 2.28 are not Debian packages: they are used when present.
packages=(cmake g++ make git pkg-config libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
          nlohmann-json3-dev libfmt-dev libtomlplusplus-dev pybind11-dev libopenmpi-dev
          openmpi-bin python3 python3-dev python3-matplotlib python3-numpy python3-pytest
          python3-venv python3-pip python3-setuptools python3-pybind11 clang-format)
# `test` also needs clang with libFuzzer (fuzz targets) and headless Chromium (the report test).
[ "$what" = test ] && packages+=(clang-14 libclang-rt-14-dev chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "== building (preset default)"
cmake --preset default >/dev/null
cmake --build --preset default -j"$jobs"

case "$what" in
  run)
    echo "== epscope estimate (built-in default scenario)"
    ./build/src/cli/epscope estimate
    ;;
  test)
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      ctest --preset default -j"$jobs"
    else
      gpu_tests=$(ctest --test-dir build -N -L gpu | grep -c 'Test *#' || true)
      echo "== no GPU on this machine: skipping the ${gpu_tests} tests labelled 'gpu' (they run on a GPU machine, see docs/performance.md)"
      ctest --preset default -j"$jobs" -LE gpu
    fi
    echo "== CPU tests again under ASan + UBSan (preset asan)"
    cmake --preset asan >/dev/null
    cmake --build --preset asan -j"$jobs"
    ctest --preset asan -j"$jobs" -LE gpu
    echo "== fuzzing (scripts/fuzz.sh, ${FUZZ_SECONDS:-60} s per target)"
    EPSCOPE_JOBS=$jobs bash scripts/fuzz.sh
    ;;
  *)
    echo "usage: bash scripts/setup.sh run|test" >&2
    exit 2
    ;;
esac
