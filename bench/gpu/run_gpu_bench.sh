#!/bin/bash
# The GPU benchmark (issue 5), run on the GPU machine, never in CI: exports ResNet-18/50 from
# torchvision, optionally runs the CUDA kernel tests, times qrt (FP32, TF32, FP16) and PyTorch
# (eager FP32, eager FP16 channels_last, torch.compile FP16) on the same card in the same run,
# and writes bench/results/gpu-<card>-<date>.md (report.py) from the JSON records.
#
# usage: bench/gpu/run_gpu_bench.sh [--bin DIR] [--lib DIR] [--out DIR] [--tests] [--no-torch]
#                                   [--batches 1,32,256] [--iters N]
#   --bin   folder holding qrt_gpu_bench (and tests/cuda_kernels_test), default build-cuda
#   --lib   extra shared libraries (libprotobuf, libonnx_proto, libdnnl...) for a machine that
#           lacks them; cuDNN and cuBLASLt are the machine's own (found under /usr, /opt)
#   --out   where JSON, logs and the models go (default /tmp/qrt-gpu-bench)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ORIG_PWD=$PWD
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$ROOT/build-cuda
LIB=""
OUT=/tmp/qrt-gpu-bench
TESTS=0
TORCH=1
BATCHES=1,32,256
ITERS=200
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift ;;
    --lib) LIB=$2; shift ;;
    --out) OUT=$2; shift ;;
    --tests) TESTS=1 ;;
    --no-torch) TORCH=0 ;;
    --batches) BATCHES=$2; shift ;;
    --iters) ITERS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT/models"
PY=$(command -v python3)

# cuDNN and cuBLASLt of this machine: the CUDA toolkit's, else the pip wheels PyTorch uses.
# The wheels first: they are what PyTorch loads, so both engines run on the same cuDNN.
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
LIBDIRS=$LIB
for f in $(find /opt /usr/local/cuda*/ /usr/lib -name 'libcudnn.so.9' -o -name 'libcublasLt.so.13' 2>/dev/null); do
  LIBDIRS=$LIBDIRS:$(dirname "$f")
done
export LD_LIBRARY_PATH=$LIBDIRS:$ORIG_LD_LIBRARY_PATH
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# ---- the machine ----
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
  nproc
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
ldd "$BIN/qrt_gpu_bench" | grep -i "not found" && { echo "missing shared libraries" >&2; exit 1; }

# ---- models ----
[ -f "$OUT/models/resnet50.onnx" ] || LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH "$PY" "$HERE/export_resnet.py" "$OUT/models" resnet18 resnet50 2>&1 | tail -3

# ---- tests ----
# One process per test: a CUDA fault is sticky for its process and would fail every later test.
if [ "$TESTS" = 1 ]; then
  : > "$OUT/tests.log"
  for t in $("$BIN/tests/cuda_kernels_test" --gtest_list_tests | awk '/^[^ ]/{s=$1} /^  /{print s $1}'); do
    CUBLASLT_LOG_LEVEL=2 QRT_RESNET_DIR=$OUT/models timeout 300 "$BIN/tests/cuda_kernels_test" --gtest_filter="$t" >> "$OUT/tests.log" 2>&1
  done
  grep -E "^\[ +(FAILED|OK|SKIPPED) +\] [A-Za-z]+\.[A-Za-z]+ \(" "$OUT/tests.log"
  grep -E -A6 "Failure" "$OUT/tests.log" | head -120
fi

# ---- qrt ----
rm -f "$OUT/qrt.jsonl" "$OUT/torch.jsonl"
"$BIN/qrt_gpu_bench" "$OUT/models/resnet50.onnx" --batches "$BATCHES" --precisions fp32,tf32,fp16,fp32+graph,fp16+graph --iters "$ITERS" \
  --warmup 20 --profile --check --json "$OUT/qrt.jsonl" 2>&1 | tee "$OUT/qrt.log"

# ---- PyTorch ----
if [ "$TORCH" = 1 ]; then
  LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH PYTHONUNBUFFERED=1 "$PY" "$HERE/torch_bench.py" --json "$OUT/torch.jsonl" --batches "$BATCHES" --iters 100 2>&1 \
    | grep -v Warning | tee "$OUT/torch.log"
fi

"$PY" "$HERE/report.py" --env "$OUT/env.txt" --qrt "$OUT/qrt.jsonl" --torch "$OUT/torch.jsonl" --out-dir "$ROOT/bench/results"
