// Helpers shared by the elementwise and quantize reference kernels: compute types, dtype
// dispatch over subsets, exact element conversion (Cast), and a broadcast plan whose iteration
// allocates nothing (sized once in reshape, walked in run).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/reference/ref_util.h"
#include "core/half.h"
#include "core/status_macros.h"
#include "core/threadpool.h"

namespace qrt::reference {

// ---- compute types --------------------------------------------------------------------------

// fp16/bf16 compute in float and round once on store; every other type computes in itself.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

template <typename T>
inline ComputeType<T> load(T v) { return static_cast<ComputeType<T>>(v); }
template <typename T>
inline T store(ComputeType<T> v) { return static_cast<T>(v); }
template <>
inline Half store<Half>(float v) { return Half(v); }
template <>
inline BFloat16 store<BFloat16>(float v) { return BFloat16(v); }

template <typename T>
inline constexpr bool kIsSigned = std::is_integral_v<T> && std::is_signed_v<T>;
template <typename T>
inline constexpr bool kIsUnsigned = std::is_integral_v<T> && std::is_unsigned_v<T> && !std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool kIsInt = kIsSigned<T> || kIsUnsigned<T>;

// Unsigned type at least as wide as int, for wraparound integer arithmetic without UB (int8 and
// int16 operands would otherwise promote to signed int and uint16 * uint16 could overflow it).
template <typename T>
using WrapType = std::conditional_t<(sizeof(T) < sizeof(uint32_t)), uint32_t, std::make_unsigned_t<T>>;

template <typename T> inline T wrapAdd(T a, T b) { return static_cast<T>(static_cast<WrapType<T>>(a) + static_cast<WrapType<T>>(b)); }
template <typename T> inline T wrapSub(T a, T b) { return static_cast<T>(static_cast<WrapType<T>>(a) - static_cast<WrapType<T>>(b)); }
template <typename T> inline T wrapMul(T a, T b) { return static_cast<T>(static_cast<WrapType<T>>(a) * static_cast<WrapType<T>>(b)); }
template <typename T> inline T wrapNeg(T a) { return static_cast<T>(WrapType<T>(0) - static_cast<WrapType<T>>(a)); }

// ---- dtype dispatch over subsets ------------------------------------------------------------
// Like dispatchType, but only instantiates fn for the listed storage types, so a functor that
// makes sense for floats only need not compile for ints.

template <typename Fn>
Status dispatchFloat(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat: fn(float{}); return Status::Ok();
    case DataType::kDouble: fn(double{}); return Status::Ok();
    case DataType::kHalf: fn(Half{}); return Status::Ok();
    case DataType::kBFloat16: fn(BFloat16{}); return Status::Ok();
    default: return unsupported("dtype ", dataTypeName(t), " is not a floating-point type");
  }
}

template <typename Fn>
Status dispatchInt(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kInt8: fn(int8_t{}); return Status::Ok();
    case DataType::kUInt8: fn(uint8_t{}); return Status::Ok();
    case DataType::kInt16: fn(int16_t{}); return Status::Ok();
    case DataType::kUInt16: fn(uint16_t{}); return Status::Ok();
    case DataType::kInt32: fn(int32_t{}); return Status::Ok();
    case DataType::kUInt32: fn(uint32_t{}); return Status::Ok();
    case DataType::kInt64: fn(int64_t{}); return Status::Ok();
    case DataType::kUInt64: fn(uint64_t{}); return Status::Ok();
    default: return unsupported("dtype ", dataTypeName(t), " is not an integer type");
  }
}

template <typename Fn>
Status dispatchUnsigned(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kUInt8: fn(uint8_t{}); return Status::Ok();
    case DataType::kUInt16: fn(uint16_t{}); return Status::Ok();
    case DataType::kUInt32: fn(uint32_t{}); return Status::Ok();
    case DataType::kUInt64: fn(uint64_t{}); return Status::Ok();
    default: return unsupported("dtype ", dataTypeName(t), " is not an unsigned integer type");
  }
}

