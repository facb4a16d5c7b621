#!/bin/bash
# `qrt bench` and `qrt run` on a CUDA engine (label gpu; exits 77, skipped, without a usable GPU or
# without the CUDA backend): the bench JSON has the CUDA-event keys with sane values (positive,
# ordered percentiles, device cuda, cuda_graph as asked), --profile lists every layer the engine
# runs on the GPU, `qrt run` (device buffers through pinned memory) gives the CPU engine's outputs,
# and --cuda-graph on a CPU engine is refused. No timing assertions.
#
#   tests/cuda_bench_cli_test.sh QRT_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail

source "$(dirname "$0")/script_common.sh"  # QRT, SRC, WORK
# PY: the GPU machine's Debian Python may lack numpy; then the python3 on PATH.
PY=$(command -v python3)
[[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c "import numpy" 2>/dev/null && PY=/usr/bin/python3
MODEL="$SRC/models/fashion_mnist/model.onnx"

rm -rf "$WORK"
mkdir -p "$WORK"
if ! "$QRT" build "$MODEL" -o "$WORK/gpu.qrt" --device cuda >"$WORK/build.log" 2>&1; then
  if grep -qiE "without the CUDA backend|no CUDA|no usable|CUDA driver|cudaGetDevice|no device" "$WORK/build.log"; then
    echo "SKIPPED: $(tail -1 "$WORK/build.log")"
    exit 77
  fi
  cat "$WORK/build.log"
  exit 1
fi
"$QRT" build "$MODEL" -o "$WORK/cpu.qrt" >/dev/null
"$QRT" inspect "$WORK/gpu.qrt" --json >"$WORK/inspect.json"

echo "== bench --cuda-graph --json"
"$QRT" bench "$WORK/gpu.qrt" --device cuda --batch 8 --warmup 2 --iterations 30 --cuda-graph --json "$WORK/graph.json" \
  | tee "$WORK/graph.txt"
echo "== bench --profile --json"
"$QRT" bench "$WORK/gpu.qrt" --batch 8 --warmup 2 --iterations 10 --profile --json "$WORK/profile.json" \
  | tee "$WORK/profile.txt"

"$PY" - "$WORK/graph.json" "$WORK/profile.json" "$WORK/inspect.json" <<'PYEOF'
import json, sys
graph, prof, inspect = (json.load(open(p)) for p in sys.argv[1:4])
fails = []
for name, r, want_graph in (("graph", graph, True), ("profile", prof, False)):
    for k in ("median_ms", "p90_ms", "p99_ms", "throughput", "min_ms", "max_ms"):
        if not (isinstance(r.get(k), (int, float)) and r[k] > 0):
            fails.append(f"{name}: {k} = {r.get(k)!r}")
    if not r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]:
        fails.append(f"{name}: percentiles out of order: {r}")
    if r.get("device") != "cuda": fails.append(f"{name}: device {r.get('device')!r}")
    if r.get("cuda_graph") != want_graph: fails.append(f"{name}: cuda_graph {r.get('cuda_graph')!r}")
    if r.get("batch") != 8: fails.append(f"{name}: batch {r.get('batch')!r}")
    if not r.get("gpu"): fails.append(f"{name}: no gpu summary")
layers = inspect["layers"] if isinstance(inspect, dict) else inspect
device_layers = {l["name"] for l in layers if l.get("backend") == "cuda"}
profiled = {p["layer"] for p in prof.get("profile", [])}
if not device_layers: fails.append("inspect lists no cuda layers")
if device_layers - profiled: fails.append(f"layers missing from the profile: {sorted(device_layers - profiled)}")
if any(p["avg_ms"] <= 0 for p in prof.get("profile", [])): fails.append("a profiled layer has no time")
print("\n".join("FAIL: " + f for f in fails) or "bench JSON ok")
sys.exit(1 if fails else 0)
PYEOF
grep -q "=== Profile" "$WORK/profile.txt" || { echo "FAIL: no profile table"; exit 1; }

echo "== run on the GPU vs the CPU"
"$PY" -c "
import numpy as np
np.save('$WORK/x.npy', np.random.default_rng(3).standard_normal((5, 1, 28, 28)).astype(np.float32))"
"$QRT" run "$WORK/gpu.qrt" --input input="$WORK/x.npy" --output-dir "$WORK/gpu_out" >/dev/null
"$QRT" run "$WORK/cpu.qrt" --input input="$WORK/x.npy" --output-dir "$WORK/cpu_out" >/dev/null
"$PY" - "$WORK/gpu_out" "$WORK/cpu_out" <<'PYEOF'
import glob, os, sys
import numpy as np
fails = []
for f in sorted(glob.glob(os.path.join(sys.argv[2], "*.npy"))):
    want = np.load(f).astype(np.float64)
    got = np.load(os.path.join(sys.argv[1], os.path.basename(f))).astype(np.float64)
    err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
    print(f"{os.path.basename(f)}: relative L2 {err:.2e}")
    if got.shape != want.shape or not err <= 1e-5: fails.append(f)
sys.exit(1 if fails else 0)
PYEOF

echo "== --cuda-graph on a CPU engine is refused"
if "$QRT" bench "$WORK/cpu.qrt" --iterations 1 --cuda-graph >"$WORK/refused.txt" 2>&1; then
  echo "FAIL: accepted"; exit 1
fi
grep -q "cuda-graph" "$WORK/refused.txt" || { cat "$WORK/refused.txt"; exit 1; }
echo "PASS"
