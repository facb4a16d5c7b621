#!/usr/bin/python3
"""Calibration speed against a plain FP32 pass over the same images (issue 4's target: calibrating
ResNet-50 on 500 images costs no more than twice a plain FP32 pass over them).

    /usr/bin/python3 bench/calib/run_calib_bench.py [--qrt build/qrt] [--baseline OLD_QRT]
        [--model resnet50] [--images 500] [--batch 32] [--algo entropy2] [--threads N]
        [--out FILE.md] [--repeat 1]

Steps:
  1. bench/models/export_torchvision.py exports the model (random weights) when absent.
  2. 500 JPEG images are made once into bench/work/calib<N>/c<k>/ (git-ignored): seeded crops,
     flips and rescales of the photos in /usr/share/doc/opencv-doc/examples/data, saved at
     ImageNet-like sizes (shorter side 256-500, quality 90), in 10 class folders so that
     `qrt eval` accepts the folder.
  3. For each qrt binary (--qrt, and --baseline when given, one after the other, never at once):
       (a) plain FP32 pass: `qrt eval MODEL.onnx --images DIR --batch B` (builds the FP32 engine,
           decodes and preprocesses every image once, runs them);
       (b) calibration: `qrt build MODEL.onnx --int8 --calib-dir DIR --calib-batch B
           --calib-algo ALGO --calib-cache NEW` (a fresh cache path, so it really calibrates);
     with the same preprocessing (ImageNet mean/std) and batch. Wall times of whole commands,
     plus qrt's own numbers: eval's inference-only throughput and the build's
     "calibrated ... in X s".
  4. Ratios: calibration seconds / eval wall, and int8 build CPU time / eval CPU time (user +
     system of each process: on a shared, loaded machine the CPU time moves far less than the
     wall time); the caches of the two binaries are compared byte for byte. --repeat N
     alternates the binaries N times.

Prints a Markdown table (and writes it to --out when given). The numbers mean something only
as ratios from one run on one machine; say how loaded it was (the script records `uptime`).
"""
import argparse
import datetime
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
PHOTOS = "/usr/share/doc/opencv-doc/examples/data"
PRE = ["--scale", "0.00392156862745098", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]


def die(msg):
    sys.exit(f"run_calib_bench: {msg}")


def make_images(folder, count):
    """Seeded crops / flips / rescales of the OpenCV sample photos, made once."""
    done = os.path.join(folder, ".complete")
    if os.path.exists(done):
        return
    from PIL import Image  # Debian's python3-pil
    photos = sorted(os.path.join(PHOTOS, f) for f in os.listdir(PHOTOS) if f.lower().endswith(".jpg"))
    if not photos:
        die(f"no .jpg photos in {PHOTOS} (package opencv-doc)")
    rng = random.Random(20261127)
    for i in range(count):
        src = Image.open(photos[i % len(photos)]).convert("RGB")
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
        im = src.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        short = rng.randint(256, 500)
        s = short / min(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BILINEAR)
        sub = os.path.join(folder, f"c{i % 10}")
        os.makedirs(sub, exist_ok=True)
        im.save(os.path.join(sub, f"img_{i:04d}.jpg"), quality=90)
    open(done, "w").close()


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, log):
    """Runs cmd; returns (wall seconds, CPU seconds of the process, output)."""
    t0, c0 = time.monotonic(), cpu_seconds()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dt, cpu = time.monotonic() - t0, cpu_seconds() - c0
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{p.stdout}\n(exit {p.returncode}, {dt:.2f} s)\n\n")
    if p.returncode != 0:
        die(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}")
    return dt, cpu, p.stdout


