// The CUDA pooling launchers called directly, against a float64 / exact-integer host computation
// written here from the ONNX definitions (window positions, pads, ceil mode): the int8 / uint8
// MaxPool in NHWC (16, 8 and 4 channels per load, and the one-element fallback for other channel
// counts and misaligned tensors) and NCHW, and GlobalAveragePool / GlobalMaxPool in both layouts,
// fp32 and fp16, including the plane-splitting plans for few channels over large planes. Layouts
// and alignments are chosen directly here, where an engine would pick them itself. Outputs and
// the workspace are poisoned before every launch; inputs are fresh random values; the global
// pools must also be bit-identical from run to run (no atomics). Skips without a GPU (CI).
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaPool, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/int8_launch.h"
#include "backends/cuda/launch.h"
#include "backends/cuda/pool_geometry.h"
#include "core/half.h"
#include "core/status_macros.h"
#include "cuda_test_util.h"

namespace qrt {
namespace {

using test::rng;

using test::DeviceBuffer;
using test::expectLaunched;
using test::kPoison;

// ---- int8 / uint8 MaxPool ----

struct PoolCase {
  int64_t n, c, h, w;
  int64_t kh, kw, sh, sw;
  int64_t pt, pl, pb, pr;  // pads: top, left, bottom, right
  int64_t dh = 1, dw = 1;
  bool ceil = false;
};

// ONNX output extent of one spatial dim (MaxPool, explicit pads): floor or ceil of
// (in + pads - dilated kernel) / stride + 1, a ceil window starting in the end pad dropped.
int64_t outExtent(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d, bool ceil) {
  const int64_t span = in + pb + pe - ((k - 1) * d + 1);
  int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (out - 1) * s >= in + pb) --out;
  return out;
}

// The max over each window of x stored NHWC or NCHW; dims [n, c, oh, ow] logical.
template <typename T>
std::vector<T> hostMaxPool(const std::vector<T>& x, const PoolCase& p, bool nhwc, int64_t oh, int64_t ow) {
  std::vector<T> y(static_cast<size_t>(p.n * p.c * oh * ow));
  auto xi = [&](int64_t n, int64_t c, int64_t h, int64_t w) {
    return nhwc ? ((n * p.h + h) * p.w + w) * p.c + c : ((n * p.c + c) * p.h + h) * p.w + w;
  };
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          T best = std::numeric_limits<T>::lowest();
          for (int64_t a = 0; a < p.kh; ++a)
            for (int64_t b = 0; b < p.kw; ++b) {
              const int64_t h = i * p.sh - p.pt + a * p.dh, w = j * p.sw - p.pl + b * p.dw;
              if (h < 0 || h >= p.h || w < 0 || w >= p.w) continue;
              best = std::max(best, x[static_cast<size_t>(xi(n, c, h, w))]);
            }
          const int64_t o = nhwc ? ((n * oh + i) * ow + j) * p.c + c : ((n * p.c + c) * oh + i) * ow + j;
          y[static_cast<size_t>(o)] = best;
        }
  return y;
}

std::string caseName(const PoolCase& p, DataType t, bool nhwc, size_t offset) {
  return std::string(dataTypeName(t)) + (nhwc ? " NHWC" : " NCHW") + " C=" + std::to_string(p.c) + " " +
         std::to_string(p.kh) + "x" + std::to_string(p.kw) + " s" + std::to_string(p.sh) + " pads " +
         std::to_string(p.pt) + std::to_string(p.pl) + std::to_string(p.pb) + std::to_string(p.pr) + " d" +
         std::to_string(p.dh) + (p.ceil ? " ceil" : "") + " offset " + std::to_string(offset);
}

// The kernels' geometry of case p and its output extents (checked against ONNX's formula).
Result<cuda::launch::PoolGeometry> caseGeometry(const PoolCase& p, bool nhwc, int64_t* oh, int64_t* ow) {
  WindowAttrs a;
  a.where = "MaxPool test";
  a.kernel_shape = {p.kh, p.kw};
  a.strides = {p.sh, p.sw};
  a.pads = {p.pt, p.pl, p.pb, p.pr};
  a.dilations = {p.dh, p.dw};
  a.ceil_mode = p.ceil;
  QRT_ASSIGN_OR_RETURN(cuda::launch::PoolGeometry g, cuda::poolGeometry(a, {p.n, p.c, p.h, p.w}, nhwc, "MaxPool test"));
  *oh = outExtent(p.h, p.kh, p.sh, p.pt, p.pb, p.dh, p.ceil);
  *ow = outExtent(p.w, p.kw, p.sw, p.pl, p.pr, p.dw, p.ceil);
  if (g.out[1] != *oh || g.out[2] != *ow) return internalError("pool geometry ", g.out[1], "x", g.out[2], " != ONNX's");
  return g;
}

