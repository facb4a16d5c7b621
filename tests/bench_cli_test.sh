#!/bin/bash
# `qrt bench` on the bundled Fashion-MNIST model: the JSON record has every key with sane values
# (positive, ordered percentiles, the requested batch/iterations/threads), `--profile` lists every
# layer the engine runs (as `qrt inspect --json` names them) in the table and in the JSON, and
# bad option combinations are refused. No timing assertions: CI machines are noisy.
#
#   tests/bench_cli_test.sh QRT_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail

source "$(dirname "$0")/script_common.sh"  # QRT, SRC, WORK, PY
MODEL="$SRC/models/fashion_mnist/model.onnx"

rm -rf "$WORK"
mkdir -p "$WORK"
"$QRT" build "$MODEL" -o "$WORK/model.qrt" >/dev/null
"$QRT" inspect "$WORK/model.qrt" --json >"$WORK/inspect.json"

echo "== bench --iterations 5 --batch 4 --profile --json"
"$QRT" bench "$WORK/model.qrt" --batch 4 --warmup 1 --iterations 5 --threads 2 --profile \
  --json "$WORK/bench.json" --save-inputs "$WORK/inputs" | tee "$WORK/bench.txt"
[[ -f "$WORK/inputs/input.npy" ]] || { echo "FAIL: --save-inputs wrote no input.npy"; exit 1; }

"$PY" - "$WORK/bench.json" "$WORK/inspect.json" "$WORK/bench.txt" <<'PYEOF'
import json, sys
bench = json.load(open(sys.argv[1]))
inspect = json.load(open(sys.argv[2]))
text = open(sys.argv[3]).read()
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)

keys = ["median_ms", "mean_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "throughput", "batch", "iterations",
        "threads", "peak_rss_mb", "load_ms"]
for k in keys:
    check(k in bench, f"JSON lacks '{k}'")
    check(isinstance(bench.get(k), (int, float)) and bench.get(k, 0) > 0, f"'{k}' is not a positive number: {bench.get(k)}")
if not errors:
    b = bench
    check(b["min_ms"] <= b["median_ms"] <= b["max_ms"], f"median {b['median_ms']} outside [min, max]")
    check(b["median_ms"] <= b["p90_ms"] <= b["p99_ms"] <= b["max_ms"], "percentiles out of order")
    check(b["min_ms"] <= b["mean_ms"] <= b["max_ms"], "mean outside [min, max]")
    check(b["batch"] == 4, f"batch {b['batch']}, asked for 4")
    check(b["iterations"] == 5, f"iterations {b['iterations']}, asked for 5")
    check(b["threads"] == 2, f"threads {b['threads']}, asked for 2")
    expect = 4 * 1000.0 / b["mean_ms"]
    check(abs(b["throughput"] - expect) <= 1e-6 * expect, f"throughput {b['throughput']} != batch / mean ({expect})")

layers = [l["name"] for l in inspect["layers"] if l.get("backend") != "host"]
check(len(layers) > 0, "inspect lists no layers")
profiled = [p["layer"] for p in bench.get("profile", [])]
check(sorted(profiled) == sorted(layers), f"profile layers {sorted(profiled)} != engine layers {sorted(layers)}")
times = [p["total_ms"] for p in bench.get("profile", [])]
check(times == sorted(times, reverse=True), "profile not sorted by time")
check(all(t >= 0 for t in times), "negative layer time")
check(abs(sum(p["percent"] for p in bench.get("profile", [])) - 100.0) < 0.01, "profile percentages do not sum to 100")
check(bench.get("profile_runs") == 5, f"profile_runs {bench.get('profile_runs')}, expected 5")
table = text[text.find("=== Profile"):]
check("=== Profile" in text, "no profile table in the output")
for name in layers:
    check(f" {name}\n" in table, f"layer '{name}' missing from the printed profile table")
if errors:
    print("FAIL:\n  " + "\n  ".join(errors))
    sys.exit(1)
print(f"ok: {len(keys)} keys, {len(layers)} layers profiled")
PYEOF

echo "== bench --duration on the .onnx (built on the fly), JSON without profile"
"$QRT" bench "$MODEL" --duration 0.2 --warmup 0 --json "$WORK/duration.json" >/dev/null
"$PY" -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert b["iterations"] >= 1 and b["batch"] == 1 and b["load"] == "build" and "profile" not in b, b
print("ok: duration mode,", b["iterations"], "runs")
' "$WORK/duration.json"

echo "== refused combinations"
refuse() {
  if "$QRT" bench "$@" >"$WORK/refused.txt" 2>&1; then
    echo "FAIL: qrt bench $* succeeded"
    exit 1
  fi
  grep -q "qrt: error:" "$WORK/refused.txt" || { echo "FAIL: qrt bench $*: no error message"; cat "$WORK/refused.txt"; exit 1; }
  echo "ok: refused $* ($(head -1 "$WORK/refused.txt"))"
}
refuse "$WORK/model.qrt" --iterations 3 --duration 1
refuse "$WORK/model.qrt" --duration -1
refuse "$WORK/model.qrt" --fp16
refuse "$WORK/model.qrt" --shapes nosuchinput:1x1x28x28
"$QRT" build "$MODEL" --shapes input:2x1x28x28 -o "$WORK/fixed.qrt" >/dev/null
refuse "$WORK/fixed.qrt" --batch 3
echo "PASS"
