#include "model_builder.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "core/half.h"
#include "core/status_macros.h"

namespace qrt::test {

Tensor randomTensor(const std::string& name, Dims dims, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  Tensor t{name, std::move(dims), {}};
  t.values.resize(static_cast<size_t>(volume(t.dims)));
  for (float& v : t.values) v = d(rng);
  return t;
}

namespace {

// Stores `v` as one element of `type` at `out`.
void storeInt(DataType type, int64_t v, uint8_t* out) {
  switch (type) {
    case DataType::kInt8: *reinterpret_cast<int8_t*>(out) = static_cast<int8_t>(v); break;
    case DataType::kUInt8: *out = static_cast<uint8_t>(v); break;
    case DataType::kInt32: {
      int32_t x = static_cast<int32_t>(v);
      std::memcpy(out, &x, sizeof x);
      break;
    }
    default: std::memcpy(out, &v, sizeof v); break;  // kInt64
  }
}

}  // namespace

Tensor randomIntTensor(const std::string& name, Dims dims, DataType type, int64_t lo, int64_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  Tensor t{name, std::move(dims), {}, type, {}};
  size_t size = dataTypeSize(type), n = static_cast<size_t>(volume(t.dims));
  t.raw.resize(n * size);
  for (size_t i = 0; i < n; ++i) storeInt(type, d(rng), t.raw.data() + i * size);
  return t;
}

Tensor scalarTensor(const std::string& name, DataType type, double value, Dims dims) {
  Tensor t{name, std::move(dims), {}, type, {}};
  size_t n = static_cast<size_t>(volume(t.dims));
  if (type == DataType::kFloat) {
    t.values.assign(n, static_cast<float>(value));
    return t;
  }
  size_t size = dataTypeSize(type);
  t.raw.resize(n * size);
  for (size_t i = 0; i < n; ++i) storeInt(type, static_cast<int64_t>(std::llround(value)), t.raw.data() + i * size);
  return t;
}

BackendEnv::BackendEnv(const char* value) {
  if (value)
    setenv("QRT_BACKEND", value, 1);
  else
    unsetenv("QRT_BACKEND");
}
BackendEnv::~BackendEnv() { unsetenv("QRT_BACKEND"); }

OneNode::OneNode(const std::string& op, int opset, const std::string& domain) {
  model_.set_ir_version(8);
  auto* imp = model_.add_opset_import();
  imp->set_domain("");
  imp->set_version(opset);
  if (!domain.empty()) {
    auto* d = model_.add_opset_import();
    d->set_domain(domain);
    d->set_version(1);
  }
  auto* g = model_.mutable_graph();
  g->set_name("one_node");
  node_ = g->add_node();
  node_->set_op_type(op);
  if (!domain.empty()) node_->set_domain(domain);
  node_->set_name("node");
  node_->add_output("Y");
  auto* out = g->add_output();
  out->set_name("Y");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
}

OneNode& OneNode::input(const Tensor& t) {
  node_->add_input(t.name);
  auto* vi = model_.mutable_graph()->add_input();
  vi->set_name(t.name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(t.type));
  auto* shape = tt->mutable_shape();
  for (int64_t d : t.dims) shape->add_dim()->set_dim_value(d);
  feeds_.push_back(t);
  return *this;
}

OneNode& OneNode::constant(const Tensor& t) {
  node_->add_input(t.name);
  return initializer(t);
}

OneNode& OneNode::skipInput() {
  node_->add_input("");
  return *this;
}

OneNode& OneNode::inputName(const std::string& name) {
  node_->add_input(name);
  return *this;
}

OneNode& OneNode::initializer(const Tensor& t) {
  auto* init = model_.mutable_graph()->add_initializer();
  init->set_name(t.name);
  init->set_data_type(static_cast<int32_t>(t.type));
  for (int64_t d : t.dims) init->add_dims(d);
  init->set_raw_data(t.data(), t.bytes());
  return *this;
}

OneNode& OneNode::prepend(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                          const std::vector<std::pair<std::string, int64_t>>& int_attributes) {
  auto* nodes = model_.mutable_graph()->mutable_node();
  auto* n = nodes->Add();
  n->set_op_type(op);
  n->set_name("pre" + std::to_string(nodes->size()));
  for (const std::string& in : inputs) n->add_input(in);
  n->add_output(output);
  for (const auto& [name, value] : int_attributes) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  // Move it to the front (the graph must stay topologically sorted). The field holds pointers,
  // so node_ still points at the chain's current node.
  for (int i = nodes->size() - 1; i > 0; --i) nodes->SwapElements(i, i - 1);
  return *this;
}

OneNode& OneNode::then(const std::string& op, const std::string& domain) {
  std::string v = "v" + std::to_string(++chain_);
  node_->set_output(0, v);
  node_ = model_.mutable_graph()->add_node();
  node_->set_op_type(op);
  if (!domain.empty()) node_->set_domain(domain);
  node_->set_name("node" + std::to_string(chain_));
  node_->add_input(v);
  node_->add_output("Y");
  return *this;
}

OneNode& OneNode::thenSwish() {
  then("Sigmoid");
  std::string v = node_->input(0), s = "s" + std::to_string(chain_);
  node_->set_output(0, s);
  node_ = model_.mutable_graph()->add_node();
  node_->set_op_type("Mul");
  node_->set_name("mul" + std::to_string(chain_));
  node_->add_input(v);
  node_->add_input(s);
  node_->add_output("Y");
  return *this;
}

OneNode& OneNode::ints(const std::string& name, const std::vector<int64_t>& v) {
  auto* a = attr(name, onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
  return *this;
}

OneNode& OneNode::integer(const std::string& name, int64_t v) {
  attr(name, onnx::AttributeProto::INT)->set_i(v);
  return *this;
}

OneNode& OneNode::real(const std::string& name, float v) {
  attr(name, onnx::AttributeProto::FLOAT)->set_f(v);
  return *this;
}

OneNode& OneNode::string(const std::string& name, const std::string& v) {
  attr(name, onnx::AttributeProto::STRING)->set_s(v);
  return *this;
}

OneNode& OneNode::outputType(DataType type) {
  model_.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      static_cast<int32_t>(type));
  return *this;
}

OneNode& OneNode::output(const std::string& name, DataType type) {
  node_->add_output(name);
  auto* out = model_.mutable_graph()->add_output();
  out->set_name(name);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int32_t>(type));
  return *this;
}

