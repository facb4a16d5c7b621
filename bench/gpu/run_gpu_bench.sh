#!/bin/bash
# The GPU benchmark (issue 5), run on the GPU machine, never in CI, in one command (~8 minutes):
# exports ResNet-50 and MobileNetV2 from torchvision, finds PP-OCRv4's text detector, makes the
# INT8 calibration caches (carried ones first), optionally runs the CUDA tests, times qrt (FP32,
# FP16 and INT8, with CUDA graphs; per-layer profiles) and PyTorch (eager FP16 channels_last and
# torch.compile FP16 for the torchvision models) on the same card in the same run, and writes
# bench/results/gpu-<card>-<date>.md (report.py) from the JSON records.
#
# usage: bench/gpu/run_gpu_bench.sh [--bin DIR] [--lib DIR] [--out DIR] [--tests] [--no-torch]
#                                   [--batches 1,32,256] [--iters N] [--models resnet50,mobilenet_v2,ppocr_det]
#                                   [--precisions fp32+graph,fp16+graph,int8fp16+graph] [--calib DIR]
#                                   [--det FILE] [--fmnist FILE.npy] [--quick] [--static]
#                                   [--timing-cache FILE] [--compile-batches 1,256]
#   --bin    folder holding qrt_gpu_bench, qrt (INT8 calibration when no cache is carried) and
#            tests/cuda_*_test (every GPU test binary); default build-cuda
#   --lib    extra shared libraries (libprotobuf, libonnx_proto, libdnnl...) for a machine that
#            lacks them; cuDNN and cuBLASLt are the machine's own (found under /usr, /opt)
#   --out    where JSON, logs and the models go (default /tmp/qrt-gpu-bench)
#   --calib  folder of calibration caches <model>.cache made elsewhere (e.g. on the CPU with
#            `qrt build --int8 --calib-cache`); default bench/gpu/calib, which holds
#            ppocr_det.cache (entropy2 over six text photos of Debian's opencv-doc at 320x320,
#            computed on the dev machine's CPU). A model without one is calibrated here, on the
#            CPU, from random inputs (the torchvision models have random weights: speed only)
#   --det    PP-OCRv4 det model (default $QRT_PPOCR_DET, else third_party/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx)
#   --fmnist preprocessed Fashion-MNIST test images for cuda_int8_test (QRT_FMNIST_NPY)
#   --precisions  qrt_gpu_bench's labels. The INT8 row is int8fp16 (--int8 --fp16), TensorRT's
#            "best" mode: the layers INT8 does not take, and the few-channel stems the CUDA builder
#            keeps in float (passes/unfold_qconv.h), run in FP16. int8+graph (float layers in FP32)
#            stays available; report.py ratios use int8fp16 when present
#   --compile-batches  the batches torch.compile runs at (default 1,256; compiling takes ~15-30 s each)
#   --quick  batch 1 and 256 only, fewer iterations, torch.compile at batch 256 only
#   --static one engine per batch with the batch fixed at build time, so the builder times the
#            convolution tactics on the real shapes (timing cache $OUT/timing.cache); without it a
#            dynamic-batch engine takes cuDNN's first heuristic plan (ResNet-50 FP16 batch 256 on
#            an H100: 7.84 ms static vs 9.66 ms dynamic). Each tuned ResNet-50 build takes ~30-45 s
#   --timing-cache  a timing cache from an earlier run on the same GPU and cuDNN (its keys name both,
#            so another card's entries are ignored), copied to $OUT/timing.cache before the --static
#            builds: they then time only what it lacks (a tuned INT8 ResNet-50 build: ~2 min -> seconds)
# Measured on an H100 (quick, without PyTorch): 160 s; the full run is estimated at ~8 minutes.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$ROOT/build-cuda
LIB=""
OUT=/tmp/qrt-gpu-bench
TESTS=0
TORCH=1
BATCHES=1,32,256
ITERS=100
MODELS=resnet50,mobilenet_v2,ppocr_det
PRECISIONS=fp32+graph,fp16+graph,int8fp16+graph
CALIB=$HERE/calib
DET=${QRT_PPOCR_DET:-$ROOT/third_party/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx}
FMNIST=""
COMPILE_BATCHES=1,256
MOBILENET_BATCHES=1,256  # ResNet-50 takes --batches; MobileNetV2 these; the detector batch 1 at 640x640
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift ;;
    --lib) LIB=$2; shift ;;
    --out) OUT=$2; shift ;;
    --tests) TESTS=1 ;;
    --no-torch) TORCH=0 ;;
    --batches) BATCHES=$2; shift ;;
    --iters) ITERS=$2; shift ;;
    --models) MODELS=$2; shift ;;
    --precisions) PRECISIONS=$2; shift ;;
    --calib) CALIB=$2; shift ;;
    --det) DET=$2; shift ;;
    --fmnist) FMNIST=$2; shift ;;
    --quick) BATCHES=1,256; ITERS=50; COMPILE_BATCHES=256 ;;
    --static) STATIC=1 ;;
    --timing-cache) TIMING_CACHE=$2; shift ;;
    --compile-batches) COMPILE_BATCHES=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT/models" "$OUT/calib"
