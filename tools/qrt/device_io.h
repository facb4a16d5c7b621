// Host <-> device staging for CUDA engines in the CLI (qrt run, qrt eval). A CUDA engine binds
// device addresses (as TensorRT's do), so each bound tensor gets a device buffer and a
// page-locked (pinned) host buffer: copies from pinned memory are DMA transfers at full PCIe
// speed, where pageable memory is first copied by the driver into its own pinned staging area.
// Buffers are kept and reused while they are large enough (qrt eval binds every batch).
// For CPU engines (or a qrt built without CUDA) the host tensors are bound directly.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "qrt/qrt.h"

namespace qrt::cli {

class DeviceIo {
 public:
  explicit DeviceIo(const Engine& engine);
  bool onDevice() const { return device_; }
  // Binds input `name` with the bytes at `data` (copied to the device now, through pinned memory).
  Status bindInput(ExecutionContext& ctx, const std::string& name, const void* data, size_t bytes);
  // Binds output `name`; fetch() copies it into `host` (which must stay valid until then).
  Status bindOutput(ExecutionContext& ctx, const std::string& name, void* host, size_t bytes);
  // After the run: copies every bound output to its host tensor.
  Status fetch();

 private:
  struct Buffer {
    std::shared_ptr<void> device, pinned;
    size_t capacity = 0, bytes = 0;
    void* host = nullptr;
  };
  Status reserve(Buffer& b, size_t bytes);
  bool device_ = false;
  std::map<std::string, Buffer> inputs_, outputs_;
};

}  // namespace qrt::cli
