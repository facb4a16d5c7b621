// Factories of the reduce family's reference kernels that live outside reduce.cpp (which holds the
// family's kernel table), plus the accumulator types they share.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "backends/kernel.h"
#include "backends/reference/ref_util.h"

namespace qrt::reference {

Result<std::unique_ptr<Kernel>> createSoftmax(const ir::Node& node);      // softmax.cpp
Result<std::unique_ptr<Kernel>> createLogSoftmax(const ir::Node& node);   // softmax.cpp
Result<std::unique_ptr<Kernel>> createHardmax(const ir::Node& node);      // softmax.cpp
Result<std::unique_ptr<Kernel>> createArgMax(const ir::Node& node);       // arg_max.cpp
Result<std::unique_ptr<Kernel>> createArgMin(const ir::Node& node);       // arg_max.cpp
Result<std::unique_ptr<Kernel>> createLayerNorm(const ir::Node& node);    // layer_norm.cpp
Result<std::unique_ptr<Kernel>> createMeanVarianceNorm(const ir::Node& node);  // mvn.cpp

// A reduction's view of its input: groups of consecutive axes that are either kept or reduced
// (axes of size 1 dropped, neighbours of the same kind merged), so [N, C, H, W] reduced over H, W
// becomes kept [N*C] x reduced [H*W]. Output element o starts at offsetOf(o, kept_dims,
// kept_strides) and covers the reduced offsets from there.
struct ReducePlan {
  std::vector<int64_t> kept_dims, kept_strides;  // in output (row-major) order
  std::vector<int64_t> red_dims, red_strides;
  int64_t n_out = 1, n_red = 1;
};

ReducePlan makeReducePlan(const Dims& in, const std::vector<bool>& reduced);  // reduce.cpp

// Offset of the i-th element (row-major over dims) of a strided view.
inline int64_t offsetOf(int64_t i, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  int64_t off = 0;
  for (size_t d = dims.size(); d-- > 0;) {
    off += (i % dims[d]) * strides[d];
    i /= dims[d];
  }
  return off;
}

// Calls fn(offset) for the offset (relative to the output element's first input element) of
// every reduced element, in row-major order.
template <typename Fn>
void forEachReducedOffset(const ReducePlan& p, Fn&& fn) {
  if (p.red_dims.size() <= 1) {
    const int64_t stride = p.red_dims.empty() ? 0 : p.red_strides[0];
    for (int64_t j = 0; j < p.n_red; ++j) fn(j * stride);
    return;
  }
  for (int64_t j = 0; j < p.n_red; ++j) fn(offsetOf(j, p.red_dims, p.red_strides));
}

// Arithmetic type for computing over elements of T: double for fp64, float for the other float
// types (fp16/bf16 compute in float), 64-bit integers for integer types.
template <typename T>
using AccType = std::conditional_t<
    std::is_same_v<T, double>, double,
    std::conditional_t<kIsFloat<T>, float, std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>>;

// Element -> accumulator and back. Integers convert directly (not through double, which would
// round int64 values above 2^53); float types convert exactly through double.
template <typename A, typename T>
inline A loadAs(T v) {
  if constexpr (kIsFloat<T>) return static_cast<A>(toDouble(v));
  else return static_cast<A>(v);
}
template <typename T, typename A>
inline T storeAs(A v) {
  if constexpr (kIsFloat<T>) return fromDouble<T>(static_cast<double>(v));
  else return static_cast<T>(v);
}

}  // namespace qrt::reference
