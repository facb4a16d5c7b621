// A tiny ONNX model built in memory (one node, or a short chain for the fusion passes) together
// with the values its graph inputs are fed at run time. The kernel tests (cpu vs reference) and
// the per-op micro-benchmarks (bench/micro) build every case with it.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "qrt/qrt.h"

namespace qrt::test {

// A named tensor: a graph input's feed or an initializer. FP32 values live in `values`; any other
// element type (int8/uint8 for the INT8 cases, bf16, int64) in `raw`, its bytes.
struct Tensor {
  std::string name;
  Dims dims;
  std::vector<float> values;
  DataType type = DataType::kFloat;
  std::vector<uint8_t> raw;

  const void* data() const { return type == DataType::kFloat ? static_cast<const void*>(values.data()) : raw.data(); }
  size_t bytes() const { return type == DataType::kFloat ? values.size() * sizeof(float) : raw.size(); }
};

// Values uniform in [-1, 1), from a fixed seed.
Tensor randomTensor(const std::string& name, Dims dims, uint32_t seed);
// Integers uniform in [lo, hi], stored as `type` (kInt8, kUInt8, kInt32 or kInt64).
Tensor randomIntTensor(const std::string& name, Dims dims, DataType type, int64_t lo, int64_t hi, uint32_t seed);
// A tensor of one value stored as `type`, shape `dims` ({} is a scalar). Quantization parameters.
Tensor scalarTensor(const std::string& name, DataType type, double value, Dims dims = {});

// Sets QRT_BACKEND (read by the builder) for one scope; nullptr unsets it.
// Serializes `model`, imports it and builds it with QRT_BACKEND=backend (nullptr: unset, the
// builder's own choice): what every test-local model builder does last.
Result<std::shared_ptr<Engine>> buildModel(const onnx::ModelProto& model, const char* backend,
                                           const BuilderConfig& config = BuilderConfig{});

class BackendEnv {
 public:
  explicit BackendEnv(const char* value);
  ~BackendEnv();
  BackendEnv(const BackendEnv&) = delete;
  BackendEnv& operator=(const BackendEnv&) = delete;
};

// A model of one node (output "Y"), its inputs fed at run time or stored as initializers.
class OneNode {
 public:
  explicit OneNode(const std::string& op, int opset = 17, const std::string& domain = "");

  // A graph input of the node, fed `t` at run time.
  OneNode& input(const Tensor& t);
  // An initializer input of the node.
  OneNode& constant(const Tensor& t);
  // An absent optional input (the empty name).
  OneNode& skipInput();
  // An input of the node by the name of a value the model already has (an initializer added
  // before, or the output of a prepended node).
  OneNode& inputName(const std::string& name);
  // An initializer that no node of the chain reads directly (prepended nodes read it).
  OneNode& initializer(const Tensor& t);
  // A node placed before the whole chain (first in the graph), e.g. DequantizeLinear of a
  // constant int8 weight whose output the chain's node reads through inputName().
  OneNode& prepend(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                   const std::vector<std::pair<std::string, int64_t>>& int_attributes = {});
  // Appends a node reading the current output (renamed) and producing "Y"; inputs added after
  // this call go to the new node. Builds small chains for the fusion pass (Conv -> Add -> Relu).
  OneNode& then(const std::string& op, const std::string& domain = "");
  // Appends Swish as ONNX spells it: Mul(v, Sigmoid(v)).
  OneNode& thenSwish();
  OneNode& ints(const std::string& name, const std::vector<int64_t>& v);
  OneNode& integer(const std::string& name, int64_t v);
  OneNode& real(const std::string& name, float v);
  OneNode& string(const std::string& name, const std::string& v);
  // The element type of output "Y" (FP32 unless set; QuantizeLinear's is int8/uint8).
  OneNode& outputType(DataType type);
  // Adds another graph output (MaxPool's Indices).
  OneNode& output(const std::string& name, DataType type);
  // Makes the first dim of every graph input dynamic ("N"): set per execution context.
  OneNode& dynamicBatch();
  // Rounds every FP32 feed and FP32 initializer to the nearest kHalf or kBFloat16 value (kept
  // as FP32): an FP32 computation on them is then the exact-operand oracle of an FP16/BF16 layer.
  OneNode& roundFloatsTo(DataType type);

  // Builds with QRT_BACKEND=backend (nullptr: unset, the builder's own choice).
  Result<std::shared_ptr<Engine>> build(const char* backend, const BuilderConfig& config = BuilderConfig{}) const;
  // What the graph inputs are fed, in input order.
  const std::vector<Tensor>& feeds() const { return feeds_; }
  const onnx::ModelProto& model() const { return model_; }

 private:
  onnx::AttributeProto* attr(const std::string& name, onnx::AttributeProto::AttributeType type);

  onnx::ModelProto model_;
  onnx::NodeProto* node_;
  std::vector<Tensor> feeds_;
  int chain_ = 0;
};

// Copies of a model's feeds bound to an execution context, and its output "Y" (every byte 0xFF:
// NaN for floats, so an output element a kernel never wrote shows). The storage must outlive
// the context's runs.
struct BoundIO {
  std::vector<std::vector<uint8_t>> inputs;
  std::vector<uint8_t> y;
  Dims y_dims;
  DataType y_type = DataType::kFloat;
};
// Sets every feed's shape, binds copies of the feeds and an output buffer for "Y".
Result<BoundIO> bindFeeds(const Engine& engine, ExecutionContext& ctx, const std::vector<Tensor>& feeds);

}  // namespace qrt::test
