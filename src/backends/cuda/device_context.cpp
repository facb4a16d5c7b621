#include "backends/cuda/device_context.h"

#include "backends/cuda/device_memory.h"

namespace qrt::cuda {

std::string archName(int sm) { return "sm_" + std::to_string(sm); }
std::string versionName(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }
std::string cudnnVersionName(size_t v) {
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
}

Result<DeviceInfo> currentDevice() {
  DeviceInfo d;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return unsupported("no CUDA device usable: ", cudaGetErrorString(e));
  if (count == 0) return unsupported("no CUDA device found");
  QRT_RETURN_IF_ERROR(checkCuda(cudaGetDevice(&d.ordinal), "cudaGetDevice"));
  cudaDeviceProp p{};
  QRT_RETURN_IF_ERROR(checkCuda(cudaGetDeviceProperties(&p, d.ordinal), "cudaGetDeviceProperties"));
  d.name = p.name;
  d.sm = p.major * 10 + p.minor;
  d.sm_count = p.multiProcessorCount;
  QRT_RETURN_IF_ERROR(checkCuda(cudaDriverGetVersion(&d.driver), "cudaDriverGetVersion"));
  QRT_RETURN_IF_ERROR(checkCuda(cudaRuntimeGetVersion(&d.runtime), "cudaRuntimeGetVersion"));
  d.cudnn = cudnnGetVersion();
  d.cublaslt = static_cast<int>(cublasLtGetVersion());
  return d;
}

Result<std::unique_ptr<DeviceContext>> DeviceContext::create(bool allow_tf32) {
  std::unique_ptr<DeviceContext> c(new DeviceContext());
  QRT_ASSIGN_OR_RETURN(DeviceInfo info, currentDevice());
  c->sm = info.sm;
  c->allow_tf32 = allow_tf32;
  QRT_RETURN_IF_ERROR(checkCuda(cudaStreamCreateWithFlags(&c->own_stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreate(&c->cudnn), "cudnnCreate"));
  QRT_RETURN_IF_ERROR(checkCublas(cublasLtCreate(&c->lt), "cublasLtCreate"));
  QRT_RETURN_IF_ERROR(c->bind(nullptr));
  return c;
}

DeviceContext::~DeviceContext() {
  if (lt) cublasLtDestroy(lt);
  if (cudnn) cudnnDestroy(cudnn);
  if (own_stream) cudaStreamDestroy(own_stream);
}

Status DeviceContext::bind(cudaStream_t s) {
  stream = s ? s : own_stream;
  return checkCudnn(cudnnSetStream(cudnn, stream), "cudnnSetStream");
}

// ---- device_memory.h ----

Status deviceStatus() { return currentDevice().status(); }

std::string deviceSummary() {
  auto d = currentDevice();
  if (!d.ok()) return d.status().message();
  int lt = d->cublaslt;
  return strCat(d->name, ", ", archName(d->sm), ", ", d->sm_count, " SMs, driver ", versionName(d->driver), ", runtime ",
                versionName(d->runtime), ", cuDNN ", cudnnVersionName(d->cudnn), ", cuBLASLt ", lt / 10000, ".",
                lt % 10000 / 100, ".", lt % 100);
}

Result<std::shared_ptr<void>> deviceAlloc(size_t bytes) {
  void* p = nullptr;
  QRT_RETURN_IF_ERROR(checkCuda(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc of ", bytes, " bytes"));
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

Result<std::shared_ptr<void>> pinnedAlloc(size_t bytes) {
  void* p = nullptr;
  QRT_RETURN_IF_ERROR(checkCuda(cudaMallocHost(&p, bytes ? bytes : 1), "cudaMallocHost of ", bytes, " bytes"));
  return std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); });
}

// cudaMemcpy from pageable host memory returns once the bytes are staged, possibly before the
// DMA lands, and cudaMemset of device memory is asynchronous: both queue on the legacy default
// stream, which engines' non-blocking streams do not wait for. "Synchronous" (device_memory.h)
// means the data is there before an engine that is enqueued next reads it: wait for that stream.
Status copyToDevice(void* dst, const void* src, size_t bytes) {
  QRT_RETURN_IF_ERROR(checkCuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy of ", bytes, " bytes to the device"));
  return checkCuda(cudaStreamSynchronize(cudaStreamLegacy), "copy of ", bytes, " bytes to the device");
}

Status copyToHost(void* dst, const void* src, size_t bytes) {
  return checkCuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy of ", bytes, " bytes to the host");
}

Status fillDevice(void* dst, int byte_value, size_t bytes) {
  QRT_RETURN_IF_ERROR(checkCuda(cudaMemset(dst, byte_value, bytes), "cudaMemset of ", bytes, " bytes"));
  return checkCuda(cudaStreamSynchronize(cudaStreamLegacy), "cudaMemset of ", bytes, " bytes");
}

Result<std::shared_ptr<void>> createStream() {
  cudaStream_t s = nullptr;
  QRT_RETURN_IF_ERROR(checkCuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate"));
  return std::shared_ptr<void>(static_cast<void*>(s), [](void* q) { cudaStreamDestroy(static_cast<cudaStream_t>(q)); });
}

Status synchronizeStream(void* stream) {
  return checkCuda(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

}  // namespace qrt::cuda
