// qrt's int8 implicit-GEMM kernels (qconv_igemm.cu: tiles 0-9; sm90a/qconv_wgmma.cu: tiles 10-42;
// sm90a/qconv_halo.cu: tile 43)
// launched directly, with float output and unit scales (mult 1, bias 0: y = float(acc), exact below
// 2^24), and with int8 output scaled by a power of two (y = saturate(round_half_even(acc * 2^-k)),
// exact too: the int8 epilogues, the register one of tiles 18-23 included), against an exact int64
// convolution written here: every tile on 1x1 (the unit path and a
// strided one) and 3x3 padded layers with partial pixel and channel tiles. Where the engine-level
// tests (CudaQres) only see values off by more than a step, this says which output is wrong and
// whether its value belongs to another channel or pixel of the reference (a fragment, descriptor
// or staging layout error) or to none (data or pipeline). The output is poisoned before each
// launch. Skips without a GPU (CI); the wgmma tiles skip on GPUs other than compute capability 9.0.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaIgemmKernel, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/qconv_igemm_launch.h"
#include "cuda_test_util.h"

namespace qrt {
namespace {

using cuda::launch::IgemmGeometry;
namespace launch = cuda::launch;
using test::DeviceBuffer;

struct Layer {
  const char* name;
  int n, c, h, w, m, k, stride, pad;
};

IgemmGeometry geometryOf(const Layer& l) {
  IgemmGeometry g;
  g.n = l.n;
  g.c = l.c;
  g.h = l.h;
  g.w = l.w;
  g.m = l.m;
  g.kh = g.kw = l.k;
  g.sh = g.sw = l.stride;
  g.ph = g.pw = l.pad;
  g.oh = (l.h + 2 * l.pad - l.k) / l.stride + 1;
  g.ow = (l.w + 2 * l.pad - l.k) / l.stride + 1;
  return g;
}

// acc[pixel][channel] of the NHWC int8 x and [M, C, kh, kw] int8 w.
std::vector<int64_t> exactConv(const IgemmGeometry& g, const std::vector<int8_t>& x, const std::vector<int8_t>& w) {
  std::vector<int64_t> acc(static_cast<size_t>(g.n) * g.oh * g.ow * g.m, 0);
  for (int b = 0; b < g.n; ++b)
    for (int oy = 0; oy < g.oh; ++oy)
      for (int ox = 0; ox < g.ow; ++ox)
        for (int o = 0; o < g.m; ++o) {
          int64_t s = 0;
          for (int r = 0; r < g.kh; ++r)
            for (int q = 0; q < g.kw; ++q) {
              const int iy = oy * g.sh - g.ph + r, ix = ox * g.sw - g.pw + q;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              const int8_t* px = &x[((static_cast<size_t>(b) * g.h + iy) * g.w + ix) * g.c];
              for (int i = 0; i < g.c; ++i) s += int64_t{px[i]} * w[((static_cast<size_t>(o) * g.c + i) * g.kh + r) * g.kw + q];
            }
          acc[((static_cast<size_t>(b) * g.oh + oy) * g.ow + ox) * g.m + o] = s;
        }
  return acc;
}

// Where a wrong value came from: the channels of its pixel and the pixels of its channel whose
// reference value it equals (a few), or "none".
std::string whereFrom(float got, size_t pixel, int channel, const std::vector<float>& want, int m, size_t pixels) {
  std::ostringstream s;
  int found = 0;
  for (int o = 0; o < m && found < 3; ++o)
    if (o != channel && want[pixel * m + o] == got) s << " channel " << o << (++found, "");
  for (size_t p = 0; p < pixels && found < 6; ++p)
    if (p != pixel && want[p * m + channel] == got) s << " pixel " << p << (++found, "");
  return found ? "equals the reference at" + s.str() : "matches no nearby reference value";
}

// got == want for every output of `pixels` x m; else the count and the first few, traced.
void expectExact(const std::vector<float>& got, const std::vector<float>& want, size_t pixels, int m) {
  size_t wrong = 0;
  std::ostringstream first;
  for (size_t p = 0; p < pixels; ++p)
    for (int o = 0; o < m; ++o) {
      const float v = got[p * m + o], r = want[p * m + o];
      if (v == r) continue;
      if (++wrong <= 4)
        first << "\n  pixel " << p << " channel " << o << ": " << v << ", expected " << r << "; "
              << whereFrom(v, p, o, want, m, pixels);
    }
  EXPECT_EQ(wrong, 0u) << wrong << " of " << pixels * m << " outputs wrong" << first.str();
}

// Random int8 x and w of layer l, and the int8 y of the exact product scaled by a power of two
// (y = saturate(round_half_even(acc * scale))), that scale putting most values in range.
struct Int8Case {
  IgemmGeometry g;
  std::vector<int8_t> x, packed;
  std::vector<float> want, want_f;  // int8 y; float y (the products themselves, exact below 2^24)
  float scale = 1.f;
};
Int8Case int8Case(const Layer& l, std::mt19937& rng) {
  Int8Case k;
  k.g = geometryOf(l);
  const IgemmGeometry& g = k.g;
  std::uniform_int_distribution<int> byte(-128, 127);
  k.x.resize(static_cast<size_t>(g.n) * g.h * g.w * g.c);
  std::vector<int8_t> w(static_cast<size_t>(g.m) * g.c * g.kh * g.kw);
  for (auto& v : k.x) v = static_cast<int8_t>(byte(rng));
  for (auto& v : w) v = static_cast<int8_t>(byte(rng));
  const std::vector<int64_t> acc = exactConv(g, k.x, w);
  int64_t most = 1;
  for (int64_t a : acc) most = std::max(most, a < 0 ? -a : a);
  const int shift = std::max(0, static_cast<int>(std::ceil(std::log2(static_cast<double>(most) / 100.0))));
  k.scale = std::ldexp(1.f, -shift);
  k.want.resize(acc.size());
  k.want_f.resize(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    k.want_f[i] = static_cast<float>(acc[i]);
    k.want[i] = std::min(127.f, std::max(-128.f, std::nearbyint(k.want_f[i] * k.scale)));
  }
  k.packed = launch::igemmWeights(w.data(), g.m, g.c, g.kh, g.kw);
  return k;
}

// The halo tile (43) on its own layers, with the one-wave grid and with grids of one and three CTAs a
// channel block, so that each CTA walks many tiles through both halo buffers (their parities wrap)
// and the resident weights: rows as wide as its box allows (63), partial pixel and channel tiles,
// fewer than 64 channels (the box's zero columns), tiles across images. Exact int8 y.
TEST(CudaIgemmKernel, HaloTileWalksItsTiles) {
  QRT_REQUIRE_GPU();
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  if (prop.major * 10 + prop.minor != launch::kIgemmWgmmaSm) GTEST_SKIP() << "the halo tile runs on sm_90 only";
  constexpr int kTile = 43;
  ASSERT_TRUE(launch::kIgemmTiles[kTile].halo);
  const Layer layers[] = {
      {"3x3 pad 1 C=64 -> 64, 2 images of 9 x 56 (layer1 conv2's rows)", 2, 64, 9, 56, 64, 3, 1, 1},
      {"3x3 pad 1 C=48 -> 80, 3 images of 7 x 30 (two channel blocks, one partial)", 3, 48, 7, 30, 80, 3, 1, 1},
      {"3x3 pad 1 C=16 -> 32, 5 x 63 (the widest rows)", 1, 16, 5, 63, 32, 3, 1, 1},
  };
  std::mt19937 rng(11);
  for (const Layer& l : layers) {
    const Int8Case k = int8Case(l, rng);
    const IgemmGeometry& g = k.g;
    ASSERT_TRUE(launch::haloFits(g)) << l.name;
    const int n_tiles = (g.m + 63) / 64;
    const size_t pixels = static_cast<size_t>(g.n) * g.oh * g.ow;
    const std::vector<float> scales(static_cast<size_t>(g.m), k.scale), zeros(static_cast<size_t>(g.m), 0.f);
    DeviceBuffer xd = DeviceBuffer::make(k.x.size()), wd = DeviceBuffer::make(k.packed.size());
    DeviceBuffer sd = DeviceBuffer::make(scales.size() * 4), bd = DeviceBuffer::make(zeros.size() * 4);
    xd.upload(k.x.data());
    wd.upload(k.packed.data());
    sd.upload(scales.data());
    bd.upload(zeros.data());
    const int wave = launch::igemmPersistentGrid(g, false, kTile);
    ASSERT_GT(wave, 0) << l.name;
    ASSERT_EQ(wave % n_tiles, 0) << l.name << ": the grid is a whole number of CTAs a channel block";
    for (const int grid : {wave, n_tiles, 3 * n_tiles}) {
      SCOPED_TRACE(std::string(l.name) + ", grid " + std::to_string(grid));
      launch::IgemmEpilogue e;
      e.mult = reinterpret_cast<const float*>(sd.at);
      e.bias = reinterpret_cast<const float*>(bd.at);
      e.y_int8 = true;
      DeviceBuffer yd = DeviceBuffer::make(pixels * g.m);
      ASSERT_TRUE(launch::qconvHalo(reinterpret_cast<const int8_t*>(xd.at), reinterpret_cast<const int8_t*>(wd.at),
                                    reinterpret_cast<int8_t*>(yd.at), g, e, grid, nullptr));
      test::expectLaunched("qconvHalo");
      const std::vector<int8_t> bytes = yd.download<int8_t>();
      expectExact(std::vector<float>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(pixels * g.m)), k.want,
                  pixels, g.m);
    }
  }
}

// The resident-weight tiles (44-47) on 1x1 layers, with and without a residual z (z_scale 1: y =
// saturate(round_half_even(acc * 2^-k + z)), exact in float), with the one-wave grid and with grids of
// one and three CTAs a channel block, so that each CTA walks many tiles through both buffers: one to
// four 64-deep slices, channels past C (the box's zero columns), a partial channel block.
TEST(CudaIgemmKernel, ResidentTilesWalkTheirTiles) {
  QRT_REQUIRE_GPU();
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  if (prop.major * 10 + prop.minor != launch::kIgemmWgmmaSm) GTEST_SKIP() << "the resident tiles run on sm_90 only";
  const Layer layers[] = {
      {"1x1 C=64 -> 256, 2 images of 9 x 56 (layer1 conv3's channels)", 2, 64, 9, 56, 256, 1, 1, 0},
      {"1x1 C=256 -> 80, 20 x 20 (four slices, a partial channel block)", 1, 256, 20, 20, 80, 1, 1, 0},
      {"1x1 C=48 -> 144, 3 images of 7 x 9 (channels past C, two blocks)", 3, 48, 7, 9, 144, 1, 1, 0},
      {"1x1 C=128 -> 256, 2 images of 5 x 13 (one 128-deep slice)", 2, 128, 5, 13, 256, 1, 1, 0},
      {"1x1 stride 2, C=256 -> 128, 2 images of 13 x 11 (x by im2col, tiles across images)", 2, 256, 13, 11, 128, 1,
       2, 0},
      {"1x1 stride 2, C=64 -> 144, 3 images of 9 x 8 (im2col, 64-deep slices, two blocks)", 3, 64, 9, 8, 144, 1, 2,
       0},
  };
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> byte(-128, 127);
  for (const Layer& l : layers) {
    const Int8Case k = int8Case(l, rng);
    const IgemmGeometry& g = k.g;
    ASSERT_TRUE(launch::residentFits(g)) << l.name;
    const size_t pixels = static_cast<size_t>(g.n) * g.oh * g.ow;
    std::vector<int8_t> z(pixels * g.m);
    for (auto& v : z) v = static_cast<int8_t>(byte(rng));
    std::vector<float> want_z(z.size());
    for (size_t i = 0; i < z.size(); ++i)
      want_z[i] = std::min(127.f, std::max(-128.f, std::nearbyint(k.want_f[i] * k.scale + static_cast<float>(z[i]))));
    const std::vector<float> scales(static_cast<size_t>(g.m), k.scale), zeros(static_cast<size_t>(g.m), 0.f);
    DeviceBuffer xd = DeviceBuffer::make(k.x.size()), wd = DeviceBuffer::make(k.packed.size());
    DeviceBuffer sd = DeviceBuffer::make(scales.size() * 4), bd = DeviceBuffer::make(zeros.size() * 4);
    DeviceBuffer zd = DeviceBuffer::make(z.size());
    xd.upload(k.x.data());
    wd.upload(k.packed.data());
    sd.upload(scales.data());
    bd.upload(zeros.data());
    zd.upload(z.data());
    const int n_tiles = (g.m + 127) / 128;
    for (const int tile : {44, 45, 46, 47}) {
      ASSERT_TRUE(launch::kIgemmTiles[tile].resident);
      const int wave = launch::igemmPersistentGrid(g, true, tile);
      ASSERT_GT(wave, 0) << l.name;
      ASSERT_EQ(wave % n_tiles, 0) << l.name << ": the grid is a whole number of CTAs a channel block";
      for (const bool with_z : {false, true})
        for (const int grid : {wave, n_tiles, 3 * n_tiles}) {
          SCOPED_TRACE(std::string(l.name) + ", tile " + std::to_string(tile) + (with_z ? ", z" : "") + ", grid " +
                       std::to_string(grid));
          launch::IgemmEpilogue e;
          e.mult = reinterpret_cast<const float*>(sd.at);
          e.bias = reinterpret_cast<const float*>(bd.at);
          e.y_int8 = true;
          if (with_z) {
            e.z = reinterpret_cast<const int8_t*>(zd.at);
            e.z_scale = 1.f;
          }
          DeviceBuffer yd = DeviceBuffer::make(pixels * g.m);
          const auto* x = reinterpret_cast<const int8_t*>(xd.at);
          const auto* w = reinterpret_cast<const int8_t*>(wd.at);
          auto* y = reinterpret_cast<int8_t*>(yd.at);
          const bool launched = tile == 44   ? launch::qconvResident<128, 2>(x, w, y, g, e, grid, nullptr)
                                : tile == 45 ? launch::qconvResident<64, 2>(x, w, y, g, e, grid, nullptr)
                                : tile == 46 ? launch::qconvResident<128, 3>(x, w, y, g, e, grid, nullptr)
                                             : launch::qconvResident<64, 3>(x, w, y, g, e, grid, nullptr);
          ASSERT_TRUE(launched);
          test::expectLaunched("qconvResident");
          const std::vector<int8_t> bytes = yd.download<int8_t>();
          expectExact(std::vector<float>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(pixels * g.m)),
                      with_z ? want_z : k.want, pixels, g.m);
        }
    }
  }
}

