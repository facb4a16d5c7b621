#!/usr/bin/env python3
"""Lane-level emulator of the stem row-tile kernels' fragment loads with tap pairs (StemGeometry::pairs;
src/backends/cuda/stem_device.cuh rowsTables / rowsProductT, stem_conv.cu stemPackWeights / stemTapPairs).

For each geometry: the weights packed in the NCHW patch order with each patch row padded to an even number of
taps, the ktab offsets as rowsTables computes them, the input window staged as stageWindow does (fp16, zeros
outside the image), each m16 tile's base offsets b0 / b1 as stemRowsKernel computes them, and every lane's four A
registers read as 32-bit words X32[(b >> 1) + (o >> 1)] (low half k, high half k + 1), then the m16n8k16 products
summed; checks that every word read is the pair the mma expects (o.y = o.x + 1, even offsets) and that the result
is a float64 convolution of the same fp16 values. --mutate pitch (ktab with the unpadded pitch) and --mutate odd
(the window one column off, so the pairs sit at odd offsets) must fail.

usage: stem_pairs_emulator.py [--mutate pitch|odd]
"""
import argparse
import sys

import numpy as np

MUTATE = None


def kpad(k):
    return (k + 15) // 16 * 16


def emulate(x, w, sh, sw, ph, pw, rows=16):
    N, C, H, W = x.shape
    M, _, kh, kw = w.shape
    oh = (H + 2 * ph - kh) // sh + 1
    ow = (W + 2 * pw - kw) // sw + 1
    assert sw % 2 == 0, "tap pairs need an even column stride"
    pitch = (kw + 1) & ~1
    k_pad = kpad(C * kh * pitch)
    tw = min((ow + 15) // 16, 8) * 16
    rows = min(rows, oh)
    SR = (rows - 1) * sh + kh
    WP = ((tw - 1) * sw + kw + 1) & ~1
    # stemPackWeights (NCHW, pairs)
    wp = np.zeros((M, k_pad))
    for c in range(C):
        for r in range(kh):
            for s in range(kw):
                wp[:, (c * kh + r) * pitch + s] = w[:, c, r, s]
    # rowsTables' ktab: offsets of k = 2q, 2q + 1, 2q + 8, 2q + 9 of each k-step
    tp = kw if MUTATE == "pitch" else pitch
    taps = kh * tp
    K = taps * C

    def off(k):
        if k >= K:
            return 0
        c, t = k // taps, k % taps
        return (c * SR + t // tp) * WP + t % tp

    ksteps = k_pad // 16
    ktab = [[[off(ks * 16 + 2 * q + (j & 1) + (j >> 1) * 8) for j in range(4)] for q in range(4)]
            for ks in range(ksteps)]
    y = np.full((N, oh, ow, M), np.nan)
    chunks = (ow + tw - 1) // tw
    bands = (oh + rows - 1) // rows
    ct = tw // 16
    shift = 1 if MUTATE == "odd" else 0
    for n in range(N):
        for band in range(bands):
            for cx in range(chunks):
                oy0, ox0 = band * rows, cx * tw
                iy0, ix0 = oy0 * sh - ph, ox0 * sw - pw
                X = np.zeros(C * SR * WP + 2, dtype=np.float16)
                for c in range(C):
                    for rr in range(SR):
                        iy = iy0 + rr
                        if not 0 <= iy < H:
                            continue
                        for col in range(WP):
                            ix = ix0 + col
                            if 0 <= ix < W:
                                X[(c * SR + rr) * WP + col + shift] = x[n, c, iy, ix]
                units = rows * ct
                for u in range(units):
                    b0 = (u // ct) * sh * WP + ((u % ct) * 16) * sw  # lane g8 adds g8 * sw below
                    A = np.zeros((16, k_pad))
                    for ks in range(ksteps):
                        for lane in range(32):
                            g8, t4 = lane >> 2, lane & 3
                            o = ktab[ks][t4]
                            for h in (0, 2):  # a pair within the patch (past it the weights are zero)
                                if ks * 16 + 2 * t4 + 4 * h < K and (o[h + 1] != o[h] + 1 or o[h] % 2):
                                    raise AssertionError(f"k-step {ks} lane {lane}: offsets {o} are no aligned pair")
                            for reg, (prow, kofs, ob) in enumerate([(g8, 0, o[0]), (g8 + 8, 0, o[0]),
                                                                   (g8, 8, o[2]), (g8 + 8, 8, o[2])]):
                                b = b0 + prow * sw
                                assert b % 2 == 0
                                word = (b >> 1) + (ob >> 1)
                                lo, hi = X[2 * word], X[2 * word + 1]
                                k = ks * 16 + 2 * t4 + kofs
                                A[prow, k] = lo
                                A[prow, k + 1] = hi
                    D = A.astype(np.float64) @ wp.T.astype(np.float64)
                    oy = oy0 + u // ct
                    for p in range(16):
                        ox = ox0 + (u % ct) * 16 + p
                        if oy < oh and ox < ow:
                            y[n, oy, ox] = D[p]
    return y


def reference(x, w, sh, sw, ph, pw):
    N, C, H, W = x.shape
    M, _, kh, kw = w.shape
    xp = np.zeros((N, C, H + 2 * ph + kh, W + 2 * pw + kw))
    xp[:, :, ph:ph + H, pw:pw + W] = x.astype(np.float16).astype(np.float64)
    oh = (H + 2 * ph - kh) // sh + 1
    ow = (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, oh, ow, M))
    for r in range(kh):
        for s in range(kw):
            patch = xp[:, :, r:r + sh * oh:sh, s:s + sw * ow:sw]  # N C oh ow
            y += np.einsum("ncij,mc->nijm", patch, w[:, :, r, s].astype(np.float64))
    return y


def main():
    global MUTATE
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutate", choices=["pitch", "odd"])
    MUTATE = ap.parse_args().mutate
    rng = np.random.default_rng(7)
    cases = [  # (x, w, strides, pads, rows)
        ((1, 3, 40, 44), (64, 3, 7, 7), 2, 3, 16),   # ResNet's stem form, a partial band
        ((1, 3, 15, 16), (32, 3, 3, 3), 2, 1, 16),   # 3x3 stride 2
        ((2, 1, 19, 21), (8, 1, 5, 5), 2, 2, 4),     # 5x5 stride 2, C = 1, several bands
        ((1, 3, 10, 11), (16, 3, 4, 4), 2, 1, 16),   # even kw: no padding tap
        ((1, 3, 12, 300), (8, 3, 3, 3), 2, 1, 2),    # two column chunks
    ]
    bad = 0
    for xs, ws, st, pd, rows in cases:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) * 0.1).astype(np.float16).astype(np.float64)
        try:
            got = emulate(x, w, st, st, pd, pd, rows)
        except AssertionError as e:
            print(f"{xs} {ws}: {e}")
            bad += 1
            continue
        want = reference(x, w, st, st, pd, pd)
        err = np.nanmax(np.abs(got - want)) if not np.isnan(got).any() else np.inf
        print(f"{xs} {ws} stride {st}: max |diff| {err:.3g}")
        bad += not err < 1e-9
    print("FAIL" if bad else "ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