void checkMaxPoolInt8(const PoolCase& p, DataType t, bool nhwc, size_t offset) {
  SCOPED_TRACE(caseName(p, t, nhwc, offset));
  int64_t oh = 0, ow = 0;
  auto g = caseGeometry(p, nhwc, &oh, &ow);
  ASSERT_TRUE(g.ok()) << g.status().toString();

  const bool is_signed = t == DataType::kInt8;
  std::uniform_int_distribution<int> dist(is_signed ? -128 : 0, is_signed ? 127 : 255);
  std::vector<int> xv(static_cast<size_t>(p.n * p.c * p.h * p.w));
  for (int& v : xv) v = dist(rng());
  std::vector<uint8_t> xb(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) xb[i] = static_cast<uint8_t>(xv[i]);
  const std::vector<int> want = hostMaxPool(xv, p, nhwc, oh, ow);

  DeviceBuffer x = DeviceBuffer::make(xb.size(), offset), y = DeviceBuffer::make(want.size(), offset);
  ASSERT_TRUE(x.at && y.at);
  x.upload(xb.data());
  cuda::launch::maxPoolInt8(t, x.at, y.at, *g, nullptr);
  expectLaunched("maxPoolInt8");
  const std::vector<uint8_t> got = y.download<uint8_t>();
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const int v = is_signed ? static_cast<int>(static_cast<int8_t>(got[i])) : static_cast<int>(got[i]);
    if (v != want[i] && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << "first mismatch at " << first << " of " << want.size();
}

TEST(CudaPool, MaxPoolInt8Nhwc) {
  QRT_REQUIRE_GPU();
  const PoolCase geometries[] = {
      {2, 0, 13, 11, 3, 3, 2, 2, 1, 1, 1, 1},          // ResNet's stem pool
      {2, 0, 9, 10, 2, 2, 2, 2, 0, 0, 0, 0},           // 2x2 s2
      {1, 0, 8, 7, 3, 3, 1, 1, 1, 0, 0, 1},            // s1, asymmetric pads
      {2, 0, 12, 13, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, true},  // ceil mode
      {1, 0, 11, 12, 2, 3, 1, 2, 1, 1, 0, 1, 2, 1},    // dilation, rectangular window
  };
  for (DataType t : {DataType::kInt8, DataType::kUInt8})
    for (int64_t c : {16, 64, 24, 3, 4})
      for (PoolCase p : geometries) {
        p.c = c;
        checkMaxPoolInt8(p, t, true, 0);
      }
  // Offsets that break 16- and 8-byte alignment take the narrower loads or the scalar kernel.
  PoolCase p = geometries[0];
  p.c = 64;
  for (size_t offset : {4, 8, 1}) checkMaxPoolInt8(p, DataType::kInt8, true, offset);
  // A larger stem-like pool (many blocks, grid-stride loop).
  checkMaxPoolInt8({8, 64, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1}, DataType::kInt8, true, 0);
}

TEST(CudaPool, MaxPoolInt8Nchw) {
  QRT_REQUIRE_GPU();
  for (DataType t : {DataType::kInt8, DataType::kUInt8}) {
    checkMaxPoolInt8({2, 5, 11, 9, 3, 3, 2, 2, 1, 1, 1, 1}, t, false, 0);
    checkMaxPoolInt8({1, 16, 12, 13, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, true}, t, false, 0);
  }
}

// ---- MaxPoolQuantize: fp32 / fp16 MaxPool with a quantizing store ----

std::vector<uint8_t> encodeFloat(std::vector<double>& v, DataType t);

// y = saturate(round_half_even(max / scale) + zero), the division in fp32 as QuantizeLinear's.
void checkMaxPoolQuantize(const PoolCase& p, DataType xt, DataType yt, bool nhwc, size_t offset) {
  SCOPED_TRACE(caseName(p, xt, nhwc, offset) + " -> " + dataTypeName(yt));
  int64_t oh = 0, ow = 0;
  auto g = caseGeometry(p, nhwc, &oh, &ow);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  std::uniform_real_distribution<double> dist(-2, 2);
  std::vector<double> x(static_cast<size_t>(p.n * p.c * p.h * p.w));
  for (double& v : x) v = dist(rng());
  const std::vector<uint8_t> xb = encodeFloat(x, xt);  // x now holds the values as stored
  const std::vector<double> pooled = hostMaxPool(x, p, nhwc, oh, ow);
  const float scale = 0.0173f;
  const int zero = yt == DataType::kInt8 ? -3 : 120;
  std::vector<int> want(pooled.size());
  for (size_t i = 0; i < pooled.size(); ++i) {
    const float q = static_cast<float>(pooled[i]) / scale;
    want[i] = std::clamp(static_cast<int>(std::nearbyint(q)) + zero, yt == DataType::kInt8 ? -128 : 0,
                         yt == DataType::kInt8 ? 127 : 255);
  }
  DeviceBuffer xd = DeviceBuffer::make(xb.size(), offset * dataTypeSize(xt));
  DeviceBuffer yd = DeviceBuffer::make(want.size(), offset);
  ASSERT_TRUE(xd.at && yd.at);
  xd.upload(xb.data());
  cuda::launch::maxPoolQuantize(xt, xd.at, yt, yd.at, *g, scale, static_cast<float>(zero), nullptr);
  expectLaunched("maxPoolQuantize");
  const std::vector<uint8_t> got = yd.download<uint8_t>();
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const int v = yt == DataType::kInt8 ? static_cast<int>(static_cast<int8_t>(got[i])) : static_cast<int>(got[i]);
    if (v != want[i] && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << "first mismatch at " << first << " of " << want.size();
}

TEST(CudaPool, MaxPoolQuantize) {
  QRT_REQUIRE_GPU();
  const PoolCase stem{2, 64, 13, 11, 3, 3, 2, 2, 1, 1, 1, 1};  // ResNet's stem pool
  for (DataType xt : {DataType::kHalf, DataType::kFloat})
    for (DataType yt : {DataType::kInt8, DataType::kUInt8}) {
      checkMaxPoolQuantize(stem, xt, yt, true, 0);   // the vector path (8 halves / 4 floats a thread)
      checkMaxPoolQuantize(stem, xt, yt, false, 0);  // NCHW: one output a thread
    }
  // C not a multiple of the vector, and a y that breaks the 8-byte store: the scalar kernel.
  PoolCase odd = stem;
  odd.c = 12;
  checkMaxPoolQuantize(odd, DataType::kHalf, DataType::kInt8, true, 0);
  checkMaxPoolQuantize(stem, DataType::kHalf, DataType::kInt8, true, 4);
  // Ceil mode with dilation, and a larger stem (many blocks, grid-stride loop).
  checkMaxPoolQuantize({1, 16, 12, 13, 3, 3, 2, 2, 0, 1, 1, 0, 2, 2, true}, DataType::kHalf, DataType::kInt8, true, 0);
  checkMaxPoolQuantize({8, 64, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1}, DataType::kHalf, DataType::kInt8, true, 0);
}

// ---- global pooling ----

// fp32 / fp16 bytes of v (fp16: v is rounded to fp16 in place, so the reference sees the
// values the GPU reads).
std::vector<uint8_t> encodeFloat(std::vector<double>& v, DataType t) {
  std::vector<uint8_t> b(v.size() * dataTypeSize(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DataType::kHalf) {
      const uint16_t h = floatToHalf(static_cast<float>(v[i]));
      v[i] = halfToFloat(h);
      std::memcpy(&b[i * 2], &h, 2);
    } else {
      const float f = static_cast<float>(v[i]);
      v[i] = f;
      std::memcpy(&b[i * 4], &f, 4);
    }
  }
  return b;
}

std::vector<double> decodeFloat(const std::vector<uint8_t>& b, DataType t) {
  const size_t e = dataTypeSize(t);
  std::vector<double> v(b.size() / e);
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DataType::kHalf) {
      uint16_t h;
      std::memcpy(&h, &b[i * 2], 2);
      v[i] = halfToFloat(h);
    } else {
      float f;
      std::memcpy(&f, &b[i * 4], 4);
      v[i] = f;
    }
  }
  return v;
}

