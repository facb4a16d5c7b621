#!/usr/bin/python3
"""--bf16 on the Fashion-MNIST demo model (dynamic batch) built without and with --opt-shapes,
run at batch 100: which layers chose bf16, and latency against an FP32 engine of the same run.

  bench/cpu/optshape.py QRT_BINARY [--builds 3] [--rounds 5] [--out FILE.json]

Each configuration is built --builds times (timed choices vary between builds on a busy
machine); every engine is benched --rounds times, interleaved, and the fastest round's median
counts (the least disturbed by other processes). Prints a Markdown table.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models/fashion_mnist")
CONFIGS = [("fp32", []), ("bf16", ["--bf16"]), ("bf16 --opt-shapes input:100x1x28x28",
                                                 ["--bf16", "--opt-shapes", "input:100x1x28x28"])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qrt")
    ap.add_argument("--builds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    work = tempfile.mkdtemp(prefix="qrt-optshape-")
    engines = []  # (config, build index, path, bf16 layer names)
    for b in range(a.builds):
        for ci, (name, flags) in enumerate(CONFIGS):
            path = os.path.join(work, f"c{ci}_b{b}.qrt")
            subprocess.run([a.qrt, "build", os.path.join(MODEL, "model.onnx"), "-o", path, "--preprocess",
                            os.path.join(MODEL, "preprocess.json")] + flags, check=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            info = json.loads(subprocess.run([a.qrt, "inspect", path, "--json"], check=True, env=env,
                                             capture_output=True, text=True).stdout)
            bf16 = [l["name"] for l in info["layers"] if l["precision"] == "bf16" and l["op"] != "Cast"]
            engines.append({"config": name, "build": b, "path": path, "bf16_layers": bf16, "ms": []})
    for r in range(a.rounds):
        for e in engines:
            js = os.path.join(work, "bench.json")
            subprocess.run([a.qrt, "bench", e["path"], "--batch", "100", "--warmup", "5", "--iterations", "50",
                            "--json", js], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            e["ms"].append(json.load(open(js))["median_ms"])
    fp32 = min(min(e["ms"]) for e in engines if e["config"] == "fp32")
    print("| config | build | bf16 layers (non-Cast) | best median ms, batch 100 | vs best fp32 | median of rounds ms |")
    print("|---|---|---|---|---|---|")
    for e in engines:
        print(f"| {e['config']} | {e['build']} | {len(e['bf16_layers'])}: {', '.join(e['bf16_layers']) or '-'} | "
              f"{min(e['ms']):.3f} | {fp32 / min(e['ms']):.2f}x | {statistics.median(e['ms']):.3f} |")
    if a.out:
        for e in engines:
            del e["path"]
        json.dump(engines, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
