// The stem convolution kernel (see stem_conv_launch.h for what it computes and the tiling).
//
// Shared memory, per block (dynamic, k_pad + 8 halves a row so that the fragment loads of
// mma.sync, 8 rows x 4 words, and the gathers' 16-byte stores, 8 rows a phase, hit distinct banks):
//   A  [128 pixels][k_pad + 8] fp16   the tile's patch rows; reused to stage the output tile
//   B  [64 channels][k_pad + 8] fp16  the block's weights, loaded once
//   the patch table (per k: input offset, dy, dx).
// The gather is one thread per pixel, so a warp's loads of one k are neighbouring input
// elements; L1 catches the overlap (each input element serves about kh*kw/(sh*sw) patches).
// Every index is 32-bit (stemConvSupported bounds the sizes). Deterministic: each output is one
// thread's fixed sequence of mma steps.
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/stem_conv_launch.h"
#include "backends/cuda/stem_device.cuh"

#include <cstdlib>
#include <string>

namespace qrt::cuda::launch {

namespace {

using namespace stem_detail;

constexpr int kBM = 128, kBN = 64, kThreads = 128;  // kThreads == kBM: one pixel-table entry per thread
constexpr int kStageStride = kBN + 8;               // halves per staged output row (conflict-free)
constexpr int kOutside = -(1 << 20);                // a dy/iy that fails every bounds test

size_t smemBytes(const StemGeometry& g) {
  const int s = g.k_pad + 8;
  const size_t a = static_cast<size_t>(std::max(kBM * s, kBM * kStageStride)) * 2;
  return a + static_cast<size_t>(kBN * s) * 2 + static_cast<size_t>(g.k_pad) * 8;
}

template <typename T, bool kNchw>
__global__ void __launch_bounds__(kThreads) stemConvKernel(const T* __restrict__ x, const __half* __restrict__ w,
                                                           const __half* __restrict__ bias, void* __restrict__ y,
                                                           StemGeometry g, bool act_on, UnaryOp act, float aa, float bb) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int S = g.k_pad + 8, Sw = S / 2;
  __half* As = reinterpret_cast<__half*>(smem);
  __half* Bs = As + (S > kStageStride ? kBM * S : kBM * kStageStride);
  int2* ktab = reinterpret_cast<int2*>(Bs + kBN * S);  // per k: {offset, dy << 16 | dx}
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g8 = lane >> 2, t4 = lane & 3;
  const int m0 = blockIdx.y * kBN;
  const int nb = min(kBN, g.m - m0);  // this block's channels, a multiple of 8
  const int ntiles = nb / 8;
  const int taps = g.kh * g.kw, K = taps * g.c;

  // The patch order matches stemPackWeights: NCHW (c, r, s), NHWC (r, s, c); either way
  // consecutive k are mostly neighbours in memory.
  for (int k = tid; k < g.k_pad; k += kThreads) {
    int c, r, s;
    if (kNchw) {
      c = k / taps;
      r = (k % taps) / g.kw;
      s = k % g.kw;
    } else {
      c = k % g.c;
      r = (k / g.c) / g.kw;
      s = (k / g.c) % g.kw;
    }
    const bool real = k < K;
    ktab[k] = make_int2(!real ? 0 : kNchw ? (c * g.h + r) * g.w + s : (r * g.w + s) * g.c + c,
                        real ? (r << 16) | s : static_cast<int>(0x80000000u));  // dy = -32768: always outside
  }
  const int kv = g.k_pad / 8;  // 16-byte vectors per weight row
  for (int i = tid; i < nb * kv; i += kThreads) {
    const int n = i / kv, v = i % kv;
    *reinterpret_cast<uint4*>(Bs + n * S + v * 8) =
        __ldg(reinterpret_cast<const uint4*>(w + static_cast<size_t>(m0 + n) * g.k_pad + v * 8));
  }
  float bv[8][2];
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
    const int ch = nt * 8 + t4 * 2;
    bv[nt][0] = bias && ch < nb ? __half2float(bias[m0 + ch]) : 0.f;
    bv[nt][1] = bias && ch < nb ? __half2float(bias[m0 + ch + 1]) : 0.f;
  }

