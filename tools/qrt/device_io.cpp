#include "device_io.h"

#include <cstring>

#include "core/status_macros.h"
#ifdef QRT_HAVE_CUDA
#include "backends/cuda/device_memory.h"
#endif

namespace qrt::cli {

DeviceIo::DeviceIo(const Engine& engine) : device_(engine.metadata("device") == "cuda") {}

Status DeviceIo::reserve(Buffer& b, size_t bytes) {
  b.bytes = bytes;
  if (bytes <= b.capacity && b.device) return Status::Ok();
#ifdef QRT_HAVE_CUDA
  b.device.reset();
  b.pinned.reset();
  QRT_ASSIGN_OR_RETURN(b.device, cuda::deviceAlloc(bytes));
  QRT_ASSIGN_OR_RETURN(b.pinned, cuda::pinnedAlloc(bytes));
  b.capacity = bytes;
  return Status::Ok();
#else
  return unsupported("this engine runs on CUDA, but this qrt was built without the CUDA backend");
#endif
}

Status DeviceIo::bindInput(ExecutionContext& ctx, const std::string& name, const void* data, size_t bytes) {
  if (!device_) return ctx.setTensorAddress(name, const_cast<void*>(data));
  Buffer& b = inputs_[name];
  QRT_RETURN_IF_ERROR(reserve(b, bytes));
#ifdef QRT_HAVE_CUDA
  if (bytes) std::memcpy(b.pinned.get(), data, bytes);
  QRT_RETURN_IF_ERROR(cuda::copyToDevice(b.device.get(), b.pinned.get(), bytes));
#endif
  return ctx.setTensorAddress(name, b.device.get());
}

Status DeviceIo::bindOutput(ExecutionContext& ctx, const std::string& name, void* host, size_t bytes) {
  if (!device_) return ctx.setTensorAddress(name, host);
  Buffer& b = outputs_[name];
  QRT_RETURN_IF_ERROR(reserve(b, bytes));
  b.host = host;
  return ctx.setTensorAddress(name, b.device.get());
}

Status DeviceIo::fetch() {
  if (!device_) return Status::Ok();
#ifdef QRT_HAVE_CUDA
  for (auto& [name, b] : outputs_) {
    if (!b.host || b.bytes == 0) continue;
    QRT_RETURN_IF_ERROR(cuda::copyToHost(b.pinned.get(), b.device.get(), b.bytes));
    std::memcpy(b.host, b.pinned.get(), b.bytes);
  }
#endif
  return Status::Ok();
}

}  // namespace qrt::cli