void checkGlobalPool(const Dims& d, DataType t, bool nhwc, bool max, size_t offset = 0) {
  const int64_t n = d[0], c = d[1], spatial = d[2] * d[3];
  SCOPED_TRACE(std::string(max ? "GlobalMaxPool " : "GlobalAveragePool ") + dimsToString(d) + " " +
               dataTypeName(t) + (nhwc ? " NHWC" : " NCHW") + " offset " + std::to_string(offset));
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<double> x(static_cast<size_t>(n * c * spatial));
  for (double& v : x) v = dist(rng());
  const std::vector<uint8_t> xb = encodeFloat(x, t);

  // Reference in float64; mean |x| of each (n, c) scales the accumulated rounding.
  std::vector<double> want(static_cast<size_t>(n * c)), scale(static_cast<size_t>(n * c));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch) {
      double acc = max ? -1e300 : 0, mag = 0;
      for (int64_t s = 0; s < spatial; ++s) {
        const double v = x[static_cast<size_t>(nhwc ? (b * spatial + s) * c + ch : (b * c + ch) * spatial + s)];
        acc = max ? std::max(acc, v) : acc + v;
        mag += std::fabs(v);
      }
      want[static_cast<size_t>(b * c + ch)] = max ? acc : acc / static_cast<double>(spatial);
      scale[static_cast<size_t>(b * c + ch)] = mag / static_cast<double>(spatial);
    }

  const cuda::launch::GlobalPoolPlan plan = cuda::launch::globalPoolPlan(t, n, c, spatial, nhwc);
  DeviceBuffer xd = DeviceBuffer::make(xb.size(), offset);
  DeviceBuffer yd = DeviceBuffer::make(static_cast<size_t>(n * c) * dataTypeSize(t));
  DeviceBuffer ws = DeviceBuffer::make(plan.workspaceBytes());
  ASSERT_TRUE(xd.at && yd.at && ws.at);
  xd.upload(xb.data());
  std::vector<uint8_t> first;
  for (int run = 0; run < 2; ++run) {
    ASSERT_TRUE(cuda::fillDevice(yd.at, kPoison, yd.bytes).ok());
    ASSERT_TRUE(cuda::fillDevice(ws.at, kPoison, ws.bytes).ok());
    cuda::launch::globalPool(t, max, xd.at, yd.at, plan, ws.at, nullptr);
    expectLaunched("globalPool");
    std::vector<uint8_t> got = yd.download<uint8_t>();
    if (run == 1) {
      EXPECT_TRUE(got == first) << "two runs differ (splits " << plan.splits << ")";
      break;
    }
    first = got;
    const std::vector<double> g = decodeFloat(got, t);
    // fp32: accumulation error over `spatial` fp32 adds; fp16: the output's rounding too.
    const double tol = max ? 0 : (t == DataType::kHalf ? 1e-3 : 1e-5);
    size_t bad = 0, worst = 0;
    double worst_err = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double err = std::fabs(g[i] - want[i]);
      if (!(err <= tol * (scale[i] + std::fabs(want[i])))) {
        if (bad++ == 0 || err > worst_err) worst = i;
        worst_err = std::max(worst_err, std::isnan(err) ? 1e300 : err);
      }
    }
    EXPECT_EQ(bad, 0u) << "worst at " << worst << ": got " << g[worst] << " want " << want[worst] << " (plan kind "
                       << plan.kind << ", splits " << plan.splits << ")";
  }
}