  const int ohw = g.oh * g.ow;
  const int P = g.n * ohw;
  const int tiles = (P + kBM - 1) / kBM;
  const uint32_t* A32 = reinterpret_cast<const uint32_t*>(As);
  const uint32_t* B32 = reinterpret_cast<const uint32_t*>(Bs);
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int p0 = tile * kBM;
    // This thread's pixel of the tile (consecutive lanes: consecutive output pixels, so the
    // gathers of one k coalesce).
    int iy = kOutside, ix = 0, base = 0;
    {
      const int p = p0 + tid;
      if (p < P) {
        const int n = p / ohw, rem = p % ohw;
        iy = (rem / g.ow) * g.sh - g.ph;
        ix = (rem % g.ow) * g.sw - g.pw;
        base = kNchw ? (n * g.c * g.h + iy) * g.w + ix : ((n * g.h + iy) * g.w + ix) * g.c;
      }
    }
    __syncthreads();  // tables ready; the previous tile's output copy is done with A

    // Gather: 8 k at a time, one 16-byte shared store (8 rows of a quarter-warp land in
    // distinct banks with this row stride).
    __half* arow = As + tid * S;
#pragma unroll 2
    for (int k0 = 0; k0 < g.k_pad; k0 += 8) {
      float v[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int2 t = ktab[k0 + j];
        const int dy = t.y >> 16, dx = t.y & 0xffff;
        v[j] = static_cast<unsigned>(iy + dy) < static_cast<unsigned>(g.h) &&
                       static_cast<unsigned>(ix + dx) < static_cast<unsigned>(g.w)
                   ? loadFloat(x + base + t.x)
                   : 0.f;
      }
      uint4 u;
      __half2* h = reinterpret_cast<__half2*>(&u);
#pragma unroll
      for (int j = 0; j < 4; ++j) h[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
      *reinterpret_cast<uint4*>(arow + k0) = u;
    }
    __syncthreads();

    // Each warp: 32 pixels (two m16 tiles) x the block's channels (up to eight n8 tiles).
    float acc[2][8][4];
    zeroAcc(acc);
    const int row0 = warp * 32;
    for (int ks = 0; ks < g.k_pad / 16; ++ks) {
      const int kw0 = ks * 8 + t4;
      uint32_t a[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        const int r = row0 + mt * 16 + g8;
        a[mt][0] = A32[r * Sw + kw0];
        a[mt][1] = A32[(r + 8) * Sw + kw0];
        a[mt][2] = A32[r * Sw + kw0 + 4];
        a[mt][3] = A32[(r + 8) * Sw + kw0 + 4];
      }
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        if (nt < ntiles) {
          const int nr = nt * 8 + g8;
          const uint32_t b0 = B32[nr * Sw + kw0], b1 = B32[nr * Sw + kw0 + 4];
          mma16816(acc[0][nt], a[0], b0, b1);
          mma16816(acc[1][nt], a[1], b0, b1);
        }
      }
    }
    __syncthreads();  // every warp is done with A: stage the output tile there

    __half* Cs = As;
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      const int r = row0 + mt * 16 + g8;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        if (nt < ntiles) {
          const int ch = nt * 8 + t4 * 2;
          *reinterpret_cast<__half2*>(Cs + r * kStageStride + ch) =
              __floats2half2_rn(epilogueActivate(act_on, act, acc[mt][nt][0] + bv[nt][0], aa, bb),
                                epilogueActivate(act_on, act, acc[mt][nt][1] + bv[nt][1], aa, bb));
          *reinterpret_cast<__half2*>(Cs + (r + 8) * kStageStride + ch) =
              __floats2half2_rn(epilogueActivate(act_on, act, acc[mt][nt][2] + bv[nt][0], aa, bb),
                                epilogueActivate(act_on, act, acc[mt][nt][3] + bv[nt][1], aa, bb));
        }
      }
    }
    __syncthreads();
    const int rows = min(kBM, P - p0);
    for (int i = tid; i < rows * ntiles; i += kThreads) {
      const int r = i / ntiles, v = i % ntiles;
      storeEight(y, static_cast<size_t>(p0 + r) * g.m + m0 + v * 8,
                 *reinterpret_cast<const uint4*>(Cs + r * kStageStride + v * 8), g);
    }
  }
}

// ---- The row-tile kernel (stemConvPrepare picks it where g.rows > 0) ----
// A block owns 64 channels and loops over tiles of `rows` output rows x `tw` output columns of
// one image. Per tile, the input window the tile needs ((rows-1)*sh + kh rows x (tw-1)*sw + kw
// columns x C channels) is read once from global memory (a warp per row, consecutive lanes on
// consecutive columns: coalesced for NCHW; NHWC lanes stride C elements), converted to fp16 and staged in shared memory; the patch
// fragments of mma.sync are then read straight from the staged window (two 16-bit loads per
// register, through a per-k offset table), so no patch matrix is materialised and each input
// element leaves L2 about once per tile instead of once per patch that uses it. The weights
// sit in shared memory already in fragment order (one 8-byte load per lane per n8 tile and k
// step). Each warp computes two m16 tiles (16 consecutive output columns of one row each) x 64
// channels, and the epilogue transposes the accumulators within each lane quad so every lane
// stores 8 channels (16 bytes) of one NHWC pixel.
constexpr int kRowsThreads = 256, kRowsWarps = 8;
constexpr size_t kRowsMaxSmem = 110 * 1024;  // two blocks per SM on Hopper (228 KB)

