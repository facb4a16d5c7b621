// qrt public API: engines and execution contexts.
//
// Running follows TensorRT's shape: setInputShape -> setTensorAddress -> enqueue. Shapes are
// resolved and memory is planned when input shapes are set; enqueue allocates nothing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qrt/network.h"
#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt {

enum class TensorIOMode { kInput, kOutput };

namespace internal {
struct ContextAccess;  // qrt-internal hooks (calibration observers); not part of the API
}

class ExecutionContext;

// Per-layer timing, shaped like TensorRT's IProfiler. Set one on an execution context and, after
// each enqueue that succeeds, it is told the wall time of every layer that ran, in run order.
// Layers evaluated on the host at reshape time (shape computations) do not run in enqueue and
// are not reported. The calls come once the run is over, never inside a timed region.
class Profiler {
 public:
  virtual ~Profiler() = default;
  // `layer_name` is the layer's name as in Engine::layers(); valid for the engine's lifetime.
  virtual void reportLayerTime(const char* layer_name, float ms) = 0;
};

class Engine {
 public:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  ~Engine();

  // Loads an engine file; a file from another format version, truncated or altered is refused.
  static Result<std::shared_ptr<Engine>> load(const std::string& path);
  static Result<std::shared_ptr<Engine>> deserialize(const void* data, size_t size);
  // Writes the engine atomically (temporary file, then rename).
  Status save(const std::string& path) const;
  Result<std::vector<uint8_t>> serialize() const;

  std::vector<TensorInfo> inputs() const;
  std::vector<TensorInfo> outputs() const;
  std::vector<LayerInfo> layers() const;
  // Metadata stored at build time ("" when absent), e.g. "preprocess", "qrt_version".
  std::string metadata(const std::string& key) const;
  const std::map<std::string, std::string>& allMetadata() const;

  // Each context owns its activations; several contexts may run one engine concurrently.
  Result<std::unique_ptr<ExecutionContext>> createExecutionContext() const;

  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<Impl> impl_;
  friend class ExecutionContext;
};

class ExecutionContext {
 public:
  struct Impl;
  explicit ExecutionContext(std::unique_ptr<Impl> impl);
  ~ExecutionContext();

  // Sets the concrete shape of an input; dims must match the engine's fixed dims.
  Status setInputShape(const std::string& name, const Dims& dims);
  // The shape of any I/O tensor once all input shapes are known (outputs are inferred).
  Result<Dims> tensorShape(const std::string& name);
  // Binds caller-owned memory for an input or output: host memory for CPU engines, device
  // memory for CUDA engines (as TensorRT's setTensorAddress).
  Status setTensorAddress(const std::string& name, void* data);
  // Runs the network over the bound buffers. Synchronous on the CPU. A CUDA engine runs on the
  // context's own stream and returns once the outputs are written.
  Status enqueue();
  // Queues the run on `stream` (a cudaStream_t for CUDA engines) and returns without waiting;
  // nullptr is enqueue(). CPU engines ignore the stream and run synchronously.
  Status enqueue(void* stream);
  // CUDA engines: records an enqueue's kernels into a CUDA graph once and replays the graph while
  // the shapes and the bound addresses stay the same, which removes the per-kernel launch cost
  // that dominates small batches. Off by default; no effect on CPU engines.
  void setCudaGraph(bool on);
  // Bytes of activation memory this context holds for the current shapes.
  size_t activationBytes() const;
  // Reports per-layer times to `profiler` (not owned; nullptr, the default, turns timing off) after
  // each enqueue. Off, it costs one branch per layer. Times come from the host clock: a CPU
  // layer's run time; on a CUDA engine, only the time to queue the layer's kernels.
  void setProfiler(Profiler* profiler);
  Profiler* profiler() const;

 private:
  std::unique_ptr<Impl> impl_;
  friend struct internal::ContextAccess;
};

// "0.1.0".
const char* versionString();
// Backends compiled in, e.g. "reference".
std::vector<std::string> compiledBackends();

}  // namespace qrt
