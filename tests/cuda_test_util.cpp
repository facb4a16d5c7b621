#include "cuda_test_util.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_memory.h"
#include "core/half.h"
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

Result<std::vector<float>> runXY(Engine& e, const std::vector<float>& x, const Dims& xd, bool device,
                                 bool cuda_graph) {
  QRT_ASSIGN_OR_RETURN(auto ctx, e.createExecutionContext());
  ctx->setCudaGraph(cuda_graph);
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
  if (cuda_graph) {  // the first run recorded the graph; poisoned again, the output comes from its replay
    if (device) QRT_RETURN_IF_ERROR(cuda::fillDevice(dy.get(), kPoisonByte, y.size() * 4));
    QRT_RETURN_IF_ERROR(ctx->enqueue());
  }
  if (device) QRT_RETURN_IF_ERROR(cuda::copyToHost(y.data(), dy.get(), y.size() * 4));
  for (float v : y)
    if (!(std::fabs(v) < 1e35f)) return internalError("the GPU left output elements unwritten (or NaN)");
  return y;
}

std::vector<uint8_t> encodeValues(const std::vector<double>& v, DataType t) {
  std::vector<uint8_t> b(v.size() * dataTypeSize(t));
  for (size_t i = 0; i < v.size(); ++i) {
    void* p = &b[i * dataTypeSize(t)];
    switch (t) {
      case DataType::kFloat: { float f = static_cast<float>(v[i]); std::memcpy(p, &f, 4); break; }
      case DataType::kHalf: { uint16_t h = floatToHalf(static_cast<float>(v[i])); std::memcpy(p, &h, 2); break; }
      case DataType::kDouble: std::memcpy(p, &v[i], 8); break;
      case DataType::kInt32: { int32_t x = static_cast<int32_t>(v[i]); std::memcpy(p, &x, 4); break; }
      case DataType::kInt64: { int64_t x = static_cast<int64_t>(v[i]); std::memcpy(p, &x, 8); break; }
      case DataType::kInt8: { int8_t x = static_cast<int8_t>(v[i]); std::memcpy(p, &x, 1); break; }
      case DataType::kUInt8:
      case DataType::kBool: { uint8_t x = static_cast<uint8_t>(v[i]); std::memcpy(p, &x, 1); break; }
      default: ADD_FAILURE() << "encodeValues: dtype " << dataTypeName(t); break;
    }
  }
  return b;
}

std::vector<double> decodeValues(const std::vector<uint8_t>& b, DataType t) {
  const size_t e = dataTypeSize(t), n = b.size() / e;
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    const void* p = &b[i * e];
    switch (t) {
      case DataType::kFloat: { float f; std::memcpy(&f, p, 4); v[i] = f; break; }
      case DataType::kHalf: { uint16_t h; std::memcpy(&h, p, 2); v[i] = halfToFloat(h); break; }
      case DataType::kDouble: std::memcpy(&v[i], p, 8); break;
      case DataType::kInt32: { int32_t x; std::memcpy(&x, p, 4); v[i] = x; break; }
      case DataType::kInt64: { int64_t x; std::memcpy(&x, p, 8); v[i] = static_cast<double>(x); break; }
      case DataType::kInt8: { int8_t x; std::memcpy(&x, p, 1); v[i] = x; break; }
      case DataType::kUInt8:
      case DataType::kBool: { uint8_t x; std::memcpy(&x, p, 1); v[i] = x; break; }
      default: ADD_FAILURE() << "decodeValues: dtype " << dataTypeName(t); break;
    }
  }
  return v;
}

namespace {

// The poison (kPoisonByte) read back: 1.3e36 in fp32, 61280 in fp16 (finite, so a kernel that
// reads an output before writing it does not turn it into NaN).
bool isPoison(double v, DataType t) {
  if (t == DataType::kFloat) return std::fabs(v) > 1e35;
  if (t == DataType::kHalf) return std::fabs(v) == 61280.0;
  return false;
}

}  // namespace