OneNode& OneNode::dynamicBatch() {
  for (auto& in : *model_.mutable_graph()->mutable_input())
    in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  return *this;
}

OneNode& OneNode::roundFloatsTo(DataType type) {
  auto round = [type](float v) {
    return type == DataType::kHalf ? halfToFloat(floatToHalf(v)) : bfloat16ToFloat(floatToBFloat16(v));
  };
  for (Tensor& t : feeds_)
    if (t.type == DataType::kFloat)
      for (float& v : t.values) v = round(v);
  for (auto& init : *model_.mutable_graph()->mutable_initializer()) {
    if (init.data_type() != onnx::TensorProto::FLOAT) continue;
    std::vector<float> v(init.raw_data().size() / sizeof(float));
    std::memcpy(v.data(), init.raw_data().data(), v.size() * sizeof(float));
    for (float& x : v) x = round(x);
    init.set_raw_data(v.data(), v.size() * sizeof(float));
  }
  return *this;
}

Result<std::shared_ptr<Engine>> buildModel(const onnx::ModelProto& model, const char* backend,
                                           const BuilderConfig& config) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return internalError("cannot serialize the model");
  auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
  if (!net.ok()) return net.status();
  BackendEnv env(backend);
  return buildEngine(**net, config);
}

Result<std::shared_ptr<Engine>> OneNode::build(const char* backend, const BuilderConfig& config) const {
  return buildModel(model_, backend, config);
}

onnx::AttributeProto* OneNode::attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
  auto* a = node_->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}

Result<BoundIO> bindFeeds(const Engine& engine, ExecutionContext& ctx, const std::vector<Tensor>& feeds) {
  BoundIO io;
  io.inputs.reserve(feeds.size());
  for (const Tensor& t : feeds) {
    QRT_RETURN_IF_ERROR(ctx.setInputShape(t.name, t.dims));
    const auto* p = static_cast<const uint8_t*>(t.data());
    io.inputs.emplace_back(p, p + t.bytes());
    QRT_RETURN_IF_ERROR(ctx.setTensorAddress(t.name, io.inputs.back().data()));
  }
  for (const TensorInfo& out : engine.outputs())
    if (out.name == "Y") io.y_type = out.dtype;
  QRT_ASSIGN_OR_RETURN(io.y_dims, ctx.tensorShape("Y"));
  io.y.assign(static_cast<size_t>(volume(io.y_dims)) * dataTypeSize(io.y_type), 0xFF);
  QRT_RETURN_IF_ERROR(ctx.setTensorAddress("Y", io.y.data()));
  return io;
}

}  // namespace qrt::test
