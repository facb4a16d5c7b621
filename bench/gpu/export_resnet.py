#!/usr/bin/env python3
"""Exports torchvision ResNet-18/50 or MobileNetV2 (random weights: for speed and agreement tests
only) to ONNX with a dynamic batch: input "input" [N, 3, 224, 224], output "logits" [N, 1000].

usage: export_resnet.py OUT_DIR [resnet18 resnet50 mobilenet_v2 ...]

Uses the TorchScript exporter (dynamo=False), which folds BatchNormalization into the
convolutions of an eval-mode model; falls back to the dynamo exporter where it is gone.
ResNet-50 is 100 MB: generate it where it is used, never commit it.
"""
import os
import sys

import torch
import torchvision


def export(name, out_dir):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    path = os.path.join(out_dir, name + ".onnx")
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=17,
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    try:
        torch.onnx.export(model, x, path, dynamo=False, **kwargs)
    except TypeError:
        torch.onnx.export(model, x, path, **kwargs)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    names = sys.argv[2:] or ["resnet18", "resnet50"]
    os.makedirs(out_dir, exist_ok=True)
    for n in names:
        export(n, out_dir)


if __name__ == "__main__":
    main()
