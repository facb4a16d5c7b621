#include "runtime/kernel_factory.h"

#include "backends/reference/kernel_table.h"
#ifdef QRT_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif
#ifdef QRT_HAVE_DNNL
#include "backends/cpu/kernel_table.h"
#endif

namespace qrt {

Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node) {
  if (node.backend == kBackendReference || node.backend == kBackendHost) {
    const KernelEntry* e = reference::findKernel(node);
    if (!e) return unsupported(node.describe(), ": the reference backend has no kernel for it");
    auto k = e->create(node);
    if (!k.ok()) return k.status();
    return std::move(k).value();
  }
#ifdef QRT_HAVE_DNNL
  if (node.backend == kBackendCpu) {
    const KernelEntry* e = cpu::findKernel(node);
    if (!e) return unsupported(node.describe(), ": the cpu backend has no kernel for it");
    return e->create(node);
  }
#endif
#ifdef QRT_HAVE_CUDA
  if (node.backend == kBackendCuda) return cuda::createKernel(node, nullptr);
#endif
  return unsupported(node.describe(), ": backend '", node.backend, "' is not compiled into this qrt");
}

Result<std::unique_ptr<DeviceRuntime>> createDeviceRuntime(const std::shared_ptr<const Engine::Impl>& engine) {
  auto it = engine->metadata.find("device");
  if (it == engine->metadata.end() || it->second == "cpu") return std::unique_ptr<DeviceRuntime>();
#ifdef QRT_HAVE_CUDA
  if (it->second == kBackendCuda) return cuda::createRuntime(engine);
#endif
  return unsupported("this engine was built for device '", it->second, "', which is not compiled into this qrt");
}

Status prepareGraphForDevice(ir::Graph& graph, const BuilderConfig& config,
                             std::map<std::string, std::string>& metadata) {
#ifdef QRT_HAVE_CUDA
  if (config.device() == DeviceType::kCUDA) return cuda::prepareGraph(graph, config, metadata);
#endif
  if (config.device() == DeviceType::kCPU) return Status::Ok();
  return unsupported("--device cuda: this qrt was built without the CUDA backend");
}

}  // namespace qrt
