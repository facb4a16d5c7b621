#!/usr/bin/env python3
"""Writes bench/results/gpu-<card>-<date>.md from run_gpu_bench.sh's records: the machine, a
throughput / latency table per engine and batch, the ratios the issue's targets are stated in,
and qrt's per-op profile (which layers the time goes to).

usage: report.py --env env.txt --qrt qrt.jsonl [--torch torch.jsonl] --out-dir bench/results [--notes FILE]
"""
import argparse
import datetime
import json
import os
import re


def load(path):
    if not path or not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip().startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", required=True)
    ap.add_argument("--qrt", required=True)
    ap.add_argument("--torch", default="")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--notes", default="")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    a = ap.parse_args()
    env = open(a.env).read().strip().splitlines()
    qrt = load(a.qrt)
    torch = load(a.torch)
    card = env[0].split(",")[0].strip() if env else "unknown GPU"
    slug = re.sub(r"[^a-z0-9]+", "-", card.lower().replace("nvidia", "")).strip("-")
    device = qrt[0]["device"] if qrt else ""

    rows = {}  # (engine label) -> {batch: record}
    for r in qrt:
        rows.setdefault(f"qrt {r['precision']}", {})[r["batch"]] = r
    for r in torch:
        rows.setdefault(r["engine"], {})[r["batch"]] = r
    batches = sorted({b for v in rows.values() for b in v})

    L = [f"# GPU benchmark: ResNet-50 on {card}, {a.date}", ""]
    L += ["Written by bench/gpu/report.py from bench/gpu/run_gpu_bench.sh. ResNet-50 from torchvision with random",
          "weights (speed only), input 3x224x224, times from CUDA events around each inference on one stream",
          "(median of the iterations), inputs and outputs already on the device. qrt rows marked +graph replay",
          "the enqueue as a CUDA graph (ExecutionContext::setCudaGraph); the others launch kernel by kernel.", ""]
    L += ["## Machine", "", f"- GPU: {env[0] if env else '?'} (name, driver, memory, max SM clock)"]
    if device:
        L.append(f"- qrt sees: {device}")
    for line in env[1:]:
        L.append(f"- CPU cores: {line}" if line.strip().isdigit() else f"- {line}")
    L.append("")
    L += ["## Throughput (images/s) and median latency (ms)", ""]
    L.append("| engine | " + " | ".join(f"batch {b}" for b in batches) + " |")
    L.append("|---|" + "---|" * len(batches))
    for name, by_batch in rows.items():
        cells = []
        for b in batches:
            r = by_batch.get(b)
            cells.append(f"{r['img_per_s']:,.0f} img/s, {r['median_ms']:.3f} ms" if r else "-")
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    L.append("")

    def ips(name, b):
        r = rows.get(name, {}).get(b)
        return r["img_per_s"] if r else None

    L += ["## Ratios", ""]
    pairs = [("qrt fp16", "torch eager fp16 channels_last"), ("qrt fp16", "torch.compile fp16 channels_last"),
             ("qrt fp16+graph", "torch.compile fp16 channels_last"), ("qrt fp32", "torch eager fp32"),
             ("qrt tf32", "qrt fp32"), ("qrt fp16", "qrt fp32"), ("qrt fp16+graph", "qrt fp16")]
    L.append("| ratio | " + " | ".join(f"batch {b}" for b in batches) + " |")
    L.append("|---|" + "---|" * len(batches))
    for x, y in pairs:
        cells = []
        for b in batches:
            p, q = ips(x, b), ips(y, b)
            cells.append(f"{p / q:.2f}x" if p and q else "-")
        L.append(f"| {x} / {y} | " + " | ".join(cells) + " |")
    L.append("")
    L += ["## Against the issue's targets", ""]
    t = max([v for v in (ips("qrt fp16", 256), ips("qrt fp16+graph", 256)) if v] or [0])
    c = ips("torch.compile fp16 channels_last", 256)
    if t and c:
        L.append(f"- FP16 at batch 256 >= 1.5x torch.compile: {t / c:.2f}x "
                 + ("(met)" if t / c >= 1.5 else f"(missed: {1.5 * c:,.0f} img/s needed, {t:,.0f} measured)"))
    cands = [r for r in (rows.get("qrt fp16", {}).get(1), rows.get("qrt fp16+graph", {}).get(1)) if r]
    r1 = min(cands, key=lambda r: r["median_ms"]) if cands else None
    if r1:
        L.append(f"- FP16 latency at batch 1 < 1 ms: {r1['median_ms']:.3f} ms "
                 + ("(met)" if r1["median_ms"] < 1 else f"(missed by {r1['median_ms'] - 1:.3f} ms)"))
    L.append("- INT8 >= 1.5x qrt FP16: not measured (no INT8 CUDA path yet).")
    L.append("")
    L += ["## Where qrt's time goes (per-kernel CUDA events)", ""]
    for r in qrt:
        if "profile_by_op" not in r or r["batch"] not in (1, max(batches)):
            continue
        total = r["profile_total_ms"]
        ops = ", ".join(f"{op} {ms:.3f} ms ({100 * ms / total:.0f}%)" for op, ms in
                        sorted(r["profile_by_op"].items(), key=lambda kv: -kv[1]))
        L.append(f"- qrt {r['precision']} batch {r['batch']}: kernels {total:.3f} ms of {r['median_ms']:.3f} ms "
                 f"end to end; {ops}")
        top = "; ".join(f"{t['layer']} ({t['op']}, {t['ms']:.3f} ms)" for t in r.get("profile_top", [])[:5])
        L.append(f"  - slowest layers: {top}")
    L.append("")
    if a.notes and os.path.exists(a.notes):
        L += [open(a.notes).read().strip(), ""]
    os.makedirs(a.out_dir, exist_ok=True)
    path = os.path.join(a.out_dir, f"gpu-{slug}-{a.date}.md")
    open(path, "w").write("\n".join(L) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
