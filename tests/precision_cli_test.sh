#!/bin/bash
# Precision on the CPU (issue 4), through the CLI, on the bundled Fashion-MNIST classifier and its
# 10,000 test images:
#   (a) top-1 of --bf16 (timed tactics), '*:bf16' obey (cpu bf16 kernels) and '*:fp16' obey (the
#       reference backend's exact FP16 rounding) within 0.5 points of FP32 (90.58% in PyTorch);
#   (b) --export-layer-info writes what `qrt inspect ENGINE --json` prints, with each layer's
#       precision, backend and reason, and the timings where the builder timed candidates;
#   (c) --fp16 on a CPU without FP16 arithmetic keeps fp32 and says why (text inspect too);
#   (d) obey with an unknown layer name fails naming it; a named layer's fp32 wins over '*';
#   (e) with oneDNN capped below BF16 (DNNL_MAX_CPU_ISA), --bf16 keeps fp32 and says why;
#   (f) --int8 with a layer named at fp32 under obey: that layer stays out of INT8 (float, fused
#       with its Relu; named as the model's node), the others INT8, top-1 within 0.5 points of FP32;
#       without constraints it stays INT8 and the build warns how to keep it out.
#
#   tests/precision_cli_test.sh QRT_BINARY SOURCE_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) when Debian's dataset-fashion-mnist is not installed.
set -euo pipefail

source "$(dirname "$0")/script_common.sh"  # QRT, SRC, WORK, PY
MODEL="$SRC/models/fashion_mnist"
MAX_DROP=0.5