template <typename Fn>
Status dispatchNumeric(DataType t, Fn&& fn) {
  if (dispatchFloat(t, fn).ok()) return Status::Ok();
  if (dispatchInt(t, fn).ok()) return Status::Ok();
  return unsupported("dtype ", dataTypeName(t), " is not numeric");
}

// Numeric types and bool.
template <typename Fn>
Status dispatchAll(DataType t, Fn&& fn) {
  if (t == DataType::kBool) {
    fn(bool{});
    return Status::Ok();
  }
  return dispatchNumeric(t, fn);
}

// The dtype subset a kernel template is instantiated for, chosen at compile time.
enum class Types { kFloat, kInt, kUnsigned, kNumeric, kAll, kBool };

template <Types kTypes, typename Fn>
Status dispatchTypes(DataType t, Fn&& fn) {
  if constexpr (kTypes == Types::kFloat) {
    return dispatchFloat(t, fn);
  } else if constexpr (kTypes == Types::kInt) {
    return dispatchInt(t, fn);
  } else if constexpr (kTypes == Types::kUnsigned) {
    return dispatchUnsigned(t, fn);
  } else if constexpr (kTypes == Types::kNumeric) {
    return dispatchNumeric(t, fn);
  } else if constexpr (kTypes == Types::kAll) {
    return dispatchAll(t, fn);
  } else {
    if (t != DataType::kBool) return unsupported("dtype ", dataTypeName(t), " is not bool");
    fn(bool{});
    return Status::Ok();
  }
}

// ---- exact element conversion (ONNX Cast) ---------------------------------------------------

// Rounds a double to float "to odd": truncate toward zero, then set the lowest mantissa bit when
// the result is inexact. Rounding that float to fp16/bf16 (nearest even) then gives the same
// result as rounding the double directly, because float keeps more than two extra bits.
inline float roundToOddFloat(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(f) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  return bitsFloat(floatBits(f) | 1u);
}

// Float -> integer as ONNX Cast (and numpy on x86) does: truncate toward zero, then wrap into the
// target width. NaN gives 0; values beyond int64 saturate first, so there is no UB.
template <typename To>
inline To floatToInt(double v) {
  double t = std::trunc(v);
  if (std::isnan(t)) return To(0);
  if constexpr (std::is_same_v<To, uint64_t>) {
    if (t >= 0x1p64) return std::numeric_limits<uint64_t>::max();
    if (t >= 0x1p63) return static_cast<uint64_t>(t);
  }
  int64_t i = t >= 0x1p63 ? std::numeric_limits<int64_t>::max()
              : t < -0x1p63 ? std::numeric_limits<int64_t>::min()
                            : static_cast<int64_t>(t);
  return static_cast<To>(i);  // modular since C++20
}

// Converts one element between storage types with a single rounding.
template <typename To, typename From>
inline To convertValue(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return load(v) != ComputeType<From>(0);  // NaN -> true, as numpy
  } else if constexpr (std::is_same_v<From, bool>) {
    return store<To>(ComputeType<To>(v ? 1 : 0));
  } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
    if constexpr (std::is_same_v<From, float> || std::is_same_v<From, Half> || std::is_same_v<From, BFloat16>)
      return To(static_cast<float>(v));
    else
      return To(roundToOddFloat(static_cast<double>(v)));  // double and ints (exact in double to 2^53)
  } else if constexpr (kIsInt<To> && !kIsInt<From>) {
    return floatToInt<To>(static_cast<double>(load(v)));
  } else {
    return static_cast<To>(load(v));  // int -> int wraps; -> float/double rounds once
  }
}

// ---- parallel loops -------------------------------------------------------------------------

// Elements per chunk sent to another thread; elementwise work is cheap.
inline constexpr int64_t kElementGrain = 32768;

