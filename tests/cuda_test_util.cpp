#include "cuda_test_util.h"

#include <cmath>
#include <cstdlib>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_memory.h"
#include "core/status_macros.h"
#include "runtime/engine_impl.h"

namespace qrt::test {

std::optional<std::string> noGpu() {
  Status s = cuda::deviceStatus();
  if (s.ok()) return std::nullopt;
  return "no usable GPU (" + s.message() + ")";
}

std::mt19937& rng() {
  static std::mt19937 r(std::random_device{}());
  return r;
}

std::vector<float> randomValues(int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng());
  return v;
}

FloatModel::FloatModel() {
  m.set_ir_version(8);
  auto* imp = m.add_opset_import();
  imp->set_domain("");
  imp->set_version(17);
}

void FloatModel::input(const std::string& name, const Dims& dims) {
  x = dims;
  auto* vi = m.mutable_graph()->add_input();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

void FloatModel::constant(const std::string& name, const Dims& dims, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(volume(dims)), lo);
  if (lo != hi) v = randomValues(volume(dims), lo, hi);
  constantData(name, dims, v);
}

void FloatModel::constantData(const std::string& name, const Dims& dims, const std::vector<float>& v) {
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name(name);
  init->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) init->add_dims(d);
  init->set_raw_data(v.data(), v.size() * 4);
}

void FloatModel::int8Constant(const std::string& name, const Dims& dims, int lo, int hi) {
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name(name);
  init->set_data_type(onnx::TensorProto::INT8);
  for (int64_t d : dims) init->add_dims(d);
  std::uniform_int_distribution<int> u(lo, hi);
  std::string raw(static_cast<size_t>(volume(dims)), '\0');
  for (char& c : raw) c = static_cast<char>(u(rng()));
  init->set_raw_data(raw);
}

onnx::NodeProto& FloatModel::node(const std::string& op, const std::vector<std::string>& ins, const std::string& out) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(op + "_" + std::to_string(m.graph().node_size()));
  for (const auto& i : ins) n->add_input(i);
  n->add_output(out);
  return *n;
}

void FloatModel::output(const std::string& name) {
  auto* o = m.mutable_graph()->add_output();
  o->set_name(name);
  o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
}

void attrInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void attrInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void attrFloat(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

Result<std::vector<float>> runXY(Engine& e, const std::vector<float>& x, const Dims& xd, bool device) {
  QRT_ASSIGN_OR_RETURN(auto ctx, e.createExecutionContext());
  QRT_RETURN_IF_ERROR(ctx->setInputShape("X", xd));
  QRT_ASSIGN_OR_RETURN(Dims yd, ctx->tensorShape("Y"));
  std::vector<float> y(static_cast<size_t>(volume(yd)));
  std::shared_ptr<void> dx, dy;
  if (device) {
    QRT_ASSIGN_OR_RETURN(dx, cuda::deviceAlloc(x.size() * 4));
    QRT_ASSIGN_OR_RETURN(dy, cuda::deviceAlloc(y.size() * 4));
    QRT_RETURN_IF_ERROR(cuda::copyToDevice(dx.get(), x.data(), x.size() * 4));
    QRT_RETURN_IF_ERROR(cuda::fillDevice(dy.get(), kPoisonByte, y.size() * 4));
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress("X", dx.get()));
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress("Y", dy.get()));
  } else {
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress("X", const_cast<float*>(x.data())));
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress("Y", y.data()));
  }
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  if (device) QRT_RETURN_IF_ERROR(cuda::copyToHost(y.data(), dy.get(), y.size() * 4));
  for (float v : y)
    if (!(std::fabs(v) < 1e35f)) return internalError("the GPU left output elements unwritten (or NaN)");
  return y;
}

std::map<std::string, std::string> tactics(const Engine& e) {
  std::map<std::string, std::string> t;
  for (const auto& n : e.impl().graph->nodes())
    if (n->hasAttr(cuda::kAttrTactic)) t[n->name] = n->attrString(cuda::kAttrTactic, "");
  return t;
}

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (value) setenv(name, value, 1);
  else unsetenv(name);
}
ScopedEnv::~ScopedEnv() { unsetenv(name_); }

}  // namespace qrt::test
