#!/bin/bash
# QDQ models through qrt and ONNX Runtime (onnxruntime-node):
#   1. Fashion-MNIST calibrated (512 training images, entropy2), exported by `qrt export-qdq`,
#      checked against ONNX's checker and TensorRT's explicit-quantization rules, then run by both
#      on 500 test images: logits within 4 steps of the last layer (tests/qdq/compare.py says
#      what a step is), top-1 agreement >= 99%.
#   2. export-qdq from an engine whose graph holds fused layers is refused with a clear message.
#   3. QDQ models written as ONNX Runtime's quantizer writes them (uint8 activations with zero
#      point 128, int8 per-channel and uint8 weights, int32 biases; and int8 symmetric): both
#      give the same quantized outputs, up to one level on a few elements.
#   4. PP-OCRv4 det and rec (when fetched): calibrated, exported (opsets 11 and 9 raised to 14),
#      and run by both: qrt is at least twice as close to ONNX Runtime as ONNX Runtime's INT8 is
#      to the float model, and the thresholded map / per-step argmax agree on >= 99%.
# The calibration cache comes from `qrt build --int8 --calib-npy ... --calib-cache` when this qrt
# has it, else from tests/exporter_test (QdqArtifacts), which also writes the ORT-style models.
#
#   tests/qdq_ort_test.sh QRT_BINARY EXPORTER_TEST_BINARY SOURCE_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) when the npm assets or the Fashion-MNIST data are absent.
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 QRT_BINARY EXPORTER_TEST_BINARY SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
QRT="$1"
EXPORTER_TEST="$2"
SRC="$3"
WORK="$4"
PY=/usr/bin/python3  # Debian's Python, with numpy and onnx
RUN_ORT="$SRC/tests/ort/run_ort.js"
MODEL="$SRC/models/fashion_mnist/model.onnx"

skip() { echo "SKIPPED: $*"; exit 77; }
[[ -d "$SRC/tests/ort/node_modules/onnxruntime-node" ]] ||
  skip "onnxruntime-node not installed in $SRC/tests/ort (run scripts/fetch-npm-assets)"
