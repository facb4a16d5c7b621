#!/usr/bin/env python3
"""Writes bench/results/gpu-<card>-<date>.md from run_gpu_bench.sh's records: the machine (card,
driver, CUDA, cuDNN), per model a throughput / latency table per engine and batch, the ratios the
issue's targets are stated in (INT8 / FP16, FP16 / torch.compile), the targets met or missed by
how much, and for a missed target the layers qrt's per-kernel profile blames.

usage: report.py --env env.txt --qrt qrt.jsonl [...] [--torch torch.jsonl [...]] --out-dir bench/results
                 [--notes FILE] [--date DATE]
Several --qrt / --torch files make one table of runs from several device calls on one card (a later
file's record of the same model, precision and batch replaces an earlier one's).
"""
import argparse
import datetime
import json
import os
import re


def load(path):
    if not path or not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        if line.strip().startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def model_of(r):
    return os.path.splitext(os.path.basename(r.get("model", "resnet50")))[0]


def best(rows, model, precisions, batch):
    """The fastest qrt record among precisions (e.g. fp16 and fp16+graph) at a batch."""
    cands = [rows[model][p][batch] for p in precisions if batch in rows.get(model, {}).get(p, {})]
    return max(cands, key=lambda r: r["img_per_s"]) if cands else None


