// The CUDA device runtime of an execution context: its DeviceContext (stream, cuDNN, cuBLASLt),
// device memory, copies, and the engine's constants on the device (uploaded once, shared by
// every context of the engine). Creating it checks that the engine was built for this GPU
// architecture and cuDNN major version.
#include <mutex>

#include "core/logging.h"

#include "backends/cuda/kernel_table.h"
#include "backends/cuda/profiled_kernel.h"
#include "backends/cuda/runtime.h"

namespace qrt::cuda {

namespace {

// The engine's constants on the device, shared by its contexts (Engine::Impl::device_state).
struct ConstantStore {
  std::mutex mutex;
  std::map<const ir::Value*, DeviceBuffer> buffers;
};

class CudaRuntime final : public DeviceRuntime {
 public:
  CudaRuntime(std::unique_ptr<DeviceContext> dev, std::shared_ptr<ConstantStore> store)
      : dev_(std::move(dev)), store_(std::move(store)) {}

  Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node) override {
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, cuda::createKernel(node, dev_.get()));
    if (profile_) k = std::make_unique<ProfiledKernel>(node, dev_.get(), std::move(k));
    return k;
  }

  Result<void*> constantData(const ir::Value& v) override {
    std::lock_guard<std::mutex> lock(store_->mutex);
    auto it = store_->buffers.find(&v);
    if (it != store_->buffers.end()) return it->second.get();
    DeviceBuffer b;
    QRT_RETURN_IF_ERROR(b.upload(v.constant->data(), v.constant->bytes(), "constant '" + v.name + "'"));
    void* p = b.get();
    store_->buffers.emplace(&v, std::move(b));
    return p;
  }

  Result<std::shared_ptr<void>> allocate(size_t bytes) override {
    void* p = nullptr;
    QRT_RETURN_IF_ERROR(checkCuda(cudaMalloc(&p, bytes ? bytes : 1), "device memory of ", bytes, " bytes"));
    return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
  }

  Status upload(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return Status::Ok();
    // Landed before the context's non-blocking stream reads it (see DeviceBuffer::upload).
    QRT_RETURN_IF_ERROR(checkCuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "upload of ", bytes, " bytes"));
    return checkCuda(cudaStreamSynchronize(cudaStreamLegacy), "upload of ", bytes, " bytes");
  }

  Status download(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return Status::Ok();
    QRT_RETURN_IF_ERROR(checkCuda(cudaStreamSynchronize(dev_->stream), "download"));
    return checkCuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "download of ", bytes, " bytes");
  }

  Status copyAsync(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0 || dst == src) return Status::Ok();
    return checkCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, dev_->stream), "device copy");
  }

  Status begin(void* stream) override { return dev_->bind(static_cast<cudaStream_t>(stream)); }

  Status runCaptured(uint64_t key, const std::function<Status()>& work) override {
    if (graph_failed_) return work();
    if (exec_ && key == key_) return checkCuda(cudaGraphLaunch(exec_, dev_->stream), "CUDA graph launch");
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
    QRT_RETURN_IF_ERROR(checkCuda(cudaStreamBeginCapture(dev_->stream, cudaStreamCaptureModeThreadLocal), "CUDA graph capture"));
    Status s = work();
    cudaGraph_t graph = nullptr;
    cudaError_t e = cudaStreamEndCapture(dev_->stream, &graph);
    if (s.ok() && e == cudaSuccess) e = cudaGraphInstantiate(&exec_, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (!s.ok() || e != cudaSuccess) {
      // Something in the run cannot be captured: run without graphs from now on.
      cudaGetLastError();
      exec_ = nullptr;
      graph_failed_ = true;
      logWarning("CUDA graph capture failed (", s.ok() ? cudaGetErrorString(e) : s.message(), "); running without graphs");
      return work();
    }
    key_ = key;
    return checkCuda(cudaGraphLaunch(exec_, dev_->stream), "CUDA graph launch");
  }

  ~CudaRuntime() override {
    if (exec_) cudaGraphExecDestroy(exec_);
  }

  Status end(bool synchronize) override {
    Status s = checkCuda(cudaGetLastError(), "CUDA engine run");
    if (synchronize && s.ok()) s = checkCuda(cudaStreamSynchronize(dev_->stream), "CUDA engine run");
    return s;
  }

 private:
  std::unique_ptr<DeviceContext> dev_;
  std::shared_ptr<ConstantStore> store_;
  bool profile_ = profilingEnabled();
  cudaGraphExec_t exec_ = nullptr;
  uint64_t key_ = 0;
  bool graph_failed_ = false;
};

std::string metadataOf(const Engine::Impl& e, const std::string& key) {
  auto it = e.metadata.find(key);
  return it == e.metadata.end() ? std::string() : it->second;
}

}  // namespace

Result<std::unique_ptr<DeviceRuntime>> createRuntime(const std::shared_ptr<const Engine::Impl>& engine) {
  auto info = currentDevice();
  if (!info.ok()) return unsupported("this engine runs on CUDA, but ", info.status().message());
  // An engine holds choices made for one GPU architecture and one cuDNN; refuse others.
  const std::string built_arch = metadataOf(*engine, "cuda_arch"), here = archName(info->sm);
  if (built_arch != here)
    return unsupported("this engine was built for ", built_arch, " (", metadataOf(*engine, "cuda_device"),
                       "), but this GPU is ", info->name, " (", here, "): rebuild the engine on this GPU");
  const std::string built_cudnn = metadataOf(*engine, "cudnn_version");
  const std::string major_here = std::to_string(info->cudnn / 10000);
  if (built_cudnn.substr(0, built_cudnn.find('.')) != major_here)
    return unsupported("this engine was built with cuDNN ", built_cudnn, ", but cuDNN ", cudnnVersionName(info->cudnn),
                       " is loaded here: rebuild the engine with this cuDNN");
  const bool tf32 = metadataOf(*engine, "builder_flags").find("tf32") != std::string::npos;
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<DeviceContext> dev, DeviceContext::create(tf32));
  std::shared_ptr<ConstantStore> store;
  {
    std::lock_guard<std::mutex> lock(engine->device_mutex);
    if (!engine->device_state) engine->device_state = std::make_shared<ConstantStore>();
    store = std::static_pointer_cast<ConstantStore>(engine->device_state);
  }
  return std::unique_ptr<DeviceRuntime>(new CudaRuntime(std::move(dev), std::move(store)));
}

}  // namespace qrt::cuda