__host__ __device__ int rowsWindowRows(const StemGeometry& g) { return (g.rows - 1) * g.sh + g.kh; }
__host__ __device__ int rowsWindowPitch(const StemGeometry& g) { return ((g.tw - 1) * g.sw + g.kw + 1) & ~1; }

size_t rowsSmemBytes(const StemGeometry& g) {
  const size_t window = static_cast<size_t>(g.c) * rowsWindowRows(g) * rowsWindowPitch(g) * 2;
  return rowsTablesBytes(g.k_pad) + (window + 15) / 16 * 16;
}

template <typename T, bool kNchw, int kAct, bool kQuant>
__global__ void __launch_bounds__(kRowsThreads, 2)
    stemRowsKernel(const T* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                   void* __restrict__ y, StemGeometry g, UnaryOp act, float aa, float bb) {
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned short* X = reinterpret_cast<unsigned short*>(smem + rowsTablesBytes(g.k_pad));  // [c][SR][WP] fp16 bits
  const int SR = rowsWindowRows(g), WP = rowsWindowPitch(g);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g8 = lane >> 2, t4 = lane & 3;
  const int m0 = blockIdx.y * 64;
  const int nb = min(64, g.m - m0), ntiles = nb / 8;
  rowsTables<kNchw>(smem, w, g, m0, nb, SR, WP, tid, kRowsThreads);
  float bv[8][2], qc[8][2];
  rowsBias(bv, bias, m0, nb, lane);
  QuantConsts qk;
  if (kQuant) qk = quadQuantConsts<kAct>(qc, bv, g);

  const int ct = g.tw / 16;  // m16 tiles per tile row
  const int chunks = (g.ow + g.tw - 1) / g.tw, bands = (g.oh + g.rows - 1) / g.rows;
  const int tiles = g.n * bands * chunks, units = g.rows * ct;
  const int plane = g.h * g.w;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int cx = tile % chunks, rest = tile / chunks, band = rest % bands, n = rest / bands;
    const int oy0 = band * g.rows, ox0 = cx * g.tw;
    const int iy0 = oy0 * g.sh - g.ph, ix0 = ox0 * g.sw - g.pw;
    const T* xn = x + static_cast<size_t>(n) * g.c * plane;
    __syncthreads();  // the tables are ready; every warp is done with the previous window
    stageWindow<T, kNchw>(X, xn, g, iy0, ix0, SR, WP, warp, lane, kRowsWarps);
    __syncthreads();

    for (int u0 = warp * 2; u0 < units; u0 += kRowsWarps * 2) {
      int b0[2], b1[2];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        const int u = min(u0 + mt, units - 1);
        b0[mt] = (u / ct) * g.sh * WP + ((u % ct) * 16 + g8) * g.sw;
        b1[mt] = b0[mt] + 8 * g.sw;
      }
      float acc[2][8][4];
      rowsProduct(acc, smem, X, b0, b1, g, lane);

      // Epilogue: bias + activation (fp16 y) or quantization (int8 / uint8 y), a transpose within
      // each lane quad, 16-byte stores.
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        const int u = u0 + mt;
        const int oy = oy0 + min(u, units - 1) / ct;
        const int oxb = ox0 + (min(u, units - 1) % ct) * 16 + g8;
#pragma unroll
        for (int rh = 0; rh < 2; ++rh) {
          const int ox = oxb + rh * 8;
          const bool valid = u < units && oy < g.oh && ox < g.ow && !(g.probe & 4);
          const size_t yo = (static_cast<size_t>(n * g.oh + oy) * g.ow + ox) * g.m + m0;
          if constexpr (kQuant) {
            const uint4 q = quadQuant<kAct>(acc, bv, qc, qk, mt, rh, lane, act, aa, bb);  // every lane
            if (valid) storeQuad(y, yo, q, t4, ntiles, g);
          } else {
#pragma unroll
            for (int ntb = 0; ntb < 8; ntb += 4) {
              const uint4 out = quadChannels<kAct>(acc, bv, mt, rh, ntb, lane, act, aa, bb);
              if (valid && ntb + t4 < ntiles)
                *reinterpret_cast<uint4*>(static_cast<__half*>(y) + yo + (ntb + t4) * 8) = out;
            }
          }
        }
      }
    }
  }
}

