#!/usr/bin/python3
"""Compares qrt's outputs with ONNX Runtime's, file by file.

    /usr/bin/python3 tests/ocr/compare.py QRT_DIR ORT_DIR [--rtol 1e-4] [--ctc-keys KEYS.txt]

Every ORT_DIR/<name>.npy must have a QRT_DIR/<name>.npy of the same shape and dtype, and

    max |qrt - ort|  <=  rtol * max(1, max |ort|)

that is, the largest error is at most rtol of the tensor's own scale (never less than 1, so
that a tensor of tiny values is held to rtol absolute). Elementwise relative error is not the
criterion: it is meaningless for near-zero values (softmax tails, saturated sigmoids), where
two correct fp32 implementations differ by summation order alone. Both errors are printed.

--ctc-keys decodes each [N,T,C] output greedily (CTC: argmax per step, merge repeats, drop the
blank at index 0, class i -> line i-1 of KEYS, the last class a space) and requires the same
text from both runtimes. Exit status 0 when all outputs pass, 1 otherwise.
"""
import argparse
import glob
import os
import sys

import numpy as np


def ctc_decode(probs, keys):
    texts = []
    for seq in probs.argmax(axis=-1):
        chars, prev = [], 0
        for k in seq:
            if k != 0 and k != prev:
                chars.append(keys[k - 1] if k - 1 < len(keys) else "?")
            prev = k
        texts.append("".join(chars))
    return texts


def compare(name, q, o, rtol):
    """Prints one line about this output; returns whether it passes."""
    if q.shape != o.shape or q.dtype != o.dtype:
        print(f"{name}: FAIL qrt {q.dtype}{list(q.shape)} vs ort {o.dtype}{list(o.shape)}")
        return False
    if q.dtype.kind not in "fc":
        equal = np.array_equal(q, o)
        print(f"{name}: {q.dtype}{list(q.shape)} {'exact' if equal else 'FAIL: values differ'}")
        return equal
    q64, o64 = q.astype(np.float64), o.astype(np.float64)
    if not np.isfinite(q64).all():
        print(f"{name}: FAIL qrt output has {np.count_nonzero(~np.isfinite(q64))} non-finite values")
        return False
    err = np.abs(q64 - o64)
    scale = max(1.0, float(np.abs(o64).max())) if o64.size else 1.0
    tol = rtol * scale
    max_abs = float(err.max()) if err.size else 0.0
    # Relative error per element, over elements not near zero (|ort| >= 1e-6 of the scale).
    big = np.abs(o64) >= 1e-6 * scale
    max_rel = float((err[big] / np.abs(o64[big])).max()) if big.any() else 0.0
    at = np.unravel_index(int(err.argmax()), err.shape) if err.size else ()
    ok = max_abs <= tol
    print(f"{name}: {q.dtype}{list(q.shape)} max abs err {max_abs:.3e} at {list(map(int, at))} "
          f"(tolerance {tol:.1e} = {rtol:g} * {scale:.4g}), max rel err {max_rel:.3e} "
          f"-> {'ok' if ok else 'FAIL'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description="Compare qrt and ONNX Runtime outputs (.npy).")
    parser.add_argument("qrt_dir")
    parser.add_argument("ort_dir")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--ctc-keys", help="character list: decode [N,T,C] outputs as CTC text")
    args = parser.parse_args()

    keys = None
    if args.ctc_keys:
        with open(args.ctc_keys, encoding="utf-8") as f:
            keys = [line.rstrip("\n") for line in f] + [" "]

    ort_files = sorted(glob.glob(os.path.join(args.ort_dir, "*.npy")))
    if not ort_files:
        sys.exit(f"compare: no .npy files in {args.ort_dir}")
    ok = True
    for ort_file in ort_files:
        name = os.path.basename(ort_file)
        qrt_file = os.path.join(args.qrt_dir, name)
        if not os.path.exists(qrt_file):
            print(f"{name}: FAIL qrt wrote no {qrt_file}")
            ok = False
            continue
        q, o = np.load(qrt_file), np.load(ort_file)
        ok &= compare(name, q, o, args.rtol)
        if keys is not None and q.ndim == 3 and q.shape == o.shape:
            tq, to = ctc_decode(q, keys), ctc_decode(o, keys)
            same = tq == to
            print(f"{name}: text qrt {tq!r}, ort {to!r}{'' if same else ' FAIL: texts differ'}")
            ok &= same
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
