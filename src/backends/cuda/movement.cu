// The one data-movement kernel: an N-d strided copy (Transpose, Slice, Concat, Expand, layout
// changes and pre-padding are this copy with other strides).
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

namespace {

template <typename E, typename I>
__global__ void stridedCopyKernel(const E* src, E* dst, I n, StridedCopy c) {
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < n; i += static_cast<I>(blockDim.x) * gridDim.x) {
    I rest = i, si = 0, di = 0;
    for (int k = c.rank - 1; k >= 0; --k) {
      I d = rest % static_cast<I>(c.dims[k]);
      rest /= static_cast<I>(c.dims[k]);
      si += d * static_cast<I>(c.src_strides[k]);
      di += d * static_cast<I>(c.dst_strides[k]);
    }
    dst[di] = src[si];
  }
}

template <typename E>
void copyAs(const void* src, void* dst, const StridedCopy& c, int64_t n, cudaStream_t s) {
  // 32-bit (signed: Slice steps may be negative) index arithmetic when every offset fits; it is
  // several times faster than 64-bit.
  int64_t reach = n;
  for (int k = 0; k < c.rank; ++k) {
    reach += (c.dims[k] - 1) * (c.src_strides[k] < 0 ? -c.src_strides[k] : c.src_strides[k]);
    reach += (c.dims[k] - 1) * (c.dst_strides[k] < 0 ? -c.dst_strides[k] : c.dst_strides[k]);
  }
  if (reach < (int64_t{1} << 30))  // headroom for the grid-stride step
    stridedCopyKernel<E, int32_t><<<blocksFor(n), kBlock, 0, s>>>(static_cast<const E*>(src), static_cast<E*>(dst),
                                                                  static_cast<int32_t>(n), c);
  else
    stridedCopyKernel<E, int64_t><<<blocksFor(n), kBlock, 0, s>>>(static_cast<const E*>(src), static_cast<E*>(dst), n, c);
}

}  // namespace

void stridedCopy(const void* src, void* dst, size_t elem_bytes, const StridedCopy& c, cudaStream_t s) {
  int64_t n = 1;
  for (int k = 0; k < c.rank; ++k) n *= c.dims[k];
  if (n == 0) return;
  switch (elem_bytes) {
    case 1: copyAs<uint8_t>(src, dst, c, n, s); break;
    case 2: copyAs<uint16_t>(src, dst, c, n, s); break;
    case 4: copyAs<uint32_t>(src, dst, c, n, s); break;
    default: copyAs<uint64_t>(src, dst, c, n, s); break;
  }
}

}  // namespace qrt::cuda::launch