[ -n "${TIMING_CACHE:-}" ] && [ -f "$TIMING_CACHE" ] && cp "$TIMING_CACHE" "$OUT/timing.cache"
PY=$(command -v python3)
START=$(date +%s)
stamp() { echo "[$(( $(date +%s) - START )) s] $*"; }

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
want() { [[ ",$MODELS," == *",$1,"* ]]; }
EXPORT=()
for m in resnet50 mobilenet_v2; do
  want $m && [ ! -f "$OUT/models/$m.onnx" ] && EXPORT+=($m)
done
[ ${#EXPORT[@]} -gt 0 ] && LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH "$PY" "$HERE/export_resnet.py" "$OUT/models" "${EXPORT[@]}" 2>&1 | tail -3
if want ppocr_det; then
  if [ -f "$DET" ]; then cp "$DET" "$OUT/models/ppocr_det.onnx"; else echo "PP-OCRv4 det not found at $DET: skipped"; MODELS=${MODELS//ppocr_det/}; fi
fi
stamp "models ready"

# ---- INT8 calibration caches ----
# A carried cache (--calib DIR/<model>.cache) is used when it matches the model as this qrt's
# passes see it; otherwise (no cache, or one made by another qrt version) the build calibrates
# here on the CPU (the builder's calibration runs the FP32 graph on the host) from 16 random
# images and rewrites the copy under $OUT.
if [[ "$PRECISIONS" == *int8* ]]; then
  for m in ${MODELS//,/ }; do
    cache=$OUT/calib/$m.cache
    if [ -n "$CALIB" ] && [ -f "$CALIB/$m.cache" ]; then cp "$CALIB/$m.cache" "$cache"; fi
    hw=224; [ "$m" = ppocr_det ] && hw=640
    input=input; [ "$m" = ppocr_det ] && input=x
    LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH "$PY" -c "
import numpy as np, os
d='$OUT/calib/$m-data'; os.makedirs(d, exist_ok=True)
r=np.random.default_rng(0)
for i in range(4): np.save(f'{d}/b{i}.npy', r.standard_normal((4,3,$hw,$hw)).astype(np.float32))"
    OMP_WAIT_POLICY=passive "$BIN/qrt" build "$OUT/models/$m.onnx" -o "$OUT/calib/$m.cpu-int8.qrt" --int8 \
      --calib-npy "$input=$OUT/calib/$m-data" --calib-cache "$cache" 2>&1 | tail -2
  done
  stamp "calibration caches ready"
fi

# ---- tests ----
# One process per test: a CUDA fault is sticky for its process and would fail every later test.
if [ "$TESTS" = 1 ]; then
  : > "$OUT/tests.log"
  for bin in $(cd "$BIN/tests" && ls cuda_*_test 2>/dev/null); do
    [ -x "$BIN/tests/$bin" ] || continue
    for t in $("$BIN/tests/$bin" --gtest_list_tests | awk '/^[^ ]/{s=$1} /^  /{print s $1}'); do
      QRT_FMNIST_NPY=$FMNIST QRT_RESNET_DIR=$OUT/models timeout 300 "$BIN/tests/$bin" --gtest_filter="$t" >> "$OUT/tests.log" 2>&1
    done
  done
  grep -E "^\[ +(FAILED|OK|SKIPPED) +\] [A-Za-z0-9]+\.[A-Za-z0-9]+ \(" "$OUT/tests.log"
  grep -E -A6 "Failure" "$OUT/tests.log" | head -120
  stamp "tests done"
fi

# ---- qrt ----
rm -f "$OUT/qrt.jsonl" "$OUT/torch.jsonl"
: > "$OUT/qrt.log"
for m in ${MODELS//,/ }; do
  args=(--batches "$BATCHES")
  [ "$m" = mobilenet_v2 ] && args=(--batches "$MOBILENET_BATCHES")
  [ "$m" = ppocr_det ] && args=(--batches 1 --hw 640x640)
  [ "${STATIC:-0}" = 1 ] && args+=(--static --timing-cache "$OUT/timing.cache")
  "$BIN/qrt_gpu_bench" "$OUT/models/$m.onnx" --name "$m" "${args[@]}" --precisions "$PRECISIONS" --iters "$ITERS" \
    --warmup 10 --profile --calib-cache "$OUT/calib/$m.cache" --json "$OUT/qrt.jsonl" 2>&1 | tee -a "$OUT/qrt.log"
  stamp "qrt $m done"
done

# ---- PyTorch ----
if [ "$TORCH" = 1 ]; then
  for m in resnet50 mobilenet_v2; do
    want $m || continue
    b=$BATCHES; [ "$m" = mobilenet_v2 ] && b=$MOBILENET_BATCHES
    LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH PYTHONUNBUFFERED=1 "$PY" "$HERE/torch_bench.py" --model $m --json "$OUT/torch.jsonl" \
      --batches "$b" --compile-batches "$COMPILE_BATCHES" --configs fp16,compile --iters "$ITERS" 2>&1 \
      | grep -v Warning | tee -a "$OUT/torch.log"
    stamp "torch $m done"
  done
fi

"$PY" "$HERE/report.py" --env "$OUT/env.txt" --qrt "$OUT/qrt.jsonl" --torch "$OUT/torch.jsonl" --out-dir "$ROOT/bench/results"
stamp "done"
