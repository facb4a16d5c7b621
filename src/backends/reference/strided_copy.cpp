#include "backends/reference/strided_copy.h"

#include <algorithm>
#include <cstring>

#include "core/status_macros.h"
#include "core/threadpool.h"

namespace qrt::reference {

namespace {

template <typename T>
void copyTyped(T* dst, int64_t ds, const T* src, int64_t ss, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i * ds] = src[i * ss];
}

template <typename T>
void fillTyped(void* dst, int64_t n, const void* value) {
  T v;
  std::memcpy(&v, value, sizeof(T));
  T* d = static_cast<T*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = v;
}

}  // namespace

void copyElements(void* dst, int64_t ds, const void* src, int64_t ss, int64_t n, size_t esize) {
  if (n <= 0) return;
  if (ds == 1 && ss == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * esize);
    return;
  }
  switch (esize) {
    case 1: copyTyped(static_cast<uint8_t*>(dst), ds, static_cast<const uint8_t*>(src), ss, n); return;
    case 2: copyTyped(static_cast<uint16_t*>(dst), ds, static_cast<const uint16_t*>(src), ss, n); return;
    case 4: copyTyped(static_cast<uint32_t*>(dst), ds, static_cast<const uint32_t*>(src), ss, n); return;
    case 8: copyTyped(static_cast<uint64_t*>(dst), ds, static_cast<const uint64_t*>(src), ss, n); return;
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(static_cast<char*>(dst) + i * ds * static_cast<int64_t>(esize),
                    static_cast<const char*>(src) + i * ss * static_cast<int64_t>(esize), esize);
  }
}

void fillElements(void* dst, int64_t n, const void* value, size_t esize) {
  if (n <= 0) return;
  // Loading the value through memcpy keeps it byte-exact (NaN payloads, -0.0).
  switch (esize) {
    case 1: fillTyped<uint8_t>(dst, n, value); return;
    case 2: fillTyped<uint16_t>(dst, n, value); return;
    case 4: fillTyped<uint32_t>(dst, n, value); return;
    case 8: fillTyped<uint64_t>(dst, n, value); return;
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(static_cast<char*>(dst) + i * static_cast<int64_t>(esize), value, esize);
  }
}

void StridedCopy::reserve(size_t rank) {
  dims_.reserve(rank);
  src_strides_.reserve(rank);
  dst_strides_.reserve(rank);
}

Status StridedCopy::plan(size_t esize, std::span<const int64_t> dims, std::span<const int64_t> src_strides,
                         int64_t src_base, std::span<const int64_t> dst_strides, int64_t dst_base) {
  esize_ = esize;
  src_base_ = src_base;
  dst_base_ = dst_base;
  dims_.clear();
  src_strides_.clear();
  dst_strides_.clear();
  empty_ = false;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 0) empty_ = true;
    if (dims[d] == 1) continue;  // its index is always 0: contributes nothing
    // Merge into the previous (outer) axis when stepping it equals running through this one.
    if (!dims_.empty() && src_strides_.back() == src_strides[d] * dims[d] &&
        dst_strides_.back() == dst_strides[d] * dims[d]) {
      dims_.back() *= dims[d];
      src_strides_.back() = src_strides[d];
      dst_strides_.back() = dst_strides[d];
      continue;
    }
    dims_.push_back(dims[d]);
    src_strides_.push_back(src_strides[d]);
    dst_strides_.push_back(dst_strides[d]);
  }
  if (dims_.size() > kMaxCopyRank)
    return unsupported("a copy over ", dims_.size(), " non-mergeable axes (at most ", kMaxCopyRank, ")");
  return Status::Ok();
}

void StridedCopy::run(void* dst, const void* src) const {
  if (empty_) return;
  char* d0 = static_cast<char*>(dst) + dst_base_ * static_cast<int64_t>(esize_);
  const char* s0 = static_cast<const char*>(src) + src_base_ * static_cast<int64_t>(esize_);
  const size_t rank = dims_.size();
  if (rank == 0) {  // a single element
    std::memcpy(d0, s0, esize_);
    return;
  }
  const int64_t inner = dims_.back();
  const int64_t inner_ss = src_strides_.back(), inner_ds = dst_strides_.back();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= dims_[d];
  const int64_t esize = static_cast<int64_t>(esize_);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(inner * esize, 1));
  parallelFor(rows, grain, [&](int64_t begin, int64_t end) {
    // Decompose the first row into outer indices, then advance them like an odometer.
    int64_t idx[kMaxCopyRank] = {};
    int64_t so = 0, doff = 0;
    for (int64_t r = begin, d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
      idx[d] = r % dims_[d];
      r /= dims_[d];
      so += idx[d] * src_strides_[d];
      doff += idx[d] * dst_strides_[d];
    }
    for (int64_t row = begin; row < end; ++row) {
      copyElements(d0 + doff * esize, inner_ds, s0 + so * esize, inner_ss, inner, esize_);
      for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
        so += src_strides_[d];
        doff += dst_strides_[d];
        if (++idx[d] < dims_[d]) break;
        so -= src_strides_[d] * dims_[d];
        doff -= dst_strides_[d] * dims_[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace qrt::reference