Result<EngineOutputs> runEngine(Engine& engine, const EngineInputs& in, bool device, ExecutionContext* reuse,
                                void* stream) {
  std::unique_ptr<ExecutionContext> owned;
  ExecutionContext* ctx = reuse;
  if (!ctx) {
    QRT_ASSIGN_OR_RETURN(owned, engine.createExecutionContext());
    ctx = owned.get();
  }
  std::vector<std::shared_ptr<void>> keep;
  std::vector<std::vector<uint8_t>> host;
  host.reserve(in.values.size() + engine.outputs().size());  // the addresses below stay put
  auto bind = [&](const std::string& name, std::vector<uint8_t> bytes, bool poison) -> Result<void*> {
    host.push_back(std::move(bytes));
    void* addr = host.back().data();
    if (device) {
      QRT_ASSIGN_OR_RETURN(auto d, cuda::deviceAlloc(host.back().size()));
      if (poison) QRT_RETURN_IF_ERROR(cuda::fillDevice(d.get(), kPoisonByte, host.back().size()));
      else QRT_RETURN_IF_ERROR(cuda::copyToDevice(d.get(), host.back().data(), host.back().size()));
      addr = d.get();
      keep.push_back(d);
    }
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress(name, addr));
    return addr;
  };
  for (const auto& [name, values] : in.values) {
    QRT_RETURN_IF_ERROR(ctx->setInputShape(name, in.dims.at(name)));
    QRT_RETURN_IF_ERROR(bind(name, encodeValues(values, in.dtypes.at(name)), false).status());
  }
  struct Out {
    std::string name;
    DataType dtype;
    Dims dims;
    void* addr;
    size_t index;
  };
  std::vector<Out> outs;
  for (const auto& o : engine.outputs()) {
    QRT_ASSIGN_OR_RETURN(Dims dims, ctx->tensorShape(o.name));
    const size_t bytes = static_cast<size_t>(volume(dims)) * dataTypeSize(o.dtype);
    QRT_ASSIGN_OR_RETURN(void* addr, bind(o.name, std::vector<uint8_t>(bytes), true));
    outs.push_back({o.name, o.dtype, dims, addr, host.size() - 1});
  }
  if (stream) {
    QRT_RETURN_IF_ERROR(ctx->enqueue(stream));
    QRT_RETURN_IF_ERROR(cuda::synchronizeStream(stream));
  } else {
    QRT_RETURN_IF_ERROR(ctx->enqueue());
  }
  EngineOutputs r;
  for (const Out& o : outs) {
    std::vector<uint8_t>& h = host[o.index];
    if (device) QRT_RETURN_IF_ERROR(cuda::copyToHost(h.data(), o.addr, h.size()));
    r.values[o.name] = decodeValues(h, o.dtype);
    r.dims[o.name] = o.dims;
    r.dtypes[o.name] = o.dtype;
    for (double v : r.values[o.name])
      if (device && isPoison(v, o.dtype)) return internalError("output '", o.name, "' has elements the GPU never wrote");
  }
  return r;
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

DeviceBuffer DeviceBuffer::make(size_t bytes, size_t offset) {
  DeviceBuffer b;
  auto m = cuda::deviceAlloc(bytes + 64);
  EXPECT_TRUE(m.ok()) << m.status().toString();
  if (!m.ok()) return b;
  b.mem = *m;
  b.at = static_cast<uint8_t*>(b.mem.get()) + offset;
  b.bytes = bytes;
  EXPECT_TRUE(cuda::fillDevice(b.mem.get(), kPoison, bytes + 64).ok());
  return b;
}

void DeviceBuffer::upload(const void* host) const { ASSERT_TRUE(cuda::copyToDevice(at, host, bytes).ok()); }

void DeviceBuffer::downloadInto(void* host) const {
  EXPECT_TRUE(cudaDeviceSynchronize() == cudaSuccess);
  EXPECT_TRUE(cuda::copyToHost(host, at, bytes).ok());
}

void expectLaunched(const char* what) {
  cudaError_t e = cudaGetLastError();
  ASSERT_EQ(e, cudaSuccess) << what << ": " << cudaGetErrorString(e);
  e = cudaDeviceSynchronize();
  ASSERT_EQ(e, cudaSuccess) << what << ": " << cudaGetErrorString(e);
}

}  // namespace qrt::test
