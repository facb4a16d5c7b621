// CUDA-free helpers around device memory, for tools and tests that bind device buffers to CUDA
// engines (which take device addresses, as TensorRT's do). Compiled only with the CUDA backend
// (QRT_HAVE_CUDA); no CUDA header is needed to use them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "qrt/status.h"

namespace qrt::cuda {

// Ok when a CUDA device can be used here; else why not (no driver, no device...).
Status deviceStatus();
// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, driver 13.0, runtime 13.0, cuDNN 9.19.0, cuBLASLt 13.0.0"
std::string deviceSummary();

// Device memory freed when the last reference goes.
Result<std::shared_ptr<void>> deviceAlloc(size_t bytes);
// Page-locked host memory (fast, asynchronous copies) freed when the last reference goes.
Result<std::shared_ptr<void>> pinnedAlloc(size_t bytes);
// Synchronous copies and fill.
Status copyToDevice(void* device_dst, const void* host_src, size_t bytes);
Status copyToHost(void* host_dst, const void* device_src, size_t bytes);
Status fillDevice(void* device_dst, int byte_value, size_t bytes);
// A cudaStream_t (as void*, for ExecutionContext::enqueue(void*)) destroyed with the last
// reference, and waiting for it.
Result<std::shared_ptr<void>> createStream();
Status synchronizeStream(void* stream);

}  // namespace qrt::cuda
