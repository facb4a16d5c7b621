#!/usr/bin/python3
"""Recomputes the thresholds of a qrt calibration report with numpy (float64), independently of
qrt's C++ code, and compares them with the report's amax (relative tolerance 1e-6).

Usage: recompute_thresholds.py REPORT.json
Prints one line per tensor that differs and a summary; exits 1 if any differs.

The algorithms, as docs/calibration.md states them:
  entropy2/entropy: bin 0 (the zeros) takes bin 1's count; then for i in [128, n]: P = hist[:i], P[i-1] += sum(hist[i:]); Q = hist[:i] merged
    into 128 levels of i // 128 bins (the last level takes the rest), each level's total spread
    evenly over its non-empty bins; KL(P/sum P || Q/sum Q), infinite where Q = 0 < P; the first
    minimal i gives amax = (i + 0.5) * bin_width.
  percentile: linear interpolation inside the bin where the cumulative count reaches p% of all.
  mse: c in [128, n] minimizing sum_b hist[b] * (center_b - clamp(round_half_even(center_b / s),
    127) * s)^2 with center_b = b + 0.5 and s = c / 127 (in bin units); amax = c * bin_width.
  minmax: amax = range_max.
"""
import json
import sys

import numpy as np

LEVELS = 128


def kl_divergence(hist, i):
    p = hist[:i].copy()
    p[i - 1] += hist[i:].sum()
    per_level = i // LEVELS
    level = np.minimum(np.arange(i) // per_level, LEVELS - 1)
    nonempty = hist[:i] > 0
    level_total = np.bincount(level, weights=hist[:i], minlength=LEVELS)
    level_nonempty = np.bincount(level, weights=nonempty.astype(np.float64), minlength=LEVELS)
    q = np.zeros(i)
    q[nonempty] = level_total[level[nonempty]] / level_nonempty[level[nonempty]]
    if q.sum() == 0:
        return np.inf
    p = p / p.sum()
    q = q / q.sum()
    m = p > 0
    if np.any(q[m] == 0):
        return np.inf
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def entropy_amax(hist, bin_width):
    n = len(hist)
    if hist.sum() == 0:
        return 0.0
    if n < LEVELS:
        return n * bin_width
    hist = hist.copy()
    hist[0] = hist[1]  # the zero spike gets its neighbour's count (pytorch-quantization; docs/calibration.md)
    if hist.sum() == 0:
        return 0.0
    divergences = [kl_divergence(hist, i) for i in range(LEVELS, n + 1)]
    best = LEVELS + int(np.argmin(divergences))  # argmin: the first minimum
    return (best + 0.5) * bin_width


def percentile_amax(hist, bin_width, percentile):
    total = hist.sum()
    if total == 0:
        return 0.0
    target = min(max(percentile, 0.0), 100.0) / 100.0 * total
    cumulative = np.cumsum(hist)
    b = int(np.argmax((cumulative >= target) & (hist > 0)))
    below = cumulative[b] - hist[b]
    fraction = min(max((target - below) / hist[b], 0.0), 1.0)
    return (b + fraction) * bin_width


def mse_amax(hist, bin_width):
    n = len(hist)
    if hist.sum() == 0:
        return 0.0
    if n < LEVELS:
        return n * bin_width
    centers = np.arange(n) + 0.5
    errors = []
    for c in range(LEVELS, n + 1):
        s = c / 127.0
        q = np.minimum(np.rint(centers / s), 127.0) * s  # np.rint: round half to even
        errors.append(float(np.sum(hist * (centers - q) ** 2)))
    return (LEVELS + int(np.argmin(errors))) * bin_width


def recompute(t):
    hist = np.asarray(t["histogram"], dtype=np.float64)
    width = float(t["bin_width"])
    algo = t["algorithm"]
    if algo in ("entropy2", "entropy"):
        return entropy_amax(hist, width)
    if algo == "percentile":
        return percentile_amax(hist, width, float(t["percentile"]))
    if algo == "mse":
        return mse_amax(hist, width)
    if algo == "minmax":
        return float(t["range_max"])
    raise ValueError("unknown algorithm " + algo)


def main():
    with open(sys.argv[1]) as f:
        report = json.load(f)
    assert report["format"] == "qrt-calibration-report", report.get("format")
    bad = 0
    for t in report["tensors"]:
        expected = recompute(t)
        got = float(t["amax"])
        tolerance = 1e-6 * max(abs(expected), 1e-30)
        if abs(got - expected) > tolerance:
            bad += 1
            print("MISMATCH %s (%s): report amax %.9g, numpy %.9g (bin width %.9g)"
                  % (t["name"], t["algorithm"], got, expected, t["bin_width"]))
    print("%d of %d tensors match" % (len(report["tensors"]) - bad, len(report["tensors"])))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