// The row-tile kernel's tile for this geometry (g->rows, g->tw), or g->rows = 0 where it does
// not apply (a window beyond the shared memory, QRT_CUDA_STEM_KERNEL=gather).
void chooseRowTile(StemGeometry* g) {
  g->rows = 0;
  g->tw = 0;
  const char* v = std::getenv("QRT_CUDA_STEM_KERNEL");
  if (v && std::string(v) == "gather") return;
  // 16 columns a m16 tile; up to 8 of them across (a tile row of up to 128 pixels). 16 rows:
  // with ResNet's 112 columns (7 m16 tiles) that is 56 tile pairs, 7 for each of the 8 warps.
  g->tw = std::min((g->ow + 15) / 16, 8) * 16;
  if (const char* p = std::getenv("QRT_CUDA_STEM_PROBE")) g->probe = std::atoi(p);
  int rows = 16;
  if (const char* r = std::getenv("QRT_CUDA_STEM_ROWS")) rows = std::max(1, std::atoi(r));
  rows = std::min(rows, g->oh);
  for (; rows >= 1; rows /= 2) {
    g->rows = rows;
    if (rowsSmemBytes(*g) <= kRowsMaxSmem) return;
  }
  g->rows = 0;
  g->tw = 0;
}

template <typename T, bool kNchw>
cudaError_t blocksFor(StemGeometry* g) {
  const size_t smem = smemBytes(*g);
  int device = 0, sms = 1, per_sm = 1;
  cudaError_t e = cudaGetDevice(&device);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (e == cudaSuccess) e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, stemConvKernel<T, kNchw>, kThreads, smem);
  const int64_t tiles = (int64_t{g->n} * g->oh * g->ow + kBM - 1) / kBM;
  g->blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(tiles, int64_t{std::max(1, per_sm)} * sms)));
  return e;
}

// The row-tile kernel's three activation forms, fp16 or quantized y.
template <typename T, bool kNchw, bool kQuant>
struct RowsForms {
  using K = decltype(&stemRowsKernel<T, kNchw, kActNone, kQuant>);
  static constexpr K forms[3] = {stemRowsKernel<T, kNchw, kActNone, kQuant>, stemRowsKernel<T, kNchw, kActRelu, kQuant>,
                                 stemRowsKernel<T, kNchw, kActAny, kQuant>};
};

template <typename T, bool kNchw>
cudaError_t prepareRows(StemGeometry* g) {
  int64_t slots = 1;
  const size_t smem = rowsSmemBytes(*g);
  const cudaError_t e = g->quant != StemGeometry::Quant::kNone
                            ? residentBlocks(RowsForms<T, kNchw, true>::forms, kRowsThreads, smem, &slots)
                            : residentBlocks(RowsForms<T, kNchw, false>::forms, kRowsThreads, smem, &slots);
  // Smaller bands where the tiles would leave SMs idle (small batches).
  auto tiles = [&] { return int64_t{g->n} * ((g->oh + g->rows - 1) / g->rows) * ((g->ow + g->tw - 1) / g->tw); };
  if (!std::getenv("QRT_CUDA_STEM_ROWS"))
    while (g->rows > 2 && tiles() < slots * 2) g->rows /= 2;
  g->blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(tiles(), slots)));
  return e;
}

template <typename T, bool kNchw>
void launchRows(const void* x, const void* w, const void* bias, void* y, const StemGeometry& g, bool act_on, UnaryOp act,
                float a, float b, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(std::max(1, g.blocks)), static_cast<unsigned>((g.m + kBN - 1) / kBN));
  const int form = actKind(act_on, act);
  const auto kernel = g.quant != StemGeometry::Quant::kNone ? RowsForms<T, kNchw, true>::forms[form]
                                                            : RowsForms<T, kNchw, false>::forms[form];
  kernel<<<grid, kRowsThreads, rowsSmemBytes(g), s>>>(static_cast<const T*>(x), static_cast<const __half*>(w),
                                                      static_cast<const __half*>(bias), y, g, act,
                                                      a, b);
}

template <typename T, bool kNchw>
void launchTyped(const void* x, const void* w, const void* bias, void* y, const StemGeometry& g, bool act_on,
                 UnaryOp act, float a, float b, cudaStream_t s) {
  auto kernel = stemConvKernel<T, kNchw>;
  const size_t smem = smemBytes(g);
  const dim3 grid(static_cast<unsigned>(std::max(1, g.blocks)), static_cast<unsigned>((g.m + kBN - 1) / kBN));
  kernel<<<grid, kThreads, smem, s>>>(static_cast<const T*>(x), static_cast<const __half*>(w),
                                      static_cast<const __half*>(bias), y, g, act_on, act, a, b);
}

}  // namespace

