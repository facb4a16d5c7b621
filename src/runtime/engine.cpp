#include "core/status_macros.h"
#include "ir/layer_info.h"
#include "qrt/engine.h"
#include "runtime/engine_impl.h"

#ifndef QRT_VERSION
#define QRT_VERSION "0.0.0"
#endif

namespace qrt {

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::vector<TensorInfo> Engine::inputs() const { return ir::describeInputs(*impl_->graph); }
std::vector<TensorInfo> Engine::outputs() const { return ir::describeOutputs(*impl_->graph); }
std::vector<LayerInfo> Engine::layers() const { return ir::describeLayers(*impl_->graph, impl_->metadata); }

std::string Engine::metadata(const std::string& key) const {
  auto it = impl_->metadata.find(key);
  return it == impl_->metadata.end() ? std::string() : it->second;
}
const std::map<std::string, std::string>& Engine::allMetadata() const { return impl_->metadata; }

const char* versionString() { return QRT_VERSION; }

std::vector<std::string> compiledBackends() {
  std::vector<std::string> backends{"reference"};
#ifdef QRT_HAVE_DNNL
  backends.push_back("cpu");
#endif
#ifdef QRT_HAVE_CUDA
  backends.push_back("cuda");
#endif
  return backends;
}

}  // namespace qrt
