// The device an execution context runs on: its stream and library handles (cuDNN, cuBLASLt),
// and what the builder records about the GPU and the libraries.
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/cuda_util.h"

namespace qrt::cuda {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int sm = 0;             // compute capability as 10 * major + minor (90 for Hopper)
  int sm_count = 0;
  int driver = 0;         // cudaDriverGetVersion: 1000 * major + 10 * minor
  int runtime = 0;        // cudaRuntimeGetVersion
  size_t cudnn = 0;       // cudnnGetVersion: 10000 * major + 100 * minor + patch (cuDNN 9)
  int cublaslt = 0;       // cublasLtGetVersion
};

// The current device and the libraries loaded; fails when no device can be used.
Result<DeviceInfo> currentDevice();
std::string archName(int sm);  // "sm_90"
std::string versionName(int v);  // 13000 -> "13.0"
std::string cudnnVersionName(size_t v);  // 91900 -> "9.19.0"

// One per execution context. `stream` is the stream of the run in progress: the context's own,
// or the caller's stream passed to enqueue(stream).
class DeviceContext {
 public:
  static Result<std::unique_ptr<DeviceContext>> create(bool allow_tf32);
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  // Makes `s` (nullptr: the own stream) the stream of the following kernels and library calls.
  Status bind(cudaStream_t s);

  cudaStream_t stream = nullptr;
  cudaStream_t own_stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasLtHandle_t lt = nullptr;
  bool allow_tf32 = false;  // FP32 convolutions and GEMMs may use TF32 tensor cores
  int sm = 0;

 private:
  DeviceContext() = default;
};

}  // namespace qrt::cuda
