#!/usr/bin/python3
"""Trains the bundled Fashion-MNIST classifier and exports it to ONNX.

Run with Debian's Python (it has python3-torch, python3-onnx and numpy):
    /usr/bin/python3 models/fashion_mnist/train.py [--data DIR] [--out DIR]

Writes, next to this script unless --out says otherwise:
    model.onnx        opset 13, input "input" [N,1,28,28] float32, output "logits" [N,10]
    preprocess.json   how images become the input tensor (gray, x/255, (x-mean)/std, NCHW)
    accuracy.json     top-1 of the PyTorch model on the 10,000 test images
    predictions.npy   int64 argmax per test image, in file order

The run is deterministic on the CPU: fixed seed, fixed thread count, deterministic algorithms.
"""
import argparse
import gzip
import json
import os
import struct
import time
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
EPOCHS = 2
BATCH = 128
LR = 0.2  # peak of the one-cycle schedule


def read_idx(path):
    """Reads an idx file (gzip-compressed) into a numpy array (uint8)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims} elements, found {arr.size}")
    return arr.reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return images, labels.astype(np.int64)


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn plus the identity, then relu (the basic block of ResNet-18)."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(x + y)


class SmallResNet(nn.Module):
    """About 2.1 M multiply-adds (4.3 MFLOPs) per 28x28 image.

    stem conv 1->16 @28x28 -> maxpool -> block(16) @14x14 -> conv 16->32 stride 2 @7x7
    -> block(32) -> global average pool -> Linear 32->10.
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.block1 = ResidualBlock(16)
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.down_bn = nn.BatchNorm2d(32)
        self.block2 = ResidualBlock(32)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.max_pool2d(x, 2)
        x = self.block1(x)
        x = F.relu(self.down_bn(self.down(x)))
        x = self.block2(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def normalize(images, mean, std):
    """uint8 [N,28,28] -> float32 [N,1,28,28], exactly as preprocess.json describes."""
    x = images.astype(np.float32) * np.float32(1.0 / 255.0)
    x = (x - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(x[:, None, :, :].copy())


def evaluate(model, x, batch=500):
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            preds.append(model(x[i:i + batch]).argmax(dim=1))
    return torch.cat(preds).numpy().astype(np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA_DIR)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    train_images, train_labels = load_split(args.data, "train")
    test_images, test_labels = load_split(args.data, "t10k")

    # The dataset's own statistics, over all training pixels after scaling to [0, 1].
    scaled = train_images.astype(np.float64) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())
    print(f"train {train_images.shape}, test {test_images.shape}, mean {mean:.6f}, std {std:.6f}")

    x_train = normalize(train_images, mean, std)
    y_train = torch.from_numpy(train_labels)
    x_test = normalize(test_images, mean, std)

    model = SmallResNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    steps_per_epoch = (x_train.shape[0] + BATCH - 1) // BATCH
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, epochs=EPOCHS,
                                                    steps_per_epoch=steps_per_epoch)
    shuffle = torch.Generator().manual_seed(0)

    start = time.time()
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(x_train.shape[0], generator=shuffle)
        total_loss = 0.0
        for i in range(0, x_train.shape[0], BATCH):
            idx = order[i:i + BATCH]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * idx.shape[0]
        preds = evaluate(model, x_test)
        top1 = float((preds == test_labels).mean())
        print(f"epoch {epoch + 1}: loss {total_loss / x_train.shape[0]:.4f}, test top-1 {top1:.4f}, "
              f"{time.time() - start:.0f} s")
    train_seconds = time.time() - start

    # Export in eval mode but with TrainingMode.PRESERVE so BatchNormalization stays a node
    # (EVAL would fold it into the convolutions); qrt's own fusion passes should do that work.
    model.eval()
    # torch warns about constant folding under PRESERVE because it assumes training mode; the
    # model is in eval mode here, so folding only touches constants.
    warnings.filterwarnings("ignore", message="It is recommended that constant folding")
    onnx_path = os.path.join(args.out, "model.onnx")
    torch.onnx.export(model, x_test[:1], onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(onnx_path))

    # The exported graph is this eval-mode model; its predictions are the reference for qrt.
    preds = evaluate(model, x_test)
    correct = int((preds == test_labels).sum())
    np.save(os.path.join(args.out, "predictions.npy"), preds)
    accuracy = {
        "top1": correct / len(test_labels),
        "correct": correct,
        "images": int(len(test_labels)),
        "mean": mean,
        "std": std,
        "epochs": EPOCHS,
        "torch_version": torch.__version__,
    }
    preprocess = {
        "color": "gray",
        "resize": "28x28",
        "scale": 1.0 / 255.0,
        "mean": [mean],
        "std": [std],
        "layout": "nchw",
    }
    with open(os.path.join(args.out, "accuracy.json"), "w") as f:
        json.dump(accuracy, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "preprocess.json"), "w") as f:
        json.dump(preprocess, f, indent=2)
        f.write("\n")
    # Timing is printed, not stored: it depends on the machine, and the files should not.
    print(json.dumps(accuracy), f"trained in {train_seconds:.0f} s")


if __name__ == "__main__":
    main()