TEST(CudaPool, GlobalPool) {
  QRT_REQUIRE_GPU();
  const Dims shapes[] = {{1, 8, 320, 320}, {1, 96, 160, 160}, {2, 3, 7, 7}, {256, 2048, 7, 7}, {3, 37, 7, 9}, {2, 5, 33, 40}};
  for (const Dims& d : shapes)
    for (DataType t : {DataType::kFloat, DataType::kHalf})
      for (bool nhwc : {false, true})
        for (bool max : {false, true}) {
          if (max && d[0] == 256 && t == DataType::kFloat) continue;  // the large shape once per layout suffices for max
          checkGlobalPool(d, t, nhwc, max);
        }
  // A misaligned NHWC input reads one channel per thread with the planned splits.
  checkGlobalPool({1, 96, 160, 160}, DataType::kHalf, true, false, 2);
  checkGlobalPool({1, 8, 320, 320}, DataType::kFloat, true, false, 4);
}

// The plans do split the large planes of few channels (what the SE blocks of PP-OCRv4 need).
TEST(CudaPool, GlobalPoolPlansSplitLargePlanes) {
  using cuda::launch::GlobalPoolPlan;
  const GlobalPoolPlan a = cuda::launch::globalPoolPlan(DataType::kHalf, 1, 96, 160 * 160, true);
  EXPECT_EQ(a.kind, GlobalPoolPlan::kNhwc);
  EXPECT_TRUE(a.vector);
  EXPECT_GT(a.splits, 1);
  EXPECT_GE(a.splits * a.chunk, 160 * 160);
  const GlobalPoolPlan b = cuda::launch::globalPoolPlan(DataType::kFloat, 1, 8, 320 * 320, false);
  EXPECT_EQ(b.kind, GlobalPoolPlan::kRowSplit);
  EXPECT_GT(b.splits, 1);
  EXPECT_GE(b.splits * b.chunk, 320 * 320);
  EXPECT_EQ(b.workspaceBytes(), static_cast<size_t>(8 * b.splits) * sizeof(float));
  const GlobalPoolPlan c = cuda::launch::globalPoolPlan(DataType::kHalf, 256, 2048, 49, true);
  EXPECT_EQ(c.splits, 1);
  EXPECT_EQ(c.workspaceBytes(), 0u);
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
