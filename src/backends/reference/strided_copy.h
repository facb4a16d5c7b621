// Byte-level data movement shared by the reference tensor kernels. These ops never look at
// values, so one routine on element sizes serves every dtype:
//   Transpose = copy with permuted source strides, Slice = scaled strides and an offset,
//   Expand/Tile = zero strides on repeated axes, Concat/Split = strided destination/source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt::reference {

// Loops keep their index in fixed arrays (no allocation in run); plans never exceed this rank.
inline constexpr size_t kMaxCopyRank = 16;

// n elements of esize bytes: dst[i * dst_stride] = src[i * src_stride] (strides in elements).
void copyElements(void* dst, int64_t dst_stride, const void* src, int64_t src_stride, int64_t n, size_t esize);
// n elements of esize bytes, each a copy of `value`.
void fillElements(void* dst, int64_t n, const void* value, size_t esize);

// A copy over an index box `dims`: for every index i,
//   dst[dst_base + sum_d i_d * dst_strides[d]] = src[src_base + sum_d i_d * src_strides[d]]
// (offsets and strides in elements; source strides may be 0 to repeat or negative to reverse).
// Axes of size 1 are dropped and axes contiguous in both tensors merged, so the inner loop is a
// memcpy whenever the layout allows.
class StridedCopy {
 public:
  // Reserves room for plans of up to `rank` axes, so that plan() need not allocate (run-time
  // plans, when a kernel learns its arguments only in run()).
  void reserve(size_t rank);
  Status plan(size_t esize, std::span<const int64_t> dims, std::span<const int64_t> src_strides, int64_t src_base,
              std::span<const int64_t> dst_strides, int64_t dst_base);
  // Splits the outer rows over the thread pool.
  void run(void* dst, const void* src) const;

 private:
  size_t esize_ = 0;
  bool empty_ = true;
  std::vector<int64_t> dims_, src_strides_, dst_strides_;
  int64_t src_base_ = 0, dst_base_ = 0;
};

}  // namespace qrt::reference
