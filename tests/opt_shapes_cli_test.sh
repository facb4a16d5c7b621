#!/bin/bash
# qrt build --opt-shapes (trtexec's --optShapes) on the bundled Fashion-MNIST model (dynamic batch):
#   (a) malformed specs, unknown input names, rank mismatches, dims contradicting a static dim and
#       non-positive dims are refused with a message naming them;
#   (b) the engine stays dynamic and `qrt inspect --json` shows metadata opt_shapes;
#   (c) with --bf16 every timed layer says it was timed at the opt shapes, the stem at input
#       100x1x28x28 (without --opt-shapes: at dynamic dims as 1), on a CPU with BF16 arithmetic;
#   (d) its logits at batch 100 and 3 match the FP32 engine's within bf16 rounding (3% of the
#       largest logit).
#
#   tests/opt_shapes_cli_test.sh QRT_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail

source "$(dirname "$0")/script_common.sh"  # QRT, SRC, WORK, PY
MODEL="$SRC/models/fashion_mnist/model.onnx"
mkdir -p "$WORK"
rm -f "$WORK"/*.qrt "$WORK"/*.json "$WORK"/*.log
export OMP_WAIT_POLICY=passive
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

refused() {  # refused EXPECTED_TEXT SPEC
  local log="$WORK/refused.log"
  if "$QRT" build "$MODEL" -o "$WORK/bad.qrt" --opt-shapes "$2" >"$log" 2>&1; then
    fail "--opt-shapes $2 was accepted"
  elif ! grep -qF -- "$1" "$log"; then
    fail "--opt-shapes $2: expected '$1' in: $(cat "$log")"
  fi
}
refused "opt shape given for 'nope', but the model's inputs are: input" nope:1x1x28x28
refused "has rank 3, the input has rank 4" input:100x28x28
refused "contradicts its static dim 1 (the input is ?x1x28x28)" input:100x3x28x28
refused "must be positive" input:0x1x28x28
refused "bad --opt-shapes entry 'input'" input
refused "bad shape" input:-4x1x28x28

"$QRT" build "$MODEL" -o "$WORK/fp32.qrt" >"$WORK/fp32.log" 2>&1 || { cat "$WORK/fp32.log"; exit 1; }
"$QRT" build "$MODEL" -o "$WORK/opt.qrt" --bf16 --opt-shapes input:100x1x28x28 >"$WORK/opt.log" 2>&1 ||
  { cat "$WORK/opt.log"; exit 1; }
"$QRT" build "$MODEL" -o "$WORK/one.qrt" --bf16 >"$WORK/one.log" 2>&1 || { cat "$WORK/one.log"; exit 1; }
"$QRT" inspect "$WORK/opt.qrt" --json >"$WORK/opt.json"
"$QRT" inspect "$WORK/one.qrt" --json >"$WORK/one.json"

"$PY" - "$WORK" <<'PY' || failures=$((failures + 1))
import json, sys
work = sys.argv[1]
opt, one = (json.load(open(f"{work}/{n}.json")) for n in ("opt", "one"))
bad = []
if opt["metadata"].get("opt_shapes") != "input:100x1x28x28":
    bad.append(f"opt_shapes metadata: {opt['metadata'].get('opt_shapes')!r}")
if "opt_shapes" in one["metadata"]:
    bad.append("an engine built without --opt-shapes has opt_shapes metadata")
if opt["inputs"][0]["dims"] != [-1, 1, 28, 28]:
    bad.append(f"the engine is not dynamic: {opt['inputs'][0]['dims']}")
timed = [l for l in opt["layers"] if l.get("timings_ms")]
if any("BF16 arithmetic" in l.get("reason", "") for l in opt["layers"]):
    print("this CPU has no BF16 arithmetic: (c) skipped")
else:
    if not timed:
        bad.append("no layer was timed")
    for l in timed:
        if "timed at the opt shapes (" not in l["reason"]:
            bad.append(f"{l['name']}: {l['reason']}")
    stem = [l for l in timed if l["name"].startswith("/stem/Conv")]
    if not stem or "timed at the opt shapes (input 100x1x28x28)" not in stem[0]["reason"]:
        bad.append(f"stem: {stem[0]['reason'] if stem else 'not timed'}")
    for l in one["layers"]:
        if l.get("timings_ms") and "timed with dynamic dims as 1 (" not in l["reason"]:
            bad.append(f"without --opt-shapes, {l['name']}: {l['reason']}")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

for n in 100 3; do
  "$PY" -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng($n).random(($n, 1, 28, 28), dtype=np.float32))" \
    "$WORK/x$n.npy"
  for e in fp32 opt; do
    mkdir -p "$WORK/out_${e}_$n"
    "$QRT" run "$WORK/$e.qrt" --input "input=$WORK/x$n.npy" --output-dir "$WORK/out_${e}_$n" >/dev/null 2>&1 ||
      fail "qrt run $e at batch $n"
  done
  "$PY" - "$WORK/out_fp32_$n/logits.npy" "$WORK/out_opt_$n/logits.npy" "$n" <<'PY' || failures=$((failures + 1))
import sys, numpy as np
ref, got = np.load(sys.argv[1]), np.load(sys.argv[2])
n = int(sys.argv[3])
if got.shape != (n, 10) or ref.shape != (n, 10):
    print(f"FAIL: logits shapes {got.shape} {ref.shape} at batch {n}"); sys.exit(1)
err, scale = np.abs(got - ref).max(), np.abs(ref).max()
print(f"batch {n}: max |bf16 - fp32| {err:.4g} (largest logit {scale:.4g})")
if not np.isfinite(got).all() or err > 0.03 * scale:
    print("FAIL: bf16 opt-shape engine differs from fp32 beyond bf16 rounding"); sys.exit(1)
PY
done

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "opt_shapes_cli: all passed"
