// Operator definitions: what qrt knows about each ONNX op independent of any backend:
// attribute validation and shape/type inference. Kernels live in src/backends/*.
//
// Shape inference runs twice:
//  * at build time, where some dims may be -1 (dynamic) and only constants have values;
//  * at reshape time (ExecutionContext::setInputShape), where every dim is concrete and the values
//    of shape computations (Shape -> Gather -> Concat -> Reshape...) are known too.
// Inference functions must therefore accept -1 dims (propagate -1 where the output dim depends
// on an unknown) and inputs whose value is unknown (in_values[i] == nullptr): then they produce
// dims of -1, keeping the rank when it is known. They fail (with the node named) only on
// inputs that are wrong for certain.
#pragma once

#include <string>
#include <vector>

#include "core/status_macros.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace qrt {

struct InferContext {
  const ir::Node& node;
  // One entry per node input (absent optional inputs: present=false, type kUndefined).
  std::vector<bool> in_present;
  std::vector<DataType> in_types;
  std::vector<Dims> in_dims;
  std::vector<const HostTensor*> in_values;  // known values, or nullptr
  // Filled by the inference function, one per node output.
  std::vector<DataType> out_types;
  std::vector<Dims> out_dims;

  explicit InferContext(const ir::Node& n) : node(n) {}

  size_t numInputs() const { return in_types.size(); }
  bool hasInput(size_t i) const { return i < in_present.size() && in_present[i]; }
  size_t numOutputs() const { return node.outputs.size(); }
  void setOutput(size_t i, DataType t, Dims d) {
    if (out_types.size() <= i) {
      out_types.resize(i + 1, DataType::kUndefined);
      out_dims.resize(i + 1);
    }
    out_types[i] = t;
    out_dims[i] = std::move(d);
  }
  // An error naming the node: "Conv node 'conv1': <message>".
  template <typename... Args>
  Status error(const Args&... args) const { return invalidArgument(node.describe(), ": ", args...); }
  template <typename... Args>
  Status unsupportedError(const Args&... args) const { return unsupported(node.describe(), ": ", args...); }
};

using InferFn = Status (*)(InferContext& ctx);

// The domain of qrt's internal ops (QConv, QGemm, QMatMul: made by passes, never imported).
inline constexpr const char kQrtDomain[] = "qrt";

struct OpDef {
  const char* op_type;
  InferFn infer;
  const char* domain = "";  // "" is the default ONNX domain
};

}  // namespace qrt