bool stemActivationSupported(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu:
    case UnaryOp::kLeakyRelu:
    case UnaryOp::kClip:
    case UnaryOp::kSigmoid:
    case UnaryOp::kSwish:
    case UnaryOp::kHardSigmoid:
    case UnaryOp::kHardSwish:
    case UnaryOp::kIdentity: return true;
    default: return false;
  }
}

bool stemConvSupported(const StemGeometry& g) {
  if (g.dh != 1 || g.dw != 1) return false;  // undilated
  if (g.c < 1 || g.c > 4 || g.m < 8 || g.m % 8 != 0 || g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1) return false;
  if (g.k_pad != stemKPad(g.kh, stemTapPitch(g), g.c) || g.k_pad > kStemMaxK) return false;
  if (g.oh < 1 || g.ow < 1 || g.n < 1 || g.ph < 0 || g.pw < 0) return false;
  if (g.h >= 32768 || g.w >= 32768 || g.kw >= 65536) return false;  // the patch table's 16-bit dy, dx
  const int64_t in = int64_t{g.n} * g.c * g.h * g.w, pixels = int64_t{g.n} * g.oh * g.ow;
  return in < (int64_t{1} << 30) && pixels * g.m < (int64_t{1} << 31) && pixels + kBM < (int64_t{1} << 31);
}

bool stemTapPairs(const StemGeometry& g) {
  const char* v = std::getenv("QRT_CUDA_STEM_PAIRS");
  if (v && std::string(v) == "off") return false;
  return g.input != StemGeometry::Input::kNhwcHalf && g.sw % 2 == 0 &&
         stemKPad(g.kh, (g.kw + 1) & ~1, g.c) <= kStemMaxK;
}

std::vector<uint16_t> stemPackWeights(const uint16_t* w, const StemGeometry& g) {
  std::vector<uint16_t> out(static_cast<size_t>(g.m) * g.k_pad, 0);
  const int taps = g.kh * g.kw, pitch = stemTapPitch(g);
  for (int m = 0; m < g.m; ++m)
    for (int c = 0; c < g.c; ++c)
      for (int t = 0; t < taps; ++t) {
        const int k = g.input == StemGeometry::Input::kNhwcHalf ? t * g.c + c
                                                                : (c * g.kh + t / g.kw) * pitch + t % g.kw;
        out[static_cast<size_t>(m) * g.k_pad + k] = w[(static_cast<size_t>(m) * g.c + c) * taps + t];
      }
  return out;
}

cudaError_t stemConvPrepare(StemGeometry* g) {
  setTapPairs(g, false);
  g->direct = false;
  if (g->pool) return stemPoolPrepare(g);
  if (stemDirectApplies(*g)) return stemDirectPrepare(g);
  StemGeometry biggest;
  biggest.k_pad = kStemMaxK;
  const int most = static_cast<int>(smemBytes(biggest));
  cudaError_t e = cudaFuncSetAttribute(stemConvKernel<__half, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, most);
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(stemConvKernel<__half, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, most);
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(stemConvKernel<float, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, most);
  if (e != cudaSuccess) return e;
  setTapPairs(g, stemTapPairs(*g));  // the row-tile kernel's (chooseRowTile fits its tables too)
  chooseRowTile(g);
  if (g->rows == 0) setTapPairs(g, false);  // the gather kernel reads the plain patch order
  return withInput(g->input, [&](auto t, auto nchw) {
    using T = decltype(t);
    return g->rows > 0 ? prepareRows<T, nchw()>(g) : blocksFor<T, nchw()>(g);
  });
}

void stemConv(const void* x, const void* w_packed, const void* bias, void* y, const StemGeometry& g, bool act_on,
              UnaryOp act, float a, float b, cudaStream_t s) {
  if (g.pool) return stemPoolConv(x, w_packed, bias, y, g, act_on, act, a, b, s);
  if (g.direct) return stemDirectConv(x, w_packed, bias, y, g, act_on, act, a, b, s);
  withInput(g.input, [&](auto t, auto nchw) {
    using T = decltype(t);
    if (g.rows > 0)
      launchRows<T, nchw()>(x, w_packed, bias, y, g, act_on, act, a, b, s);
    else
      launchTyped<T, nchw()>(x, w_packed, bias, y, g, act_on, act, a, b, s);
  });
}

}  // namespace qrt::cuda::launch