[[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] ||
  { echo "SKIPPED: Debian's dataset-fashion-mnist is not installed"; exit 77; }
mkdir -p "$WORK"
"$PY" "$SRC/scripts/fashion-mnist-images" "$WORK/fashion-mnist" --train 10 >/dev/null
TEST="$WORK/fashion-mnist/test"
rm -f "$WORK"/*.qrt "$WORK"/*.json "$WORK"/*.log

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
build() {  # build NAME [options]
  local name="$1"
  shift
  "$QRT" build "$MODEL/model.onnx" -o "$WORK/$name.qrt" --preprocess "$MODEL/preprocess.json" "$@" \
    >"$WORK/$name.build.log" 2>&1 || { fail "build $name:"; cat "$WORK/$name.build.log"; return 1; }
}
top1() { "$QRT" eval "$WORK/$1.qrt" --images "$TEST" --json "$WORK/$1.eval.json" >/dev/null 2>&1 &&
  "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['top1'])" "$WORK/$1.eval.json"; }

build fp32
build bf16 --bf16 --export-layer-info "$WORK/bf16.layers.json"
build bf16_obey --layer-precisions '*:bf16' --precision-constraints obey
build fp16_obey --layer-precisions '*:fp16' --precision-constraints obey --export-layer-info "$WORK/fp16_obey.layers.json"
build fp16 --fp16 --export-layer-info "$WORK/fp16.layers.json"

ref=$(top1 fp32)
echo "fp32 top-1 $ref"
for e in bf16 bf16_obey fp16_obey; do
  acc=$(top1 $e) || { fail "eval $e"; continue; }
  echo "$e top-1 $acc"
  "$PY" -c "import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) * 100 <= float(sys.argv[3]) else 1)" \
    "$acc" "$ref" "$MAX_DROP" || fail "$e top-1 $acc vs fp32 $ref"
done

# (b) the layer info file is inspect --json, and says what each layer runs in and why.
"$QRT" inspect "$WORK/bf16.qrt" --json >"$WORK/bf16.inspect.json"
cmp -s "$WORK/bf16.inspect.json" "$WORK/bf16.layers.json" || fail "--export-layer-info differs from inspect --json"
"$PY" - "$WORK/bf16.layers.json" "$WORK/fp16_obey.layers.json" "$WORK/fp16.layers.json" <<'PYEOF' || fail "layer info content"
import json, sys
bf16, fp16_obey, fp16 = (json.load(open(p)) for p in sys.argv[1:4])
convs = [l for l in bf16["layers"] if l["op"] == "FusedConv"]
assert len(convs) == 6, [l["op"] for l in bf16["layers"]]
for l in convs:
    assert l["precision"] in ("fp32", "bf16") and l["backend"] == "cpu", l
    if "timings_ms" in l:  # a CPU with BF16 arithmetic: both candidates timed, the faster kept
        t = l["timings_ms"]
        assert set(t) == {"cpu fp32", "cpu bf16"}, t
        won = t["cpu bf16"] <= 0.9 * t["cpu fp32"] and "reverted to fp32" not in l["reason"]
        assert l["precision"] == ("bf16" if won else "fp32"), l
        assert l["reason"].startswith("timed cpu fp32"), l
    else:
        assert "no BF16 arithmetic" in l["reason"], l
work = [l for l in fp16_obey["layers"] if l["op"] not in ("Cast", "Identity") and l["backend"] != "host"]
assert work and all(l["precision"] == "fp16" and l["backend"] == "reference" for l in work), work
assert all("layer precision fp16 (obey)" in l["reason"] for l in work), work
for l in fp16["layers"]:
    if l["op"] == "FusedConv":
        assert l["precision"] == "fp32", l
PYEOF

# (c) --fp16 on this CPU: fp32 kept, with the reason (when the CPU has no AVX512_FP16).
if ! grep -q avx512_fp16 /proc/cpuinfo; then
  "$QRT" inspect "$WORK/fp16.qrt" >"$WORK/fp16.inspect.txt"
  grep -q "fp16 allowed; this CPU has no FP16 arithmetic: fp32 kernel kept" "$WORK/fp16.inspect.txt" ||
    { fail "inspect of the --fp16 engine gives no reason"; cat "$WORK/fp16.inspect.txt"; }
fi

# (d) constraint errors and precedence.
if "$QRT" build "$MODEL/model.onnx" -o "$WORK/bad.qrt" --layer-precisions 'nope:fp16' --precision-constraints obey \
  >"$WORK/bad.log" 2>&1; then
  fail "an unknown layer name was accepted"
else
  grep -q "'nope'" "$WORK/bad.log" || { fail "the error does not name the layer:"; cat "$WORK/bad.log"; }
fi
first=$("$PY" -c "import json,sys; print([l['name'] for l in json.load(open(sys.argv[1]))['layers'] if l['op']=='FusedConv'][0])" \
  "$WORK/bf16.layers.json")
build mixed --layer-precisions "$first:fp32,*:fp16" --precision-constraints obey --export-layer-info "$WORK/mixed.json"
"$PY" - "$WORK/mixed.json" "$first" <<'PYEOF' || fail "named layer precision over '*'"
import json, sys
layers = {l["name"]: l for l in json.load(open(sys.argv[1]))["layers"]}
assert layers[sys.argv[2]]["precision"] == "fp32", layers[sys.argv[2]]
assert layers["/fc/Gemm"]["precision"] == "fp16", layers["/fc/Gemm"]
PYEOF

# (e) oneDNN capped below avx512_core_bf16: --bf16 keeps fp32 and every conv says why.
DNNL_MAX_CPU_ISA=AVX512_CORE_VNNI build nobf16 --bf16 --export-layer-info "$WORK/nobf16.json"
"$PY" - "$WORK/nobf16.json" <<'PYEOF' || fail "--bf16 without BF16 arithmetic"
import json, sys
convs = [l for l in json.load(open(sys.argv[1]))["layers"] if l["op"] == "FusedConv"]
assert convs and all(l["precision"] == "fp32" and "this CPU has no BF16 arithmetic" in l["reason"] for l in convs), convs
PYEOF

# (f) INT8 with a layer kept in float.
CAL="$WORK/fashion-mnist/train"
build int8 --int8 --calib-dir "$CAL" --calib-cache "$WORK/int8.cache" --export-layer-info "$WORK/int8.json"
q=$("$PY" -c "import json,sys; print([l['name'] for l in json.load(open(sys.argv[1]))['layers'] if l['op']=='QConv'][1])" \
  "$WORK/int8.json")
build int8_keep --int8 --calib-cache "$WORK/int8.cache" --layer-precisions "$q:fp32" --precision-constraints obey \
  --export-layer-info "$WORK/int8_keep.json"
"$PY" - "$WORK/int8.json" "$WORK/int8_keep.json" "$q" <<'PYEOF' || fail "--int8 with a layer kept in float"
import json, sys
int8, keep = (json.load(open(p))["layers"] for p in sys.argv[1:3])
q = sys.argv[3]
kept = [l for l in keep if l["name"] == q or l["name"].startswith(q + " + ")]
assert len(kept) == 1 and kept[0]["op"] in ("Conv", "FusedConv") and kept[0]["precision"] == "fp32", kept
assert "layer precision fp32 (obey)" in kept[0]["reason"], kept[0]
n8 = lambda ls: sum(1 for l in ls if l["op"] == "QConv" and l["precision"] == "int8")
assert n8(keep) == n8(int8) - 1, (n8(int8), n8(keep))
PYEOF
acc=$(top1 int8_keep) || fail "eval int8_keep"
echo "int8 with $q in fp32: top-1 $acc"
"$PY" -c "import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) * 100 <= float(sys.argv[3]) else 1)" \
  "$acc" "$ref" "$MAX_DROP" || fail "int8_keep top-1 $acc vs fp32 $ref"
build int8_warn --int8 --calib-cache "$WORK/int8.cache" --layer-precisions "$q:fp32" --export-layer-info "$WORK/int8_warn.json"
grep -q "keeps it out of INT8" "$WORK/int8_warn.build.log" || { fail "no warning without constraints"; cat "$WORK/int8_warn.build.log"; }
"$PY" - "$WORK/int8_warn.json" "$q" <<'PYEOF' || fail "without constraints the layer stays INT8"
import json, sys
l = [l for l in json.load(open(sys.argv[1]))["layers"] if l["name"] == sys.argv[2]]
assert len(l) == 1 and l[0]["op"] == "QConv" and l[0]["precision"] == "int8", l
PYEOF

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "precision CLI: all checks passed"
