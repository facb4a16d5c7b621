#!/bin/bash
# INT8 acceptance on Fashion-MNIST (issue 3): the bundled classifier calibrated on 500 training
# images (the first 500 of the idx file, which cover every class) and evaluated on the 10,000
# test images.
#   (a) INT8 top-1 within 0.5 points of FP32 for entropy2, minmax and percentile;
#   (b) a second build with the same --calib-cache skips calibration (the message, the engine's
#       "calibration" metadata, a build with the cache and no data at all, the same accuracy);
#   (c) a stale cache (another algorithm's header; a cache made for another model) is reported
#       with its reason and not used: calibration runs instead, or, without data, the build fails.
#
#   tests/int8_accuracy_test.sh QRT_BINARY SOURCE_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) when Debian's dataset-fashion-mnist is not installed.
set -euo pipefail

source "$(dirname "$0")/script_common.sh"  # QRT, SRC, WORK, PY
MODEL="$SRC/models/fashion_mnist"
MAX_DROP=0.5  # points of top-1

[[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] ||
  { echo "SKIPPED: Debian's dataset-fashion-mnist is not installed"; exit 77; }

mkdir -p "$WORK"
# Idempotent: a second run of the test reuses the images.
"$PY" "$SRC/scripts/fashion-mnist-images" "$WORK/fashion-mnist" --train 500 >/dev/null
CALIB="$WORK/fashion-mnist/train"
TEST="$WORK/fashion-mnist/test"
rm -f "$WORK"/*.qrt "$WORK"/*.cache "$WORK"/*.json "$WORK"/*.log

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check_log() {  # check_log LOG PATTERN WHAT: the build log must contain PATTERN
  grep -q -- "$2" "$1" || { fail "$3: '$2' not in $1:"; sed 's/^/    /' "$1"; }
}
check_no_log() {  # check_no_log LOG PATTERN WHAT: the build log must not contain PATTERN
  if grep -q -- "$2" "$1"; then fail "$3: '$2' found in $1:"; sed 's/^/    /' "$1"; fi
}
json_field() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }
metadata() {  # metadata ENGINE KEY: a metadata value, via qrt inspect --json
  "$QRT" inspect "$1" --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['metadata'].get(sys.argv[1], ''))" "$2"
}
build() {  # build LOG ARGS...: qrt build with stderr and stdout in LOG (echoed)
  local log="$1"
  shift
  if ! "$QRT" build "$@" >"$log" 2>&1; then
    sed 's/^/    /' "$log"
    return 1
  fi
  sed 's/^/    /' "$log"
}
eval_top1() {  # eval_top1 ENGINE JSON: prints top-1 in percent
  "$QRT" eval "$1" --images "$TEST" --batch 100 --json "$2" >/dev/null
  json_field "$2" "['top1']*100"
}
PREP=(--preprocess "$MODEL/preprocess.json")

echo "== FP32"
build "$WORK/fp32.log" "$MODEL/model.onnx" -o "$WORK/fp32.qrt" "${PREP[@]}"
fp32=$(eval_top1 "$WORK/fp32.qrt" "$WORK/fp32.json")
printf "FP32 top-1 %.2f%%\n" "$fp32"

# ---- (a) accuracy per algorithm ----
declare -A top1
for algo in entropy2 minmax percentile; do
  echo "== INT8 $algo ($(find "$CALIB" -name '*.png' | wc -l) calibration images)"
  build "$WORK/$algo.log" "$MODEL/model.onnx" -o "$WORK/$algo.qrt" --int8 --calib-dir "$CALIB" \
    --calib-algo "$algo" --calib-cache "$WORK/$algo.cache" --calib-report "$WORK/$algo.report.json" "${PREP[@]}"
  check_log "$WORK/$algo.log" "calibrated .* tensors with $algo over 500 samples" "$algo calibration"
  top1[$algo]=$(eval_top1 "$WORK/$algo.qrt" "$WORK/$algo.json")
  flags=$(metadata "$WORK/$algo.qrt" builder_flags)
  [[ $flags == int8 ]] || fail "$algo: builder_flags '$flags'"
  drop=$("$PY" -c "print(f'{$fp32 - ${top1[$algo]}:.2f}')")
  printf "INT8 %-10s top-1 %.2f%%  (FP32 %.2f%%, drop %s points)\n" "$algo" "${top1[$algo]}" "$fp32" "$drop"
  "$PY" -c "import sys; sys.exit(0 if $fp32 - ${top1[$algo]} <= $MAX_DROP else 1)" ||
    fail "$algo: INT8 top-1 ${top1[$algo]}% is more than $MAX_DROP points below FP32 $fp32%"
done
# The engine must actually hold integer layers (not a float graph that merely says int8).
int8_layers=$("$QRT" inspect "$WORK/entropy2.qrt" --json |
  "$PY" -c "import json,sys; print(sum(l['precision']=='int8' for l in json.load(sys.stdin)['layers']))")
echo "entropy2 engine: $int8_layers int8 layers"
[[ $int8_layers -gt 0 ]] || fail "the entropy2 engine has no int8 layers"

# ---- (b) the cache skips calibration ----
echo "== rebuild with the entropy2 cache"
cp "$WORK/entropy2.cache" "$WORK/entropy2.cache.orig"
build "$WORK/cached.log" "$MODEL/model.onnx" -o "$WORK/cached.qrt" --int8 --calib-dir "$CALIB" \
  --calib-algo entropy2 --calib-cache "$WORK/entropy2.cache" "${PREP[@]}"
check_log "$WORK/cached.log" "calibration cache $WORK/entropy2.cache matches: skipped calibration" "cached build"
check_no_log "$WORK/cached.log" "calibrated " "cached build"
cmp -s "$WORK/entropy2.cache" "$WORK/entropy2.cache.orig" || fail "the cached build rewrote the cache"
source=$(metadata "$WORK/cached.qrt" calibration | "$PY" -c "import json,sys; print(json.load(sys.stdin)['source'])")
[[ $source == cache ]] || fail "cached build: metadata calibration.source is '$source', not cache"
echo "== rebuild with the cache and no calibration data"
build "$WORK/cache_only.log" "$MODEL/model.onnx" -o "$WORK/cache_only.qrt" --int8 \
  --calib-cache "$WORK/entropy2.cache" "${PREP[@]}" || fail "a build with only the matching cache failed"
check_log "$WORK/cache_only.log" "matches: skipped calibration" "cache-only build"
cached=$(eval_top1 "$WORK/cached.qrt" "$WORK/cached.json")
[[ $cached == "${top1[entropy2]}" ]] || fail "the cached engine's top-1 $cached% differs from ${top1[entropy2]}%"
printf "cached INT8 entropy2 top-1 %.2f%% (same as calibrated)\n" "$cached"

# ---- (c) stale caches ----
echo "== stale cache: another algorithm's header"
sed '1s/.*/TRT-8601-MinMaxCalibration/' "$WORK/entropy2.cache.orig" >"$WORK/stale_algo.cache"
build "$WORK/stale_algo.log" "$MODEL/model.onnx" -o "$WORK/stale_algo.qrt" --int8 --calib-dir "$CALIB" \
  --calib-cache "$WORK/stale_algo.cache" "${PREP[@]}"
check_log "$WORK/stale_algo.log" "warning: calibration cache $WORK/stale_algo.cache not used" "stale header"
check_log "$WORK/stale_algo.log" "made by MinMaxCalibration, not EntropyCalibration2" "stale header"
check_log "$WORK/stale_algo.log" "calibrated .* tensors with entropy2" "stale header"
check_no_log "$WORK/stale_algo.log" "skipped calibration" "stale header"
head -1 "$WORK/stale_algo.cache" | grep -q "^TRT-8601-EntropyCalibration2$" ||
  fail "the stale cache was not replaced by the new calibration"

echo "== stale cache: made for another model"
# A one-conv model with the same input: its cache names "input" and its own conv output only.
"$PY" - "$WORK/other.onnx" <<'PY'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
graph = helper.make_graph(
    [helper.make_node("Conv", ["input", "w"], ["other_conv"], name="other_conv", pads=[1, 1, 1, 1]),
     helper.make_node("Relu", ["other_conv"], ["other_out"], name="other_relu")],
    "other", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
    [helper.make_tensor_value_info("other_out", TensorProto.FLOAT, ["N", 4, 28, 28])], [w])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PY
build "$WORK/other.log" "$WORK/other.onnx" -o "$WORK/other.qrt" --int8 --calib-dir "$CALIB" --calib-max 64 \
  --calib-cache "$WORK/other.cache" "${PREP[@]}"
cp "$WORK/other.cache" "$WORK/other.cache.orig"
build "$WORK/stale_model.log" "$MODEL/model.onnx" -o "$WORK/stale_model.qrt" --int8 --calib-dir "$CALIB" \
  --calib-cache "$WORK/other.cache" "${PREP[@]}"
check_log "$WORK/stale_model.log" "warning: calibration cache $WORK/other.cache not used" "other model's cache"
check_log "$WORK/stale_model.log" "it lacks .* of the model's .* tensors" "other model's cache"
check_log "$WORK/stale_model.log" "calibrated .* tensors with entropy2" "other model's cache"
echo "== stale cache and no calibration data: the build must fail"
if build "$WORK/stale_nodata.log" "$MODEL/model.onnx" -o "$WORK/stale_nodata.qrt" --int8 \
     --calib-cache "$WORK/other.cache.orig" "${PREP[@]}"; then
  fail "a build with only a stale cache succeeded"
fi
check_log "$WORK/stale_nodata.log" "not used: .*it lacks" "stale cache without data"
check_log "$WORK/stale_nodata.log" "no calibration data was given" "stale cache without data"
echo "== --int8 with neither data nor cache"
if build "$WORK/nothing.log" "$MODEL/model.onnx" -o "$WORK/nothing.qrt" --int8 "${PREP[@]}"; then
  fail "--int8 without calibration data succeeded"
fi
check_log "$WORK/nothing.log" "needs calibration data" "--int8 without data"

echo
printf "%-18s %8s\n" "engine" "top-1"
printf "%-18s %7.2f%%\n" "FP32" "$fp32"
for algo in entropy2 minmax percentile; do printf "%-18s %7.2f%%\n" "INT8 $algo" "${top1[$algo]}"; done
if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all INT8 acceptance checks passed"
