// Helpers shared by the reference nn kernels (conv.cpp, gemm.cpp, pool.cpp, nn.cpp): the
// accumulator type of each dtype, the one hot loop (axpy), allocation-free parallel loops and
// lanes that own a workspace slice each, workspace carving, and the per-dtype factory.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/kernel.h"
#include "core/half.h"
#include "core/threadpool.h"
#include "ops/nn_params.h"

namespace qrt::reference {

// Accumulator type: fp16/bf16 accumulate in float and round once at the end; float in float,
// double in double; integers in their own type (wrapping, as integer MatMul does elsewhere).
template <typename T> struct AccOf { using type = T; };
template <> struct AccOf<Half> { using type = float; };
template <> struct AccOf<BFloat16> { using type = float; };
template <typename T> using AccT = typename AccOf<T>::type;

// Storage element -> accumulator, and back (the only rounding of an fp16/bf16 result).
template <typename A, typename T> inline A load(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) return static_cast<A>(static_cast<float>(v));
  else return static_cast<A>(v);
}
template <typename T, typename A> inline T store(A v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) return T(static_cast<float>(v));
  else return static_cast<T>(v);
}

// Element i of a float tensor of any float dtype (BatchNormalization's parameters may differ
// in dtype from X since opset 15).
template <typename A> A loadAny(const TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DataType::kDouble: return load<A>(t.as<const double>()[i]);
    case DataType::kHalf: return load<A>(t.as<const Half>()[i]);
    case DataType::kBFloat16: return load<A>(t.as<const BFloat16>()[i]);
    default: return load<A>(t.as<const float>()[i]);
  }
}

// y[i] += a * x[i] for i in [0, n). The body works in blocks of 8 so that the compiler's
// vectorizer, in the cheap mode -O2 enables, turns it into SIMD code: it is the hot loop of the
// reference Conv, ConvTranspose, Gemm and MatMul.
template <typename A> inline void axpy(int64_t n, A a, const A* __restrict x, A* __restrict y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int u = 0; u < 8; ++u) y[i + u] += a * x[i + u];
  for (; i < n; ++i) y[i] += a * x[i];
}

// parallelFor for a callable of any size: the std::function that parallelFor takes holds only a
// pointer to it, which fits its inline storage, so run() allocates no closure.
template <typename Fn> void parallelRange(int64_t n, int64_t grain, const Fn& fn) {
  const Fn* f = &fn;
  parallelFor(n, grain, [f](int64_t begin, int64_t end) { (*f)(begin, end); });
}

// How many lanes to run `items` work items on: one per thread, at most one per item.
inline int64_t laneCount(int64_t items) { return std::max<int64_t>(1, std::min<int64_t>(items, numThreads())); }

// Runs fn(item, lane) for every item in [0, items). Lane l (of `lanes`, fixed in reshape) takes a
// contiguous range of items and may use workspace slice l: no two lanes run the same l at once.
// parallelFor calls made inside fn run inline when there are several lanes, and in parallel when
// there is one (so a lone image still uses every thread).
template <typename Fn> void parallelLanes(int64_t items, int64_t lanes, const Fn& fn) {
  parallelRange(lanes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; ++l)
      for (int64_t i = items * l / lanes; i < items * (l + 1) / lanes; ++i) fn(i, l);
  });
}

// A window with its spatial dims padded to three (leading extents of 1, kernel 1, stride 1, no
// padding), so that one triple loop serves 1-D, 2-D and 3-D convolutions and pools.
struct Geom3 {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
  int64_t in_vol, out_vol, k_vol;
};

inline Result<Geom3> toGeom3(const Window& w, const std::string& where) {
  if (w.rank < 1 || w.rank > 3)
    return unsupported(where, ": the reference kernel handles 1 to 3 spatial dims, not ", w.rank);
  Geom3 g{};
  size_t lead = 3 - w.rank;
  for (size_t i = 0; i < 3; ++i) {
    bool real = i >= lead;
    size_t j = i - lead;
    g.in[i] = real ? w.in[j] : 1;
    g.out[i] = real ? w.out[j] : 1;
    g.k[i] = real ? w.kernel[j] : 1;
    g.s[i] = real ? w.strides[j] : 1;
    g.d[i] = real ? w.dilations[j] : 1;
    g.pb[i] = real ? w.pad_begin[j] : 0;
    g.pe[i] = real ? w.pad_end[j] : 0;
  }
  g.in_vol = g.in[0] * g.in[1] * g.in[2];
  g.out_vol = g.out[0] * g.out[1] * g.out[2];
  g.k_vol = g.k[0] * g.k[1] * g.k[2];
  return g;
}

// Checks that a kernel's output view has the dims its own geometry gives (shape inference and
// the kernel must agree; a mismatch is a bug).
inline Status checkOutputDims(const TensorView& out, const Dims& expected, const std::string& where) {
  if (out.dims != expected)
    return internalError(where, ": output has dims ", dimsToString(out.dims), ", the kernel computes ",
                         dimsToString(expected));
  return Status::Ok();
}

// True when input i is present (absent optional inputs have dtype kUndefined).
inline bool present(const std::vector<TensorView>& v, size_t i) {
  return i < v.size() && v[i].dtype != DataType::kUndefined;
}

// Carves a workspace into 64-byte aligned arrays: add() in reshape records sizes, at() in run
// returns the same arrays from the base pointer.
class WorkspaceLayout {
 public:
  // Reserves `count` elements of T; returns the array's id.
  template <typename T> size_t add(int64_t count) {
    assert(n_ < kMaxArrays);
    offsets_[n_] = total_;
    total_ += (static_cast<size_t>(std::max<int64_t>(count, 0)) * sizeof(T) + 63) / 64 * 64;
    return n_++;
  }
  template <typename T> T* at(void* base, size_t id) const {
    return reinterpret_cast<T*>(static_cast<unsigned char*>(base) + offsets_[id]);
  }
  size_t bytes() const { return total_; }
  void clear() { n_ = total_ = 0; }

 private:
  static constexpr size_t kMaxArrays = 8;
  size_t offsets_[kMaxArrays] = {};
  size_t n_ = 0;
  size_t total_ = 0;
};

// Instantiates kernel template K<T> (constructed from `params`) for the float dtypes.
template <template <typename> class K, typename P>
Result<std::unique_ptr<Kernel>> newFloatKernel(DataType t, const P& params, const std::string& where) {
  switch (t) {
    case DataType::kFloat: return std::unique_ptr<Kernel>(new K<float>(params));
    case DataType::kDouble: return std::unique_ptr<Kernel>(new K<double>(params));
    case DataType::kHalf: return std::unique_ptr<Kernel>(new K<Half>(params));
    case DataType::kBFloat16: return std::unique_ptr<Kernel>(new K<BFloat16>(params));
    default: return unsupported(where, ": no reference kernel for dtype ", dataTypeName(t));
  }
}

}  // namespace qrt::reference
