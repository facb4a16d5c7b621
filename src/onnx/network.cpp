// qrt::Network: the public face of an imported ir::Graph.
#include <utility>

#include "ir/graph.h"
#include "qrt/network.h"

namespace qrt {

namespace {
TensorInfo infoOf(const ir::Value* v) {
  TensorInfo info;
  info.name = v->name;
  info.dtype = v->dtype;
  info.dims = v->dims;
  return info;
}
}  // namespace

Network::Network(std::unique_ptr<ir::Graph> graph) : graph_(std::move(graph)) {}
Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

std::vector<TensorInfo> Network::inputs() const {
  std::vector<TensorInfo> out;
  for (const ir::Value* v : graph_->inputs) out.push_back(infoOf(v));
  return out;
}

std::vector<TensorInfo> Network::outputs() const {
  std::vector<TensorInfo> out;
  for (const ir::Value* v : graph_->outputs) out.push_back(infoOf(v));
  return out;
}

std::vector<LayerInfo> Network::layers() const {
  std::vector<LayerInfo> out;
  for (const auto& n : graph_->nodes()) {
    LayerInfo l;
    l.name = n->name;
    l.op = n->op_type;
    for (const ir::Value* v : n->inputs) l.inputs.push_back(v ? v->name : "");
    for (const ir::Value* v : n->outputs) {
      l.outputs.push_back(v ? v->name : "");
      l.output_dims.push_back(v ? v->dims : Dims{});
    }
    // Before building, a layer's precision is simply the dtype of what it produces.
    const ir::Value* first = n->outputs.empty() ? nullptr : n->outputs.front();
    l.precision = first ? dataTypeName(first->dtype) : "";
    l.backend = n->backend;
    out.push_back(std::move(l));
  }
  return out;
}

std::string Network::toString() const { return ir::print(*graph_); }

}  // namespace qrt
