// The stem convolution with the 3x3 / stride 2 / pad 1 max pooling after it, in one kernel
// (StemGeometry::pool; the pass stem_pool.cpp fuses ResNet's conv1 + ReLU + MaxPool so). Apart,
// the stem writes its whole output (ResNet-50 at batch 256: 411 MB fp16, 103 MB int8) and the
// pool reads it back (H100: 0.207 ms fp16, 0.111 ms int8, bench/gpu/NOTES.md session 8); here the
// convolution's rows stay in shared memory and only the pooled quarter is written.
//
// The convolution is the row-tile kernel's (stem_conv.cu, stem_device.cuh: the same tables, input
// window, fragment loop and epilogue transpose), walked differently: a block owns 64 channels and
// loops over items (an image's segment of pooled rows, StemGeometry::segs), and in an item over
// steps of two convolution rows, each row a tile of up to 128 columns (warp w: columns 16w..16w+15
// of both rows, so ow <= 128). A step's rows go, as fp16 after the activation, into a ring of four
// rows in shared memory (64 channels = 128 bytes a pixel, the 16-byte chunks XORed by the pixel's
// parity so that a quad's stores of two neighbouring pixels fill distinct banks); then every pooled
// row whose three convolution rows are in the ring is pooled (8 channels a thread: nine 16-byte
// loads, __hmax2) and stored. A quantized y is quantized before the ring (quadQuant, the row-tile
// kernel's epilogue: 64 bytes a pixel, ring8At) and pooled as int8 / uint8 (16 channels a thread,
// __vmaxs4 / __vmaxu4): quantizing is monotone, so these are the bytes of the row-tile kernel's
// int8 output pooled apart (CudaInt8Stem.StemPoolsItsInt8Output). Pooled row p needs rows 2p-1 .. 2p+1; a
// segment starts with row 2p0-1 (one row computed twice), and the ring's row r is slot r & 3: a
// step writes rows r, r + 1 over rows r - 4, r - 3, the oldest the pooling just read being r - 3
// (a barrier keeps the two apart). The input window holds kPoolPasses steps' rows and is staged
// again when a step leaves it.
//
// Shared memory (ResNet's conv1, 112 columns): tables 21 KB (23 with tap pairs) + window 28 KB + ring
// 56 KB = 105 (107) KB, two blocks an SM. H100, session 9: fp16 stem + pool 0.688 -> 0.620 ms at batch 256, the int8 form no
// faster than apart (stem_pool.cpp: the fp16 stem by default).
#include "backends/cuda/stem_device.cuh"

#include <algorithm>

