#!/usr/bin/python3
"""Fashion-MNIST tensors for tests/qdq_ort_test.sh, preprocessed as models/fashion_mnist/preprocess.json
says (float32: x * scale, - mean, / std; NCHW):

    fashion_inputs.py SOURCE_DIR OUT_DIR [--calib N] [--test N]

writes OUT_DIR/calib_x.npy (the first N training images), OUT_DIR/test_x.npy and
OUT_DIR/test_y.npy (the first N test images and their labels, int64)."""
import argparse
import gzip
import json
import os

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"


def idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--calib", type=int, default=512)
    ap.add_argument("--test", type=int, default=500)
    a = ap.parse_args()
    with open(os.path.join(a.source_dir, "models/fashion_mnist/preprocess.json")) as f:
        spec = json.load(f)
    scale, mean, std = (np.float32(spec["scale"]), np.float32(spec["mean"][0]), np.float32(spec["std"][0]))

    def images(name, n):
        x = idx(os.path.join(DATA, name), 16)[: n * 784].reshape(n, 1, 28, 28).astype(np.float32)
        return ((x * scale - mean) / std).astype(np.float32)

    os.makedirs(a.out_dir, exist_ok=True)
    np.save(os.path.join(a.out_dir, "calib_x.npy"), images("train-images-idx3-ubyte.gz", a.calib))
    np.save(os.path.join(a.out_dir, "test_x.npy"), images("t10k-images-idx3-ubyte.gz", a.test))
    labels = idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"), 8)[: a.test].astype(np.int64)
    np.save(os.path.join(a.out_dir, "test_y.npy"), labels)


if __name__ == "__main__":
    main()