def measure(qrt, tag, args, model, images, work, log):
    env_threads = ["--threads", str(args.threads)] if args.threads else []
    json_path = os.path.join(work, f"eval-{tag}.json")
    eval_s, eval_cpu, _ = timed([qrt, "eval", model, "--images", images, "--batch", str(args.batch), "--json", json_path]
                      + env_threads + PRE, log)
    import json
    with open(json_path) as f:
        ev = json.load(f)
    thr = ev.get("throughput") or ev.get("engine", {}).get("throughput", 0)
    if not thr:
        thr = next((v.get("throughput") for v in ev.values() if isinstance(v, dict) and v.get("throughput")), 0)
    cache = os.path.join(work, f"calib-{tag}.cache")
    if os.path.exists(cache):
        os.remove(cache)
    build_s, build_cpu, out = timed([qrt, "build", model, "-o", os.path.join(work, f"int8-{tag}.qrt"), "--int8", "--calib-dir",
                          images, "--calib-batch", str(args.batch), "--calib-algo", args.algo, "--calib-cache", cache]
                         + PRE, log)
    m = re.search(r"calibrated \d+ tensors .* in ([0-9.]+) s", out)
    calib_s = float(m.group(1)) if m else float("nan")
    return {"eval_s": eval_s, "infer_s": args.images / thr if thr else float("nan"), "build_s": build_s,
            "calib_s": calib_s, "eval_cpu": eval_cpu, "build_cpu": build_cpu, "cache": cache}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qrt", default=os.path.join(ROOT, "build", "qrt"))
    ap.add_argument("--baseline", help="an older qrt binary timed in the same run")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--algo", default="entropy2")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()

    model = os.path.join(BENCH, "models", "out", f"{args.model}.onnx")
    if not os.path.exists(model):
        subprocess.run(["/usr/bin/python3", os.path.join(BENCH, "models", "export_torchvision.py"), "--models",
                        args.model], check=True)
    images = os.path.join(BENCH, "work", f"calib{args.images}")
    make_images(images, args.images)
    work = os.path.join(BENCH, "work", "calib-bench")
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "log.txt")

    binaries = [("new", args.qrt)] + ([("baseline", args.baseline)] if args.baseline else [])
    rows = []
    load_before = os.getloadavg()
    for rep in range(args.repeat):
        for tag, qrt in binaries:
            r = measure(qrt, tag, args, model, images, work, log)
            r["tag"], r["rep"] = tag, rep
            rows.append(r)
            print(f"{tag} #{rep}: eval {r['eval_s']:.1f} s (inference {r['infer_s']:.1f} s, CPU {r['eval_cpu']:.1f} s), "
                  f"calibration {r['calib_s']:.1f} s, int8 build {r['build_s']:.1f} s (CPU {r['build_cpu']:.1f} s) -> "
                  f"{r['calib_s'] / r['eval_s']:.2f}x wall, {r['build_cpu'] / r['eval_cpu']:.2f}x CPU", flush=True)
    load_after = os.getloadavg()

    same = None
    if args.baseline:
        with open(os.path.join(work, "calib-new.cache"), "rb") as a, open(os.path.join(work, "calib-baseline.cache"),
                                                                          "rb") as b:
            same = a.read() == b.read()

    cpu = platform.processor()
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except (OSError, AttributeError):
        pass
    lines = [f"# Calibration speed, {args.model}, {args.images} images, batch {args.batch}, {args.algo}", "",
             f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; {cpu}, {os.cpu_count()} cores; load average "
             f"{load_before[0]:.1f} before, {load_after[0]:.1f} after.", "",
             "| qrt | run | eval wall s | eval inference s | eval CPU s | calibration s | int8 build wall s | "
             "int8 build CPU s | calib / eval (wall) | build / eval (CPU) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['tag']} | {r['rep']} | {r['eval_s']:.1f} | {r['infer_s']:.1f} | {r['eval_cpu']:.1f} | "
                     f"{r['calib_s']:.1f} | {r['build_s']:.1f} | {r['build_cpu']:.1f} | {r['calib_s'] / r['eval_s']:.2f} | "
                     f"{r['build_cpu'] / r['eval_cpu']:.2f} |")
    if same is not None:
        lines += ["", f"Caches of the two binaries: {'identical' if same else 'DIFFERENT'}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