namespace qrt::cuda::launch {

namespace {

using namespace stem_detail;

constexpr int kPoolThreads = 256, kPoolWarps = 8;  // warp w < tw / 16 computes column tile w
constexpr int kPoolPasses = 4;                      // two-row steps a staged window holds
constexpr size_t kPoolMaxSmem = 110 * 1024;         // two blocks an SM on Hopper (228 KB)
constexpr int kPixelBytes = 128;                    // a ring pixel: 64 fp16 channels

__host__ __device__ inline int poolWindowRows(const StemGeometry& g) { return (2 * kPoolPasses - 1) * g.sh + g.kh; }
__host__ __device__ inline int poolWindowPitch(const StemGeometry& g) { return ((g.tw - 1) * g.sw + g.kw + 1) & ~1; }
__host__ __device__ inline size_t poolWindowBytes(const StemGeometry& g) {
  return (static_cast<size_t>(g.c) * poolWindowRows(g) * poolWindowPitch(g) * 2 + 15) / 16 * 16;
}

size_t poolSmemBytes(const StemGeometry& g) {
  return rowsTablesBytes(g.k_pad) + poolWindowBytes(g) + size_t{4} * g.tw * kPixelBytes;
}

// The ring's byte offset of chunk ch (8 channels) of pixel ox of row r.
__device__ __forceinline__ int ringAt(int r, int ox, int ch, int tw) {
  return ((r & 3) * tw + ox) * kPixelBytes + ((ch ^ ((ox & 1) << 2)) << 4);
}

__device__ __forceinline__ uint4 hmax8(uint4 a, uint4 b) {
  uint32_t* pa = reinterpret_cast<uint32_t*>(&a);
  const uint32_t* pb = reinterpret_cast<const uint32_t*>(&b);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const __half2 m = __hmax2(*reinterpret_cast<const __half2*>(&pa[k]), *reinterpret_cast<const __half2*>(&pb[k]));
    pa[k] = *reinterpret_cast<const uint32_t*>(&m);
  }
  return a;
}

// The quantized ring (g.quant): a pixel is 64 int8 / uint8 channels, four 16-byte chunks (quadQuant's
// stores), at slot ox ^ ((ox >> 1) & 1) of its row: the pooling reads every other pixel (2 px - 1 + dx),
// which would all sit in the same half of the banks (64 bytes a pixel); swapping the pixels of every
// other pair alternates the halves.
__device__ __forceinline__ int ring8At(int r, int ox, int ch16, int tw) {
  return ((r & 3) * tw + (ox ^ ((ox >> 1) & 1))) * 64 + (ch16 << 4);
}

__device__ __forceinline__ uint4 max16(uint4 a, uint4 b, bool is_signed) {
  return is_signed ? make_uint4(__vmaxs4(a.x, b.x), __vmaxs4(a.y, b.y), __vmaxs4(a.z, b.z), __vmaxs4(a.w, b.w))
                   : make_uint4(__vmaxu4(a.x, b.x), __vmaxu4(a.y, b.y), __vmaxu4(a.z, b.z), __vmaxu4(a.w, b.w));
}

// Pooled row py of image n from the ring: every pixel's chunks, a thread a chunk. fp16: nb / 8 chunks of 8
// channels (ringAt, __hmax2); quantized (kQuant): 16-channel chunks of int8 / uint8 (ring8At, __vmaxs4 /
// __vmaxu4), stored as they are (storeQuad's forms).
template <bool kQuant>
__device__ __forceinline__ void poolRow(void* y, const unsigned char* ring, const StemGeometry& g, int n, int py,
                                        int m0, int ntiles, int tid) {
  const int chunks = kQuant ? (ntiles + 1) / 2 : ntiles;
  const bool is_signed = g.quant == StemGeometry::Quant::kInt8;
  for (int i = tid; i < g.pool_w * chunks; i += kPoolThreads) {
    const int px = i / chunks, ch = i - px * chunks;
    uint4 best = make_uint4(0u, 0u, 0u, 0u);
    bool first = true;
#pragma unroll
    for (int dy = 0; dy < 3; ++dy) {
      const int r = 2 * py - 1 + dy;
      if (r < 0 || r >= g.oh) continue;
#pragma unroll
      for (int dx = 0; dx < 3; ++dx) {
        const int ox = 2 * px - 1 + dx;
        if (ox < 0 || ox >= g.ow) continue;
        const int at = kQuant ? ring8At(r, ox, ch, g.tw) : ringAt(r, ox, ch, g.tw);
        const uint4 v = *reinterpret_cast<const uint4*>(ring + at);
        best = first ? v : kQuant ? max16(best, v, is_signed) : hmax8(best, v);
        first = false;
      }
    }
    if (g.probe & 4) continue;
    const size_t e = (static_cast<size_t>(n * g.pool_h + py) * g.pool_w + px) * g.m + m0;
    if constexpr (kQuant)
      storeQuad(y, e, best, ch, ntiles, g);
    else
      *reinterpret_cast<uint4*>(static_cast<__half*>(y) + e + ch * 8) = best;
  }
}

template <typename T, bool kNchw, int kAct, bool kQuant>
__global__ void __launch_bounds__(kPoolThreads, 2)
    stemPoolKernel(const T* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                   void* __restrict__ y, StemGeometry g, UnaryOp act, float aa, float bb) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int SR = poolWindowRows(g), WP = poolWindowPitch(g);
  unsigned short* X = reinterpret_cast<unsigned short*>(smem + rowsTablesBytes(g.k_pad));
  unsigned char* ring = smem + rowsTablesBytes(g.k_pad) + poolWindowBytes(g);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g8 = lane >> 2, t4 = lane & 3;
  const int m0 = blockIdx.y * 64;
  const int nb = min(64, g.m - m0), ntiles = nb / 8;
  rowsTables<kNchw>(smem, w, g, m0, nb, SR, WP, tid, kPoolThreads);
  float bv[8][2], qc[8][2];
  rowsBias(bv, bias, m0, nb, lane);
  QuantConsts qk;
  if (kQuant) qk = quadQuantConsts<kAct>(qc, bv, g);