def blame(r, n=5):
    if not r or "profile_top" not in r:
        return "no profile recorded"
    total = r.get("profile_total_ms", 0) or 1
    ops = ", ".join(f"{op} {ms:.3f} ms ({100 * ms / total:.0f}%)"
                    for op, ms in sorted(r.get("profile_by_op", {}).items(), key=lambda kv: -kv[1])[:4])
    top = "; ".join(f"{t['layer']} ({t['op']} {t['dtype']}, {t['ms']:.3f} ms)" for t in r["profile_top"][:n])
    return f"kernels {total:.3f} ms per run by op: {ops}. Slowest layers: {top}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", required=True)
    # Several files each: the records of a table measured over several device calls on one card
    # (a later file's record of a model, precision and batch replaces an earlier one's).
    ap.add_argument("--qrt", required=True, nargs="+")
    ap.add_argument("--torch", default=[], nargs="*")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--notes", default="")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    a = ap.parse_args()
    env = open(a.env).read().strip().splitlines()
    qrt = [r for path in a.qrt for r in load(path)]
    torch = [r for path in a.torch for r in load(path)]
    card = env[0].split(",")[0].strip() if env else "unknown GPU"
    slug = re.sub(r"[^a-z0-9]+", "-", card.lower().replace("nvidia", "")).strip("-")
    device = next((r["device"] for r in qrt if "device" in r), "")

    rows = {}    # model -> precision -> batch -> record (qrt)
    errors = []  # qrt configurations that did not run
    for r in qrt:
        if "error" in r:
            errors.append(r)
            continue
        rows.setdefault(model_of(r), {}).setdefault(r["precision"], {})[r["batch"]] = r
    trows = {}   # model -> engine -> batch -> record (PyTorch)
    for r in torch:
        trows.setdefault(model_of(r), {}).setdefault(r["engine"], {})[r["batch"]] = r
    models = list(dict.fromkeys(list(rows) + list(trows) + [model_of(e) for e in errors]))

    L = [f"# GPU benchmark on {card}, {a.date}", ""]
    L += ["Written by bench/gpu/report.py from bench/gpu/run_gpu_bench.sh. ResNet-50 and MobileNetV2 from torchvision",
          "with random weights (speed only), input 3x224x224; PP-OCRv4's text detector at 640x640. Times from CUDA",
          "events around each inference on one stream (median of the iterations), inputs and outputs already on the",
          "device. qrt rows marked +graph replay the enqueue as a CUDA graph; INT8 engines are built from a",
          "calibration cache (entropy2) and keep their non-quantized layers in FP32 (int8fp16: in FP16, TensorRT's",
          "\"best\" mode, which the INT8 ratios use when it ran: with fixed shapes the builder also runs each layer",
          "INT8 or FP16, whichever the GPU runs faster, builder/int8_choice.h); few-channel stems run in float",
          "(passes/unfold_qconv.h).", ""]
    L += ["## Machine", "", f"- GPU: {env[0] if env else '?'} (name, driver, memory, max SM clock)"]
    if device:
        L.append(f"- qrt sees: {device} (driver, CUDA runtime, cuDNN and cuBLASLt versions)")
    for line in env[1:]:
        L.append(f"- CPU cores: {line}" if line.strip().isdigit() else f"- {line}")
    L.append("")

    misses = []
    for m in models:
        q = rows.get(m, {})
        t = trows.get(m, {})
        batches = sorted({b for v in list(q.values()) + list(t.values()) for b in v})
        L += [f"## {m}: throughput (images/s) and median / p99 latency (ms)", ""]
        L.append("| engine | " + (" | ".join(f"batch {b}" for b in batches) or "result") + " |")
        L.append("|---|" + "---|" * max(1, len(batches)))
        for name, by_batch in [(f"qrt {p}", v) for p, v in q.items()] + list(t.items()):
            cells = []
            for b in batches:
                r = by_batch.get(b)
                cells.append(f"{r['img_per_s']:,.0f}/s, {r['median_ms']:.3f} / {r['p99_ms']:.3f} ms" if r else "-")
            L.append(f"| {name} | " + " | ".join(cells) + " |")
        for e in errors:
            if model_of(e) == m:
                L.append(f"| qrt {e['precision']} | not run: {e['error'][:160]} |")
        L.append("")
        if not batches:
            continue

        fp16 = [p for p in q if p.startswith("fp16")]
        # The INT8 figure is TensorRT's "best" mode, int8fp16 (--int8 --fp16), when it ran; plain
        # int8 (float layers in FP32) otherwise.
        int8 = [p for p in q if p.startswith("int8fp16")] or [p for p in q if p.startswith("int8")]
        fp32 = [p for p in q if p.startswith("fp32")]
        comp = t.get("torch.compile fp16 channels_last", {})
        eager = t.get("torch eager fp16 channels_last", {})
        L += [f"### {m}: ratios (throughput; the faster of each engine's graph / no-graph rows)", ""]
        L.append("| ratio | " + " | ".join(f"batch {b}" for b in batches) + " |")
        L.append("|---|" + "---|" * len(batches))

        def ratio_row(label, num, den):
            cells = []
            for b in batches:
                x, y = num(b), den(b)
                cells.append(f"{x / y:.2f}x" if x and y else "-")
            L.append(f"| {label} | " + " | ".join(cells) + " |")

        ips = lambda ps: (lambda b: (best(rows, m, ps, b) or {}).get("img_per_s"))
        tips = lambda d: (lambda b: d.get(b, {}).get("img_per_s"))
        ratio_row("qrt INT8 / qrt FP16", ips(int8), ips(fp16))
        ratio_row("qrt FP16 / torch.compile fp16", ips(fp16), tips(comp))
        ratio_row("qrt FP16 / torch eager fp16 channels_last", ips(fp16), tips(eager))
        ratio_row("qrt INT8 / torch.compile fp16", ips(int8), tips(comp))
        ratio_row("qrt FP16 / qrt FP32", ips(fp16), ips(fp32))
        L.append("")

        # The targets (stated for ResNet-50; the ratios apply to every model).
        L += [f"### {m}: against the targets", ""]
        big = max(batches) if batches else None
        if big is not None:
            f16, i8, c = best(rows, m, fp16, big), best(rows, m, int8, big), comp.get(big)
            if f16 and c:
                r = f16["img_per_s"] / c["img_per_s"]
                ok = r >= 1.5
                L.append(f"- FP16 at batch {big} >= 1.5x torch.compile: {r:.2f}x "
                         + ("(met)" if ok else f"(missed: {1.5 * c['img_per_s']:,.0f} img/s needed, "
                                               f"{f16['img_per_s']:,.0f} measured)"))
                if not ok:
                    misses.append((m, f"FP16 batch {big}", f16))
            if i8 and f16:
                r = i8["img_per_s"] / f16["img_per_s"]
                ok = r >= 1.5
                L.append(f"- INT8 at batch {big} >= 1.5x qrt FP16: {r:.2f}x "
                         + ("(met)" if ok else f"(missed: {1.5 * f16['img_per_s']:,.0f} img/s needed, "
                                               f"{i8['img_per_s']:,.0f} measured)"))
                if not ok:
                    misses.append((m, f"INT8 batch {big}", i8))
            elif f16 and not i8:
                L.append("- INT8 >= 1.5x qrt FP16: INT8 did not run (see the table)")
            if m == "resnet50" and i8:
                L.append(f"- INT8 ResNet-50 past 60,000 img/s: {i8['img_per_s']:,.0f} img/s at batch {big} "
                         + ("(met)" if i8["img_per_s"] > 60000 else "(not yet)"))
        if m == "resnet50":
            r1 = best(rows, m, fp16, 1)
            if r1:
                ok = r1["median_ms"] < 1
                L.append(f"- FP16 latency at batch 1 < 1 ms: {r1['median_ms']:.3f} ms "
                         + ("(met)" if ok else f"(missed by {r1['median_ms'] - 1:.3f} ms)"))
                if not ok:
                    misses.append((m, "FP16 batch 1 latency", r1))
        L.append("")

    # What the builder chose per layer in the INT8 engines (--int8 --fp16 with fixed shapes).
    chosen = [r for by_prec in rows.values() for by_batch in by_prec.values() for r in by_batch.values()
              if r.get("int8_choice")]
    if chosen:
        L += ["## INT8 or FP16 per layer: the builder's choice (engine metadata int8_choice)", ""]
        for r in chosen:
            text = r["int8_choice"]
            L.append(f"- {model_of(r)} batch {r['batch']} ({r['precision']}): "
                     + (text if len(text) <= 400 else text[:400] + " ..."))
        L.append("")
    if misses:
        L += ["## Where a target is missed: what the profile blames (per-kernel CUDA events, no graph)", ""]
        for m, what, r in misses:
            L.append(f"- {m} {what} (qrt {r['precision']}, {r['median_ms']:.3f} ms end to end): {blame(r)}")
        L.append("")
    if a.notes and os.path.exists(a.notes):
        L += [open(a.notes).read().strip(), ""]
    os.makedirs(a.out_dir, exist_ok=True)
    path = os.path.join(a.out_dir, f"gpu-{slug}-{a.date}.md")
    open(path, "w").write("\n".join(L) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