// parallelFor over [0, n) with a body referenced, not copied: the std::function parallelFor
// builds then holds a single pointer and needs no heap storage.
template <typename F>
void parallelRange(int64_t n, const F& body, int64_t grain = kElementGrain) {
  parallelFor(n, grain, [&body](int64_t b, int64_t e) { body(b, e); });
}

// ---- broadcasting ---------------------------------------------------------------------------

// How K inputs map onto the output under numpy broadcasting. Built in reshape(); forRange() walks
// any range of output indices with the input offsets kept incrementally and allocates nothing.
// Adjacent dims that broadcast the same way for every input are merged, so the innermost run is
// as long as possible (e.g. [1,64,56,56] + [1,64,1,1] becomes [64, 3136] with strides [1, 0]).
template <size_t K>
class BroadcastPlan {
 public:
  // `ins` must broadcast to `out` (checked by shape inference; rechecked here).
  Status init(const Dims& out, const std::array<const Dims*, K>& ins) {
    numel_ = volume(out);
    std::array<std::vector<int64_t>, K> full;
    for (size_t k = 0; k < K; ++k) {
      const Dims& d = *ins[k];
      if (d.size() > out.size()) return internalError("broadcast: input rank above output rank");
      for (size_t i = 0; i < d.size(); ++i) {
        int64_t o = out[out.size() - d.size() + i];
        if (d[i] != o && d[i] != 1) return internalError("broadcast: ", dimsToString(d), " vs ", dimsToString(out));
      }
      full[k] = broadcastStrides(d, out);
    }
    dims_.clear();
    for (auto& s : strides_) s.clear();
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == 1) continue;  // size-1 dims move nothing
      bool merge = !dims_.empty();
      for (size_t k = 0; k < K && merge; ++k) merge = strides_[k].back() == full[k][i] * out[i];
      if (merge) {
        dims_.back() *= out[i];
        for (size_t k = 0; k < K; ++k) strides_[k].back() = full[k][i];
      } else {
        dims_.push_back(out[i]);
        for (size_t k = 0; k < K; ++k) strides_[k].push_back(full[k][i]);
      }
    }
    if (dims_.empty()) {  // a scalar or all-ones output
      dims_.push_back(1);
      for (size_t k = 0; k < K; ++k) strides_[k].push_back(0);
    }
    flat_ = dims_.size() == 1;
    for (size_t k = 0; k < K; ++k) flat_ = flat_ && strides_[k][0] == 1;
    return Status::Ok();
  }

  int64_t numel() const { return numel_; }
  // Every input has the output's shape: element i of each input goes to element i of the output.
  bool flat() const { return flat_; }

  // Calls fn(out_index, off) for out_index in [begin, end), where off[k] is input k's element.
  template <typename Fn>
  void forRange(int64_t begin, int64_t end, Fn&& fn) const {
    const size_t r = dims_.size();
    const int64_t inner = dims_[r - 1];
    int64_t inner_stride[K];
    for (size_t k = 0; k < K; ++k) inner_stride[k] = strides_[k][r - 1];
    int64_t i = begin;
    while (i < end) {
      // Offsets of element i, from its multi-index (once per inner run).
      int64_t off[K] = {};
      int64_t rem = i;
      for (size_t d = r; d-- > 0;) {
        int64_t c = rem % dims_[d];
        rem /= dims_[d];
        for (size_t k = 0; k < K; ++k) off[k] += c * strides_[k][d];
      }
      int64_t run = std::min(inner - i % inner, end - i);
      for (int64_t j = 0; j < run; ++j) {
        fn(i + j, off);
        for (size_t k = 0; k < K; ++k) off[k] += inner_stride[k];
      }
      i += run;
    }
  }

 private:
  int64_t numel_ = 0;
  bool flat_ = true;
  Dims dims_;
  std::array<std::vector<int64_t>, K> strides_;
};

}  // namespace qrt::reference
