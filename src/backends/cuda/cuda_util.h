// Error values from CUDA, cuDNN and cuBLASLt calls: each call's status becomes a qrt Status whose
// message names what was being done (the node, the call) and the library's own reason.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdlib>
#include <cstring>

#include "core/status_macros.h"

namespace qrt::cuda {

// Whether environment variable `name` is set to `value` (the backend's switches: "on", "off"...).
inline bool envIs(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

template <typename... Args>
Status checkCuda(cudaError_t e, const Args&... what) {
  if (e == cudaSuccess) return Status::Ok();
  return internalError(strCat(what...), ": CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

template <typename... Args>
Status checkCudnn(cudnnStatus_t s, const Args&... what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::Ok();
  StatusCode code = s == CUDNN_STATUS_NOT_SUPPORTED ? StatusCode::kUnsupported : StatusCode::kInternal;
  return Status(code, strCat(strCat(what...), ": cuDNN ", cudnnGetErrorString(s)));
}

template <typename... Args>
Status checkCublas(cublasStatus_t s, const Args&... what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  StatusCode code = s == CUBLAS_STATUS_NOT_SUPPORTED ? StatusCode::kUnsupported : StatusCode::kInternal;
  return Status(code, strCat(strCat(what...), ": cuBLASLt status ", static_cast<int>(s)));
}

// A cuBLASLt column-major rows x cols layout of type t with leading dimension ld; with batch > 1,
// `batch` such matrices `stride` elements apart.
inline Status createLtLayout(cublasLtMatrixLayout_t* l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld,
                             int64_t batch, int64_t stride, const std::string& who) {
  QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatrixLayoutCreate(l, t, rows, cols, ld), who, ": matrix layout"));
  if (batch > 1) {
    int32_t count = static_cast<int32_t>(batch);
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)), who));
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)), who));
  }
  return Status::Ok();
}

// Device memory owned by a kernel or a context (cudaFree on destruction).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = o.p_;
      bytes_ = o.bytes_;
      o.p_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() { reset(); }

  // Reallocates when `bytes` is more than held (contents are lost).
  Status reserve(size_t bytes, const std::string& who) {
    if (bytes <= bytes_ && p_) return Status::Ok();
    reset();
    QRT_RETURN_IF_ERROR(checkCuda(cudaMalloc(&p_, bytes ? bytes : 1), who, ": cudaMalloc of ", bytes, " bytes"));
    bytes_ = bytes;
    return Status::Ok();
  }
  // Copies host bytes into the buffer (synchronously; reshape time only). A pageable source
  // lets cudaMemcpy return before its DMA lands, and kernels run next on non-blocking streams
  // (which do not wait for the legacy stream the copy is on): wait for it.
  Status upload(const void* host, size_t bytes, const std::string& who) {
    QRT_RETURN_IF_ERROR(reserve(bytes, who));
    if (bytes == 0) return Status::Ok();
    QRT_RETURN_IF_ERROR(checkCuda(cudaMemcpy(p_, host, bytes, cudaMemcpyHostToDevice), who, ": upload"));
    return checkCuda(cudaStreamSynchronize(cudaStreamLegacy), who, ": upload");
  }
  void reset() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  void* get() const { return p_; }
  template <typename T> T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace qrt::cuda
