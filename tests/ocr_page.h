// The PP-OCRv4 detector's accuracy checks (cpu_fp16_ocr_test.cpp, cuda_conv_test.cpp): a synthetic
// text page as input and the measures that compare probability maps. Header-only: both test
// binaries include it without a CMake change.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "qrt/qrt.h"
#include "test_util.h"

namespace qrt::test {

// Lines of dark glyph-like marks (each 2-4 bars 2 px thick, 9-14 px tall) on a light page,
// preprocessed as PaddleOCR's detector input (grey value / 255, ImageNet mean/std), [1, 3, h, w].
// Why not random values: on uniform noise the detector's map is ~0 everywhere (mean 1e-4, max
// ~0.36), so a relative error of the map is one of tiny sigmoid tails, noisy from input to input;
// on this page the detector marks every line (about 20% of a 160x224 map above 0.3), the map's
// relative error is well conditioned and the binarized map (DB post-processing's) can be compared.
// Deterministic: its own generator, raw mt19937 words only (no library distribution).
inline std::vector<float> syntheticTextPage(int64_t h, int64_t w, uint32_t seed = 1) {
  std::mt19937 r(seed);
  auto below = [&](int64_t n) { return static_cast<int64_t>(r() % static_cast<uint32_t>(n)); };
  std::vector<float> grey(static_cast<size_t>(h * w), 0.92f);
  auto fill = [&](int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
    for (int64_t y = y0; y < y1 && y < h; ++y)
      for (int64_t x = x0; x < x1 && x < w; ++x) grey[static_cast<size_t>(y * w + x)] = 0.1f;
  };
  for (int64_t y = 6; y + 14 < h;) {
    const int64_t ch = 9 + below(6), cw = ch * 2 / 3;
    const int64_t end = w - 4 - below(w / 3);
    for (int64_t x = 4 + below(12); x + cw < end;) {
      for (int64_t k = 2 + below(3); k > 0; --k) {
        if (below(2)) {
          const int64_t yy = y + below(ch - 1);
          fill(yy, yy + 2, x, x + cw);
        } else {
          const int64_t xx = x + below(cw - 1);
          fill(y, y + ch, xx, xx + 2);
        }
      }
      x += cw + 2;
      if (below(100) < 15) x += cw;  // a word gap
    }
    y += ch + 6 + below(8);
  }
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
  std::vector<float> x(static_cast<size_t>(3 * h * w));
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < grey.size(); ++i) x[c * grey.size() + i] = (grey[i] - mean[c]) / stdev[c];
  return x;
}

// Intersection over union of the two maps binarized at `threshold` (DB post-processing's 0.3);
// 1 when both are empty, 0 on a size mismatch.
inline double binaryIoU(const std::vector<float>& a, const std::vector<float>& b, float threshold = 0.3f) {
  if (a.size() != b.size()) return 0;
  size_t both = 0, either = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool pa = a[i] > threshold, pb = b[i] > threshold;
    both += pa && pb;
    either += pa || pb;
  }
  return either ? double(both) / double(either) : 1.0;
}

// Fraction of the map above `threshold`.
inline double fractionAbove(const std::vector<float>& a, float threshold = 0.3f) {
  size_t n = 0;
  for (float v : a) n += v > threshold;
  return a.empty() ? 0 : double(n) / double(a.size());
}

// The FP16 reference engine's configuration: input `x` at `xd`, every layer pinned to fp16 (the
// reference backend's fp16 emulation computes them).
inline BuilderConfig allLayersFp16Config(const std::string& x, const Dims& xd) {
  BuilderConfig c;
  c.setInputShape(x, xd);
  c.setLayerPrecision("*", Precision::kFP16);
  c.setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  return c;
}

}  // namespace qrt::test