TEST(CudaIgemmKernel, EveryTileComputesTheExactProduct) {
  QRT_REQUIRE_GPU();
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  const bool hopper = prop.major * 10 + prop.minor == launch::kIgemmWgmmaSm;
  const Layer layers[] = {
      {"1x1 C=64 -> 64, 126 pixels (unit path)", 2, 64, 7, 9, 64, 1, 1, 0},
      {"1x1 stride 2 C=128 -> 48 (2 slices, partial channel tile)", 2, 128, 9, 11, 48, 1, 2, 0},
      {"3x3 pad 1 C=32 -> 144 (9 slices, half-empty slices)", 1, 32, 10, 13, 144, 3, 1, 1},
      {"1x1 C=256 -> 128, 400 pixels (4 slices, several pixel tiles)", 1, 256, 20, 20, 128, 1, 1, 0},
      // Tiles of pixels across images and rows of a strided padded window (the im2col tiles' traversal).
      {"3x3 stride 2 pad 1 C=64 -> 64, 3 images", 3, 64, 13, 11, 64, 3, 2, 1},
      {"3x3 pad 1 C=128 -> 128 (18 slices), 2 images", 2, 128, 6, 7, 128, 3, 1, 1},
  };
  std::mt19937 rng(7);
  for (const Layer& l : layers) {
    const Int8Case k = int8Case(l, rng);
    const IgemmGeometry& g = k.g;
    ASSERT_TRUE(launch::igemmFits(g)) << l.name;
    const std::vector<int8_t>& x = k.x;
    const std::vector<int8_t>& packed = k.packed;
    const std::vector<float>& want_f = k.want_f;
    const std::vector<float>& want_i8 = k.want;
    const float scale = k.scale;
    const std::vector<float> ones(static_cast<size_t>(g.m), 1.f), zeros(static_cast<size_t>(g.m), 0.f);
    const std::vector<float> scales(static_cast<size_t>(g.m), scale);
    DeviceBuffer xd = DeviceBuffer::make(x.size()), wd = DeviceBuffer::make(packed.size());
    DeviceBuffer md = DeviceBuffer::make(ones.size() * 4), bd = DeviceBuffer::make(zeros.size() * 4);
    DeviceBuffer sd = DeviceBuffer::make(scales.size() * 4);
    xd.upload(x.data());
    wd.upload(packed.data());
    md.upload(ones.data());
    bd.upload(zeros.data());
    sd.upload(scales.data());
    const size_t pixels = static_cast<size_t>(g.n) * g.oh * g.ow;
    for (int tile = 0; tile < launch::kIgemmTileCount; ++tile) {
      const auto& t = launch::kIgemmTiles[tile];
      if (t.wgmma && !hopper) continue;
      for (const bool int8_y : {false, true}) {
        SCOPED_TRACE(std::string(l.name) + ", tile " + std::to_string(tile) + (int8_y ? ", int8 y" : ", float y"));
        launch::IgemmEpilogue e;
        e.mult = reinterpret_cast<const float*>(int8_y ? sd.at : md.at);
        e.bias = reinterpret_cast<const float*>(bd.at);
        e.y_int8 = int8_y;
        const int grid = t.persistent ? launch::igemmPersistentGrid(g, false, tile) : 0;
        if (t.persistent) ASSERT_GT(grid, 0);
        DeviceBuffer yd = DeviceBuffer::make(pixels * g.m * 4);
        launch::qconvIgemm(reinterpret_cast<const int8_t*>(xd.at), reinterpret_cast<const int8_t*>(wd.at), yd.at, g,
                           e, tile, grid, nullptr);
        test::expectLaunched("qconvIgemm");
        std::vector<float> got;
        if (int8_y) {
          const std::vector<int8_t> bytes = yd.download<int8_t>();
          got.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(pixels * g.m));
        } else {
          got = yd.download<float>();
        }
        expectExact(got, int8_y ? want_i8 : want_f, pixels, g.m);
      }
    }
  }
}

}  // namespace
}  // namespace qrt

#endif
