#!/usr/bin/env python3
"""PyTorch on the same GPU as qrt: a torchvision model (ResNet-50 or MobileNetV2, random weights)
at the given batch sizes, eager FP32, eager FP16 channels_last, and torch.compile FP16
channels_last, timed with CUDA events (median of per-iteration times, like
bench/gpu/gpu_bench.cpp). One JSON object per configuration is appended to --json.

usage: torch_bench.py --json FILE [--model resnet50] [--batches 1,32,256] [--iters 100]
                      [--compile-batches 1,256] [--configs fp32,fp16,compile]
"""
import argparse
import json
import time

import torch
import torchvision


def timed(fn, x, iters, warmup):
    for _ in range(warmup):
        fn(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn(x)
        b.record()
        times.append((a, b))
    torch.cuda.synchronize()
    ms = sorted(a.elapsed_time(b) for a, b in times)
    pick = lambda p: ms[min(len(ms) - 1, int(p * (len(ms) - 1) + 0.5))]
    return pick(0.5), pick(0.9), pick(0.99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--batches", default="1,32,256")
    ap.add_argument("--compile-batches", default="1,256")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--configs", default="fp32,fp16,compile")
    args = ap.parse_args()
    wanted = set(args.configs.split(","))
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    make = getattr(torchvision.models, args.model)
    base = make(weights=None).eval().to(dev)
    configs = [("torch eager fp32", torch.float32, False, False, "fp32"),
               ("torch eager fp16 channels_last", torch.float16, True, False, "fp16"),
               ("torch.compile fp16 channels_last", torch.float16, True, True, "compile")]
    configs = [c[:4] for c in configs if c[4] in wanted]
    batches = [int(b) for b in args.batches.split(",")]
    compile_batches = {int(b) for b in args.compile_batches.split(",") if b}
    out = open(args.json, "a")
    for name, dtype, cl, comp in configs:
        model = make(weights=None).eval().to(dev, dtype)
        model.load_state_dict({k: v.to(dtype) for k, v in base.state_dict().items()})
        if cl:
            model = model.to(memory_format=torch.channels_last)
        for batch in batches:
            if comp and batch not in compile_batches:
                continue
            x = torch.randn(batch, 3, 224, 224, device=dev, dtype=dtype)
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            fn = model
            t0 = time.time()
            try:
                if comp:
                    torch._dynamo.reset()
                    fn = torch.compile(model)
                with torch.inference_mode():
                    fn(x)
                    torch.cuda.synchronize()
                    setup = time.time() - t0
                    med, p90, p99 = timed(fn, x, args.iters, 10)
            except Exception as e:  # torch.compile may fail offline: say so and go on
                print(f"{name} batch {batch}: failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                continue
            rec = {"engine": name, "model": args.model, "precision": "fp16" if dtype == torch.float16 else "fp32", "batch": batch,
                   "median_ms": med, "p90_ms": p90, "p99_ms": p99, "img_per_s": batch / med * 1000,
                   "setup_s": setup, "torch": torch.__version__}
            print(json.dumps(rec), flush=True)
            out.write(json.dumps(rec) + "\n")
            out.flush()


if __name__ == "__main__":
    with torch.inference_mode():
        main()