command -v node >/dev/null || skip "node not found"
[[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] || skip "Debian dataset-fashion-mnist not installed"

rm -rf "$WORK"
mkdir -p "$WORK/gtest"
status=0
fail() { echo "FAIL: $*"; status=1; }

echo "== inputs and artifacts"
"$PY" "$SRC/tests/qdq/fashion_inputs.py" "$SRC" "$WORK" --calib 512 --test 500
QRT_QDQ_OUT="$WORK/gtest" "$EXPORTER_TEST" --gtest_filter='QdqArtifacts.*' --gtest_brief=1

echo "== Fashion-MNIST: calibration cache"
CACHE="$WORK/gtest/fashion_mnist.cache"
if "$QRT" build --help 2>/dev/null | grep -q -- '--calib-npy'; then
  CACHE="$WORK/fashion_mnist.cache"
  "$QRT" build "$MODEL" --int8 --calib-npy "input=$WORK/calib_x.npy" --calib-cache "$CACHE" -o "$WORK/fm_int8.qrt"
  echo "cache written by qrt build --int8"
else
  echo "this qrt build has no --calib-npy: using the cache written by exporter_test"
fi
head -3 "$CACHE"

echo "== Fashion-MNIST: export-qdq"
"$QRT" export-qdq "$MODEL" --calib-cache "$CACHE" -o "$WORK/fm_qdq.onnx" | tee "$WORK/export.log"
grep -q "quantized 7 of 7 layers" "$WORK/export.log" || fail "expected 7 of 7 layers quantized"
"$PY" "$SRC/tests/qdq/check_qdq.py" "$WORK/fm_qdq.onnx" --layers 7 || fail "the QDQ model breaks ONNX or TensorRT rules"

echo "== Fashion-MNIST: qrt vs ONNX Runtime on 500 test images"
node "$RUN_ORT" "$WORK/fm_qdq.onnx" "$WORK/ort_fm" "input=$WORK/test_x.npy" --threads 2
node "$RUN_ORT" "$MODEL" "$WORK/ort_fp32" "input=$WORK/test_x.npy" --threads 2
if "$QRT" run "$WORK/fm_qdq.onnx" --input "input=$WORK/test_x.npy" --output-dir "$WORK/qrt_fm"; then
  "$PY" "$SRC/tests/qdq/compare.py" "$WORK/qrt_fm" "$WORK/ort_fm" --output logits --labels "$WORK/test_y.npy" \
    --reference "$WORK/ort_fp32" --model "$WORK/fm_qdq.onnx" --max-steps 4 --min-agreement 0.99 || status=1
else
  fail "qrt run failed on $WORK/fm_qdq.onnx"
fi

if [[ -f "$WORK/fm_int8.qrt" ]]; then
  echo "== Fashion-MNIST: the exported QDQ model computes what qrt's own INT8 engine computes"
  "$QRT" run "$WORK/fm_int8.qrt" --input "input=$WORK/test_x.npy" --output-dir "$WORK/qrt_engine" >/dev/null
  "$PY" -c 'import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print("INT8 engine vs exported QDQ model:", "bit-identical" if np.array_equal(a, b) else f"max difference {np.abs(a - b).max()}")
sys.exit(0 if np.array_equal(a, b) else 1)' "$WORK/qrt_engine/logits.npy" "$WORK/qrt_fm/logits.npy" ||
    fail "qrt build --int8 and qrt export-qdq disagree"
fi

echo "== export-qdq from an engine"
"$QRT" build "$MODEL" -o "$WORK/fm_fp32.qrt" >/dev/null
if "$QRT" export-qdq "$WORK/fm_fp32.qrt" --calib-cache "$CACHE" -o "$WORK/from_engine.onnx" 2>"$WORK/engine.err"; then
  # Only an engine without fused (qrt-domain) layers can be exported; then the model must be valid.
  "$PY" "$SRC/tests/qdq/check_qdq.py" "$WORK/from_engine.onnx" || fail "export-qdq from an engine wrote a bad model"
else
  cat "$WORK/engine.err"
  grep -q "needs the ONNX model" "$WORK/engine.err" || fail "export-qdq from an engine failed without saying why"
fi

for v in u8 s8; do
  echo "== ONNX Runtime-style QDQ model ($v activations)"
  node "$RUN_ORT" "$WORK/gtest/ort_style_$v.onnx" "$WORK/ort_$v" "x=$WORK/gtest/ort_style_${v}_x.npy"
  if "$QRT" run "$WORK/gtest/ort_style_$v.onnx" --input "x=$WORK/gtest/ort_style_${v}_x.npy" --output-dir "$WORK/qrt_$v"; then
    "$PY" "$SRC/tests/qdq/compare.py" "$WORK/qrt_$v" "$WORK/ort_$v" --output y --levels 0.25 --max-level-frac 0.02 || status=1
  else
    fail "qrt run failed on ort_style_$v.onnx"
  fi
done

# PP-OCRv4 (real models, opsets 11 and 9: the export raises them to 14, rewriting the old forms
# of Clip, Slice, Squeeze, Softmax..., and HardSwish made by qrt's passes): calibrated on one text
# image with qrt build --int8, exported, and run by both.
ASSETS="$SRC/third_party/ocr-models/assets"
if [[ -f "$ASSETS/ch_PP-OCRv4_det_infer.onnx" && -f "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" ]] &&
   "$QRT" build --help 2>/dev/null | grep -q -- '--calib-npy'; then
  "$PY" "$SRC/tests/ocr/make_inputs.py" "$WORK/ocr"
  for model in det rec; do
    echo "== PP-OCRv4 $model"
    onnx="$ASSETS/ch_PP-OCRv4_${model}_infer.onnx"
    x="x=$WORK/ocr/${model}_x.npy"
    "$QRT" build "$onnx" --int8 --calib-npy "$x" --calib-cache "$WORK/ocr/$model.cache" -o "$WORK/ocr/$model.qrt" 2>/dev/null
    "$QRT" export-qdq "$onnx" --calib-cache "$WORK/ocr/$model.cache" -o "$WORK/ocr/${model}_qdq.onnx"
    "$PY" "$SRC/tests/qdq/check_qdq.py" "$WORK/ocr/${model}_qdq.onnx" || fail "the $model QDQ model breaks ONNX or TensorRT rules"
    node "$RUN_ORT" "$WORK/ocr/${model}_qdq.onnx" "$WORK/ocr/ort_$model" "$x" --threads 2
    node "$RUN_ORT" "$onnx" "$WORK/ocr/ort_${model}_fp32" "$x" --threads 2
    if ! "$QRT" run "$WORK/ocr/${model}_qdq.onnx" --input "$x" --output-dir "$WORK/ocr/qrt_$model" >/dev/null; then
      fail "qrt run failed on ${model}_qdq.onnx"
      continue
    fi
    # det: a probability map, compared where it is thresholded; rec: per-step class argmax.
    output=sigmoid_0.tmp_0
    agree=(--binarize 0.3)
    if [[ $model == rec ]]; then
      output=softmax_11.tmp_0
      agree=()
    fi
    "$PY" "$SRC/tests/qdq/compare.py" "$WORK/ocr/qrt_$model" "$WORK/ocr/ort_$model" --output "$output" \
      --reference "$WORK/ocr/ort_${model}_fp32" --max-error-ratio 0.5 "${agree[@]}" --min-agreement 0.99 || status=1
  done
else
  echo "== PP-OCRv4: skipped (models not fetched, or this qrt has no --calib-npy)"
fi

[[ $status -eq 0 ]] && echo "PASS"
exit $status
