// Small helpers for reference kernels: dtype dispatch and broadcast indexing.
#pragma once

#include <cstdint>
#include <vector>

#include "core/half.h"
#include "core/status_macros.h"
#include "core/tensor.h"

namespace qrt::reference {

// Calls fn(T{}) where T is the storage type of dtype (float, double, Half, BFloat16, int8_t,
// uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t; bool as `bool`).
template <typename Fn>
Status dispatchType(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat: fn(float{}); return Status::Ok();
    case DataType::kDouble: fn(double{}); return Status::Ok();
    case DataType::kHalf: fn(Half{}); return Status::Ok();
    case DataType::kBFloat16: fn(BFloat16{}); return Status::Ok();
    case DataType::kInt8: fn(int8_t{}); return Status::Ok();
    case DataType::kUInt8: fn(uint8_t{}); return Status::Ok();
    case DataType::kInt16: fn(int16_t{}); return Status::Ok();
    case DataType::kUInt16: fn(uint16_t{}); return Status::Ok();
    case DataType::kInt32: fn(int32_t{}); return Status::Ok();
    case DataType::kUInt32: fn(uint32_t{}); return Status::Ok();
    case DataType::kInt64: fn(int64_t{}); return Status::Ok();
    case DataType::kUInt64: fn(uint64_t{}); return Status::Ok();
    case DataType::kBool: fn(bool{}); return Status::Ok();
    default: return unsupported("no reference kernel for dtype ", dataTypeName(t));
  }
}

// Element <-> float/double for any storage type (Half/BFloat16 convert exactly).
template <typename T> inline double toDouble(T v) { return static_cast<double>(v); }
template <> inline double toDouble(Half v) { return static_cast<float>(v); }
template <> inline double toDouble(BFloat16 v) { return static_cast<float>(v); }
template <typename T> inline T fromDouble(double v) { return static_cast<T>(v); }
template <> inline Half fromDouble(double v) { return Half(static_cast<float>(v)); }
template <> inline BFloat16 fromDouble(double v) { return BFloat16(static_cast<float>(v)); }
// Float computations round through float for fp16/bf16 (as hardware would), double for fp64.
template <typename T> inline float toFloat(T v) { return static_cast<float>(toDouble(v)); }

template <typename T> inline constexpr bool kIsFloat =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// Strides (in elements) of a tensor of dims `in` read as if broadcast to `out`: 0 on broadcast axes.
std::vector<int64_t> broadcastStrides(const Dims& in, const Dims& out);

// Walks every index of `out_dims` in row-major order, keeping the offsets of K inputs with the given
// (broadcast) strides; calls fn(out_index, offsets) for each element.
template <size_t K, typename Fn>
void forEachBroadcast(const Dims& out_dims, const std::vector<int64_t> (&strides)[K], Fn&& fn) {
  int64_t n = volume(out_dims);
  size_t r = out_dims.size();
  std::vector<int64_t> idx(r, 0);
  int64_t off[K] = {};
  for (int64_t i = 0; i < n; ++i) {
    fn(i, off);
    for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
      if (++idx[d] < out_dims[d]) {
        for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * (out_dims[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace qrt::reference