  const bool computes = warp < g.tw / 16;  // this warp's column tile exists
  const int seg_rows = (g.pool_h + g.segs - 1) / g.segs;
  const int items = g.n * g.segs;
  const int window_rows = 2 * kPoolPasses;  // convolution rows a staged window holds
  for (int item = blockIdx.x; item < items; item += gridDim.x) {
    const int n = item / g.segs, seg = item - n * g.segs;
    const int py0 = seg * seg_rows, py1 = min(g.pool_h, py0 + seg_rows);
    if (py0 >= py1) continue;  // the whole block
    const T* xn = x + static_cast<size_t>(n) * g.c * g.h * g.w;
    const int r_first = max(0, 2 * py0 - 1), r_last = min(g.oh - 1, 2 * py1 - 1);
    int win0 = r_first - window_rows;  // no window staged for this item yet
    int next_py = py0;                 // the next pooled row to store
    for (int r = r_first; r <= r_last; r += 2) {
      const int r_hi = min(r + 1, r_last);  // this step's last row
      if (r_hi >= win0 + window_rows) {     // the window is staged again (uniform)
        win0 = r;
        __syncthreads();  // the tables are ready; every warp is done with the old window
        stageWindow<T, kNchw>(X, xn, g, win0 * g.sh - g.ph, -g.pw, SR, WP, warp, lane, kPoolWarps);
        __syncthreads();
      }
      float acc[2][8][4];
      if (computes) {
        int b0[2], b1[2];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          b0[mt] = (min(r + mt, r_last) - win0) * g.sh * WP + (warp * 16 + g8) * g.sw;
          b1[mt] = b0[mt] + 8 * g.sw;
        }
        rowsProduct(acc, smem, X, b0, b1, g, lane);
      }
      __syncthreads();  // the last pooled row's reads of the ring are done
      if (computes) {
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          if (r + mt > r_last) break;  // uniform in the warp
#pragma unroll
          for (int rh = 0; rh < 2; ++rh) {
            const int ox = warp * 16 + g8 + rh * 8;
            if constexpr (kQuant) {
              const uint4 q = quadQuant<kAct>(acc, bv, qc, qk, mt, rh, lane, act, aa, bb);  // every lane
              if (ox < g.ow && 2 * t4 < ntiles) *reinterpret_cast<uint4*>(ring + ring8At(r + mt, ox, t4, g.tw)) = q;
            } else {
#pragma unroll
              for (int ntb = 0; ntb < 8; ntb += 4) {
                const uint4 out = quadChannels<kAct>(acc, bv, mt, rh, ntb, lane, act, aa, bb);  // every lane
                if (ox < g.ow && ntb + t4 < ntiles)
                  *reinterpret_cast<uint4*>(ring + ringAt(r + mt, ox, ntb + t4, g.tw)) = out;
              }
            }
          }
        }
      }
      __syncthreads();  // the ring holds rows .. r_hi
      for (; next_py < py1 && min(2 * next_py + 1, g.oh - 1) <= r_hi; ++next_py)
        poolRow<kQuant>(y, ring, g, n, next_py, m0, ntiles, tid);
    }
  }
}

// The pooled kernel's three activation forms, fp16 or quantized y.
template <typename T, bool kNchw, bool kQuant>
struct PoolForms {
  using K = decltype(&stemPoolKernel<T, kNchw, kActNone, kQuant>);
  static constexpr K forms[3] = {stemPoolKernel<T, kNchw, kActNone, kQuant>, stemPoolKernel<T, kNchw, kActRelu, kQuant>,
                                 stemPoolKernel<T, kNchw, kActAny, kQuant>};
};

template <typename T, bool kNchw>
cudaError_t preparePool(StemGeometry* g) {
  int64_t slots = 1;
  const size_t smem = poolSmemBytes(*g);
  const cudaError_t e = g->quant != StemGeometry::Quant::kNone
                            ? residentBlocks(PoolForms<T, kNchw, true>::forms, kPoolThreads, smem, &slots)
                            : residentBlocks(PoolForms<T, kNchw, false>::forms, kPoolThreads, smem, &slots);
  const int segs = stemPoolSegments(g->n, g->pool_h, slots);
  g->segs = segs;
  g->blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(int64_t{g->n} * segs, slots)));
  return e;
}

template <typename T, bool kNchw>
void launchPool(const void* x, const void* w, const void* bias, void* y, const StemGeometry& g, bool act_on,
                UnaryOp act, float a, float b, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(std::max(1, g.blocks)), static_cast<unsigned>((g.m + 63) / 64));
  const int form = actKind(act_on, act);
  const auto kernel = g.quant != StemGeometry::Quant::kNone ? PoolForms<T, kNchw, true>::forms[form]
                                                            : PoolForms<T, kNchw, false>::forms[form];
  kernel<<<grid, kPoolThreads, poolSmemBytes(g), s>>>(static_cast<const T*>(x), static_cast<const __half*>(w),
                                                      static_cast<const __half*>(bias), y, g, act, a, b);
}

}  // namespace

bool stemPoolSupported(const StemGeometry& g) {
  if (!g.pool || !stemConvSupported(g) || g.ow > 128) return false;
  if (g.pool_h != (g.oh - 1) / 2 + 1 || g.pool_w != (g.ow - 1) / 2 + 1) return false;
  StemGeometry t = g;
  t.tw = (g.ow + 15) / 16 * 16;
  return poolSmemBytes(t) <= kPoolMaxSmem;
}

cudaError_t stemPoolPrepare(StemGeometry* g) {
  g->rows = 0;
  g->tw = (g->ow + 15) / 16 * 16;
  setTapPairs(g, stemTapPairs(*g));  // where its larger tables still fit
  if (g->pairs && poolSmemBytes(*g) > kPoolMaxSmem) setTapPairs(g, false);
  return withInput(g->input, [&](auto t, auto nchw) { return preparePool<decltype(t), nchw()>(g); });
}

void stemPoolConv(const void* x, const void* w_packed, const void* bias, void* y, const StemGeometry& g, bool act_on,
                  UnaryOp act, float a, float b, cudaStream_t s) {
  withInput(g.input, [&](auto t, auto nchw) {
    launchPool<decltype(t), nchw()>(x, w_packed, bias, y, g, act_on, act, a, b, s);
  });
}

}  // namespace qrt::cuda::launch
