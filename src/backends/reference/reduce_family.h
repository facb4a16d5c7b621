// Factories of the reduce family's reference kernels that live outside reduce.cpp (which holds the
// family's kernel table), plus the accumulator types they share.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>

#include "backends/kernel.h"
#include "backends/reference/ref_util.h"

namespace qrt::reference {

Result<std::unique_ptr<Kernel>> createSoftmax(const ir::Node& node);      // softmax.cpp
Result<std::unique_ptr<Kernel>> createLogSoftmax(const ir::Node& node);   // softmax.cpp
Result<std::unique_ptr<Kernel>> createLayerNorm(const ir::Node& node);    // layer_norm.cpp

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
