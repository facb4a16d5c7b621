#!/usr/bin/python3
"""Exports torchvision classifiers with random weights to ONNX for speed benchmarks.

    /usr/bin/python3 bench/models/export_torchvision.py [--out DIR] [--models resnet50,resnet18,mobilenet_v2]

Debian's python3-torch (1.13) and python3-torchvision (0.14). The weights are random
(`weights=None`, seeded): good for timing, useless for accuracy. Opset 13, input "input"
float32 [N,3,224,224] with a dynamic batch dim, output "logits" [N,1000]. Files go to
bench/models/out/ (git-ignored: ResNet-50 is ~100 MB); an existing file is kept unless --force.
"""
import argparse
import os
import sys

import torch
import torchvision

MODELS = {
    "resnet50": torchvision.models.resnet50,
    "resnet18": torchvision.models.resnet18,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
}
HERE = os.path.dirname(os.path.abspath(__file__))


def export(name, out_dir, force):
    path = os.path.join(out_dir, f"{name}.onnx")
    if os.path.exists(path) and not force:
        print(f"{name}: {path} exists (use --force to rewrite)")
        return path
    torch.manual_seed(0)
    model = MODELS[name](weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    os.replace(tmp, path)  # only a complete file takes the name
    print(f"{name}: wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        sys.exit(f"export_torchvision: unknown model(s) {', '.join(unknown)} (known: {', '.join(MODELS)})")
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        export(name, args.out, args.force)


if __name__ == "__main__":
    main()
