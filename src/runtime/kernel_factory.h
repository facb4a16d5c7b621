// Creates the kernel for a node from the backend the builder chose for it (node.backend), and,
// for engines built for a device (CUDA), the device runtime an execution context runs through.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "backends/kernel.h"
#include "qrt/builder.h"
#include "runtime/engine_impl.h"

namespace qrt {

inline constexpr const char* kBackendReference = "reference";
inline constexpr const char* kBackendHost = "host";  // shape computations evaluated at reshape time
inline constexpr const char* kBackendCuda = "cuda";
inline constexpr const char* kBackendCpu = "cpu";  // oneDNN kernels (src/backends/cpu)

// For node.backend "cuda" this creates the kernel without a device: enough to validate the node
// at build time; execution contexts create device kernels through their DeviceRuntime.
Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node);

// What an execution context needs from a device backend: memory, copies and kernels bound to
// the context's stream and library handles. Host engines have none (everything is host memory).
// Device kernels see device addresses in run(); in reshape() they see host addresses for values
// known on the host (constants, shape computations), as host kernels do.
class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node) = 0;
  // The device copy of a constant, uploaded once per engine and shared by its contexts.
  virtual Result<void*> constantData(const ir::Value& value) = 0;
  // Device memory, freed when the last reference goes.
  virtual Result<std::shared_ptr<void>> allocate(size_t bytes) = 0;
  // Synchronous copies (reshape time: shape tensors, host values read by device kernels).
  virtual Status upload(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual Status download(void* host_dst, const void* device_src, size_t bytes) = 0;
  // Device-to-device copy queued on the current run's stream.
  virtual Status copyAsync(void* device_dst, const void* device_src, size_t bytes) = 0;
  // Brackets one enqueue: `stream` is the caller's (nullptr: the context's own stream); end()
  // waits for the work when `synchronize` is set and reports errors raised by the kernels.
  virtual Status begin(void* stream) = 0;
  virtual Status end(bool synchronize) = 0;
  // Graphs: runs `work` (one enqueue's device work, planned beforehand: nothing in it may
  // synchronize or allocate) captured into a graph, and replays that graph instead on later calls
  // with the same `key` (shapes and addresses). Where capture fails, runs `work` directly.
  virtual Status runCaptured(uint64_t key, const std::function<Status()>& work) = 0;
};

// The device runtime for an engine whose metadata names a device ("device": "cuda"); nullptr
// for host engines. Refuses engines built for another GPU architecture or library version.
Result<std::unique_ptr<DeviceRuntime>> createDeviceRuntime(const std::shared_ptr<const Engine::Impl>& engine);

// Builder step for a device build: chooses the device kernels (and their precision, FP16 where
// the config allows it), refuses nodes the device cannot run, and records the device and
// library versions in the metadata. Runs after the graph passes, before finalizeEngine.
Status prepareGraphForDevice(ir::Graph& graph, const BuilderConfig& config,
                             std::map<std::string, std::string>& metadata);

}  // namespace qrt
