// The CUDA backend against the CPU engine, op by op and on whole models: every case builds a
// small ONNX model, runs it on the CPU and on the GPU (FP32, FP16, and TF32 where it applies)
// with fresh random inputs, GPU outputs poisoned before each run, and compares by relative L2
// error: FP32 1e-5, TF32 1e-3, FP16 1e-2. Every test skips where no GPU can be used (CI).
//
// ResNet-18/50 run when QRT_RESNET_DIR names a folder holding resnet18.onnx / resnet50.onnx
// (torchvision exports; see bench/gpu/export_resnet.py).
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaKernels, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>

#include "backends/cuda/device_memory.h"
#include "core/half.h"
#include "core/status_macros.h"
#include "runtime/engine_impl.h"
#include "cuda_test_util.h"
#include "test_util.h"

namespace qrt {
namespace {

using test::rng;
using test::kPoisonByte;
using test::runEngine;
using Inputs = test::EngineInputs;
using Outputs = test::EngineOutputs;

std::vector<double> randomValues(int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng());
  return v;
}

// ---- models ----

class Model {
 public:
  explicit Model(int opset = 17) {
    m_.set_ir_version(8);
    auto* imp = m_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    m_.mutable_graph()->set_name("cuda_test");
  }
  // A graph input fed with random values in [lo, hi).
  Model& input(const std::string& name, Dims dims, double lo = -1, double hi = 1, DataType t = DataType::kFloat) {
    auto* vi = m_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(t));
    auto* shape = tt->mutable_shape();  // present for scalars too: rank 0 is a known shape
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
    feeds_.push_back({name, t, dims, lo, hi});
    return *this;
  }
  Model& constant(const std::string& name, Dims dims, std::vector<double> values = {}, DataType t = DataType::kFloat) {
    if (values.empty()) values = randomValues(volume(dims), -1, 1);
    auto* init = m_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(static_cast<int>(t));
    for (int64_t d : dims) init->add_dims(d);
    std::vector<uint8_t> b = test::encodeValues(values, t);
    init->set_raw_data(b.data(), b.size());
    return *this;
  }
  Model& ints(const std::string& name, const std::vector<int64_t>& v) {
    std::vector<double> d(v.begin(), v.end());
    return constant(name, {static_cast<int64_t>(v.size())}, d.empty() ? std::vector<double>{} : d, DataType::kInt64);
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& ins, const std::vector<std::string>& outs) {
    auto* n = m_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(m_.graph().node_size()));
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return *n;
  }
  Model& output(const std::string& name, DataType t = DataType::kFloat) {
    auto* out = m_.mutable_graph()->add_output();
    out->set_name(name);
    out->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(t));
    return *this;
  }
  std::string bytes() const { return m_.SerializeAsString(); }

  struct Feed {
    std::string name;
    DataType dtype;
    Dims dims;
    double lo, hi;
  };
  const std::vector<Feed>& feeds() const { return feeds_; }

 private:
  onnx::ModelProto m_;
  std::vector<Feed> feeds_;
};

using test::attrFloat;
using test::attrInt;
using test::attrInts;
void attrString(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// ---- running ----

Inputs randomInputs(const std::vector<Model::Feed>& feeds) {
  Inputs in;
  for (const auto& f : feeds) {
    std::vector<double> v = randomValues(volume(f.dims), f.lo, f.hi);
    if (f.dtype != DataType::kFloat && f.dtype != DataType::kHalf && f.dtype != DataType::kDouble)
      for (double& x : v) x = std::floor(x);
    in.values[f.name] = v;
    in.dims[f.name] = f.dims;
    in.dtypes[f.name] = f.dtype;
  }
  return in;
}

enum class Target { kCpu, kGpuFp32, kGpuTf32, kGpuFp16 };

const char* targetName(Target t) {
  switch (t) {
    case Target::kCpu: return "cpu";
    case Target::kGpuFp32: return "gpu fp32";
    case Target::kGpuTf32: return "gpu tf32";
    case Target::kGpuFp16: return "gpu fp16";
  }
  return "?";
}

Result<std::shared_ptr<Engine>> buildFor(const std::string& model, Target t, const std::map<std::string, Dims>& shapes = {}) {
  QRT_ASSIGN_OR_RETURN(auto net, parseOnnxBuffer(model.data(), model.size(), ""));
  BuilderConfig c;
  for (const auto& [name, dims] : shapes) c.setInputShape(name, dims);
  if (t != Target::kCpu) c.setDevice(DeviceType::kCUDA);
  if (t == Target::kGpuTf32) c.setFlag(BuilderFlag::kTF32);
  if (t == Target::kGpuFp16) c.setFlag(BuilderFlag::kFP16);
  return buildEngine(*net, c);
}


double tolerance(Target t) {
  switch (t) {
    case Target::kGpuFp32: return 1e-5;
    case Target::kGpuTf32: return 1e-3;
    case Target::kGpuFp16: return 1e-2;
    default: return 0;
  }
}

// Relative L2 error of `got` against `want`; NaN anywhere fails.
void expectClose(const std::vector<double>& got, const std::vector<double>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0, max_err = 0;
  size_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i]) && !std::isnan(want[i])) << what << ": NaN at " << i;
    if (std::isnan(want[i])) continue;
    double e = got[i] - want[i];
    num += e * e;
    den += want[i] * want[i];
    if (std::fabs(e) > max_err) {
      max_err = std::fabs(e);
      worst = i;
    }
  }
  double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  EXPECT_LE(rel, tol) << what << ": relative L2 error " << rel << ", worst element " << worst << " got "
                      << (got.empty() ? 0 : got[worst]) << " want " << (want.empty() ? 0 : want[worst]);
}

// Runs the model on the CPU and on each GPU target; compares every output.
void checkModel(const Model& m, std::vector<Target> targets = {Target::kGpuFp32, Target::kGpuFp16}) {
  const std::string bytes = m.bytes();
  Inputs in = randomInputs(m.feeds());
  auto cpu = buildFor(bytes, Target::kCpu);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  auto want = runEngine(**cpu, in, false);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  for (Target t : targets) {
    SCOPED_TRACE(targetName(t));
    auto gpu = buildFor(bytes, t);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    auto got = runEngine(**gpu, in, true);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    for (const auto& [name, values] : want->values) {
      EXPECT_EQ(got->dims[name], want->dims[name]) << name;
      expectClose(got->values[name], values, tolerance(t), std::string(targetName(t)) + " output " + name);
    }
  }
}

// One node over inputs X (and more), output Y.
Model unaryModel(const std::string& op, Dims dims, double lo = -2, double hi = 2) {
  Model m;
  m.input("X", dims, lo, hi).output("Y");
  m.node(op, {"X"}, {"Y"});
  return m;
}

// ---- elementwise ----

TEST(CudaKernels, Unary) {
  QRT_REQUIRE_GPU();
  const char* ops[] = {"Relu", "Sigmoid", "Tanh", "HardSwish", "Softplus", "Softsign", "Exp", "Neg", "Abs",
                       "Erf", "Sin", "Cos"};
  for (const char* op : ops) {
    SCOPED_TRACE(op);
    checkModel(unaryModel(op, {2, 3, 17, 5}));
  }
  // Steps: an fp16-rounded input can land on the other side of an integer than the fp32 one, so
  // these are compared in FP32 only.
  for (const char* op : {"Floor", "Ceil", "Round"}) {
    SCOPED_TRACE(op);
    checkModel(unaryModel(op, {2, 3, 17, 5}, -4, 4), {Target::kGpuFp32});
  }
  for (const char* op : {"Sqrt", "Log", "Reciprocal"}) {
    SCOPED_TRACE(op);
    checkModel(unaryModel(op, {3, 1000}, 0.5, 3));
  }
}

TEST(CudaKernels, UnaryWithAttributes) {
  QRT_REQUIRE_GPU();
  struct Case {
    const char* op;
    const char* attr;
    float value;
  };
  const Case cases[] = {{"LeakyRelu", "alpha", 0.1f}, {"Elu", "alpha", 0.7f},   {"Selu", "gamma", 1.2f},
                        {"Celu", "alpha", 1.3f},      {"HardSigmoid", "alpha", 0.3f}, {"ThresholdedRelu", "alpha", 0.4f}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    Model m = unaryModel(c.op, {4, 33});
    Model m2;
    m2.input("X", {4, 33}, -2, 2).output("Y");
    attrFloat(m2.node(c.op, {"X"}, {"Y"}), c.attr, c.value);
    // ThresholdedRelu is a step at alpha: an fp16-rounded input just above alpha (1.00035 -> 1.0)
    // lands on the other side of it than the fp32 one, so it is compared in FP32 only.
    if (std::string(c.op) == "ThresholdedRelu") {
      checkModel(m, {Target::kGpuFp32});
      checkModel(m2, {Target::kGpuFp32});
      continue;
    }
    checkModel(m);
    checkModel(m2);
  }
}

TEST(CudaKernels, Clip) {
  QRT_REQUIRE_GPU();
  Model old(10);  // bounds as attributes (Clip before opset 11)
  old.input("X", {5, 7}, -2, 2).output("Y");
  auto& n = old.node("Clip", {"X"}, {"Y"});
  attrFloat(n, "min", -0.5f);
  attrFloat(n, "max", 0.75f);
  checkModel(old);
  Model m(13);  // bounds as inputs; max omitted
  m.input("X", {5, 7}, -2, 2).constant("lo", {}, {-0.25}).output("Y");
  m.node("Clip", {"X", "lo"}, {"Y"});
  checkModel(m);
}

TEST(CudaKernels, BinaryBroadcast) {
  QRT_REQUIRE_GPU();
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {5}},
      {{4, 5}, {2, 3, 4, 5}},       {{2, 1, 4, 1}, {1, 3, 1, 5}}, {{7}, {}}};
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"}) {
    for (const auto& [a, b] : shapes) {
      SCOPED_TRACE(std::string(op) + " " + dimsToString(a) + " " + dimsToString(b));
      const bool pow = std::string(op) == "Pow", div = std::string(op) == "Div";
      Model m;
      m.input("A", a, pow ? 0.5 : -1, pow ? 2 : 1).input("B", b, div ? 0.5 : -1, div ? 2 : 1).output("Y");
      m.node(op, {"A", "B"}, {"Y"});
      checkModel(m);
    }
  }
  // A constant operand, and PRelu's slope.
  Model c;
  c.input("A", {2, 8, 6, 6}).constant("B", {8, 1, 1}).output("Y");
  c.node("Mul", {"A", "B"}, {"Y"});
  checkModel(c);
  Model p;
  p.input("X", {2, 8, 6, 6}).constant("slope", {8, 1, 1}).output("Y");
  p.node("PRelu", {"X", "slope"}, {"Y"});
  checkModel(p);
  for (const char* op : {"Sum", "Mean", "Max"}) {
    SCOPED_TRACE(op);
    Model v;
    v.input("A", {3, 4}).input("B", {3, 4}).output("Y");
    v.node(op, {"A", "B"}, {"Y"});
    checkModel(v);
  }
}

TEST(CudaKernels, Cast) {
  QRT_REQUIRE_GPU();
  for (DataType to : {DataType::kHalf, DataType::kInt32, DataType::kInt64, DataType::kBool, DataType::kDouble}) {
    SCOPED_TRACE(dataTypeName(to));
    Model m;
    m.input("X", {3, 50}, -100, 100).output("Y", to);
    attrInt(m.node("Cast", {"X"}, {"Y"}), "to", static_cast<int64_t>(to));
    checkModel(m, {Target::kGpuFp32});
  }
  Model i;
  i.input("X", {3, 50}, -1000, 1000, DataType::kInt64).output("Y");
  attrInt(i.node("Cast", {"X"}, {"Y"}), "to", static_cast<int64_t>(DataType::kFloat));
  checkModel(i, {Target::kGpuFp32});
}

// ---- nn ----

TEST(CudaKernels, BatchNormalization) {
  QRT_REQUIRE_GPU();
  Model m;
  m.input("X", {2, 6, 5, 7}).constant("s", {6}).constant("b", {6}).constant("mean", {6});
  m.constant("var", {6}, randomValues(6, 0.5, 2)).output("Y");
  attrFloat(m.node("BatchNormalization", {"X", "s", "b", "mean", "var"}, {"Y"}), "epsilon", 1e-3f);
  checkModel(m);
}

TEST(CudaKernels, Pooling) {
  QRT_REQUIRE_GPU();
  {  // 2-D max: pads, strides, dilations, ceil mode
    Model m;
    m.input("X", {2, 3, 13, 11}).output("Y");
    auto& n = m.node("MaxPool", {"X"}, {"Y"});
    attrInts(n, "kernel_shape", {3, 3});
    attrInts(n, "strides", {2, 2});
    attrInts(n, "pads", {1, 0, 1, 2});
    attrInts(n, "dilations", {1, 2});
    attrInt(n, "ceil_mode", 1);
    checkModel(m);
  }
  for (int include_pad : {0, 1}) {  // average with asymmetric pads
    SCOPED_TRACE(include_pad);
    Model m;
    m.input("X", {2, 4, 9, 10}).output("Y");
    auto& n = m.node("AveragePool", {"X"}, {"Y"});
    attrInts(n, "kernel_shape", {3, 2});
    attrInts(n, "strides", {2, 1});
    attrInts(n, "pads", {1, 1, 0, 1});
    attrInt(n, "count_include_pad", include_pad);
    checkModel(m);
  }
  {  // 1-D and 3-D
    Model a;
    a.input("X", {2, 3, 20}).output("Y");
    auto& n = a.node("MaxPool", {"X"}, {"Y"});
    attrInts(n, "kernel_shape", {4});
    attrInts(n, "strides", {3});
    checkModel(a);
    Model b;
    b.input("X", {1, 2, 6, 7, 8}).output("Y");
    auto& k = b.node("AveragePool", {"X"}, {"Y"});
    attrInts(k, "kernel_shape", {2, 3, 2});
    attrInts(k, "strides", {2, 2, 2});
    checkModel(b);
  }
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    SCOPED_TRACE(op);
    checkModel(unaryModel(op, {3, 37, 7, 9}));
  }
}

// Global pools over large planes of few channels (PP-OCRv4's SE blocks), which split each plane
// over several blocks (pool.cu's globalPoolPlan): plain NCHW, and channels-last behind an FP16
// convolution.
TEST(CudaKernels, GlobalPoolLargePlanes) {
  QRT_REQUIRE_GPU();
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    SCOPED_TRACE(op);
    checkModel(unaryModel(op, {1, 8, 320, 320}));
    Model m;
    m.input("X", {1, 8, 160, 160}).constant("W", {96, 8, 1, 1}, randomValues(96 * 8, -0.3, 0.3)).output("Y");
    m.node("Conv", {"X", "W"}, {"c"});
    m.node(op, {"c"}, {"Y"});
    checkModel(m);
  }
}

TEST(CudaKernels, Softmax) {
  QRT_REQUIRE_GPU();
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int opset : {11, 13}) {
      for (int64_t axis : {-1, 1}) {
        SCOPED_TRACE(std::string(op) + " opset " + std::to_string(opset) + " axis " + std::to_string(axis));
        Model m(opset);
        m.input("X", {3, 7, 1000}, -4, 4).output("Y");
        attrInt(m.node(op, {"X"}, {"Y"}), "axis", axis);
        checkModel(m);
      }
    }
  }
}

TEST(CudaKernels, Resize) {
  QRT_REQUIRE_GPU();
  struct Case {
    const char* mode;
    const char* coord;
    const char* nearest;
    bool sizes;
  };
  const Case cases[] = {{"nearest", "asymmetric", "floor", false},
                        {"nearest", "half_pixel", "round_prefer_floor", true},
                        {"linear", "half_pixel", "", false},
                        {"linear", "align_corners", "", true},
                        {"linear", "pytorch_half_pixel", "", false},
                        {"linear", "asymmetric", "", false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.mode) + " " + c.coord);
    Model m(13);
    m.input("X", {2, 3, 7, 9});
    if (c.sizes) m.ints("sizes", {2, 3, 12, 5});
    else m.constant("scales", {4}, {1, 1, 2.0, 0.75});
    m.output("Y");
    auto& n = m.node("Resize", {"X", "", c.sizes ? "" : "scales", c.sizes ? "sizes" : ""}, {"Y"});
    attrString(n, "mode", c.mode);
    attrString(n, "coordinate_transformation_mode", c.coord);
    if (*c.nearest) attrString(n, "nearest_mode", c.nearest);
    checkModel(m);
  }
}

// ---- movement ----

TEST(CudaKernels, Movement) {
  QRT_REQUIRE_GPU();
  {
    Model m;
    m.input("A", {2, 3, 4, 5}).input("B", {2, 2, 4, 5}).input("C", {2, 1, 4, 5}).output("Y");
    attrInt(m.node("Concat", {"A", "B", "C"}, {"Y"}), "axis", 1);
    checkModel(m);
  }
  {
    Model m;
    m.input("X", {2, 3, 4, 5}).output("Y");
    attrInts(m.node("Transpose", {"X"}, {"Y"}), "perm", {0, 2, 3, 1});
    checkModel(m);
  }
  {
    Model m(13);
    m.input("X", {6, 7, 8}).ints("starts", {5, 1}).ints("ends", {0, 7}).ints("axes", {0, 2}).ints("steps", {-2, 3});
    m.output("Y");
    m.node("Slice", {"X", "starts", "ends", "axes", "steps"}, {"Y"});
    checkModel(m);
  }
  {
    Model m(13);
    m.input("X", {2, 3, 4, 5}).ints("shape", {6, -1}).output("Y");
    m.node("Reshape", {"X", "shape"}, {"Y"});
    checkModel(m);
    Model f(13);
    f.input("X", {2, 3, 4, 5}).output("Y");
    attrInt(f.node("Flatten", {"X"}, {"Y"}), "axis", 2);
    checkModel(f);
    Model e(13);
    e.input("X", {3, 1}).ints("shape", {2, 3, 4}).output("Y");
    e.node("Expand", {"X", "shape"}, {"Y"});
    checkModel(e);
  }
}

// ---- convolution (cuDNN) ----

struct ConvCase {
  std::string name;
  Dims x, w;
  std::vector<int64_t> strides, pads, dilations;
  int64_t group = 1;
  std::string auto_pad;
  bool bias = true;
};

Model convModel(const ConvCase& c) {
  Model m;
  m.input("X", c.x).constant("W", c.w, randomValues(volume(c.w), -0.5, 0.5));
  std::vector<std::string> ins = {"X", "W"};
  if (c.bias) {
    m.constant("B", {c.w[0]});
    ins.push_back("B");
  }
  m.output("Y");
  auto& n = m.node("Conv", ins, {"Y"});
  if (!c.strides.empty()) attrInts(n, "strides", c.strides);
  if (!c.pads.empty()) attrInts(n, "pads", c.pads);
  if (!c.dilations.empty()) attrInts(n, "dilations", c.dilations);
  if (c.group != 1) attrInt(n, "group", c.group);
  if (!c.auto_pad.empty()) attrString(n, "auto_pad", c.auto_pad);
  return m;
}

TEST(CudaKernels, Conv) {
  QRT_REQUIRE_GPU();
  const ConvCase cases[] = {
      {"3x3 pad 1", {2, 16, 14, 14}, {32, 16, 3, 3}, {}, {1, 1, 1, 1}, {}},
      {"7x7 stride 2", {1, 3, 32, 32}, {16, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, {}},
      {"1x1 no bias", {2, 64, 7, 7}, {128, 64, 1, 1}, {}, {}, {}, 1, "", false},
      {"depthwise", {2, 32, 10, 10}, {32, 1, 3, 3}, {}, {1, 1, 1, 1}, {}, 32},
      {"grouped dilated", {1, 16, 15, 15}, {24, 4, 3, 3}, {}, {2, 2, 2, 2}, {2, 2}, 4},
      {"SAME_UPPER stride 2 (asymmetric pads)", {2, 8, 16, 16}, {8, 8, 4, 4}, {2, 2}, {}, {}, 1, "SAME_UPPER"},
      {"explicit asymmetric pads", {1, 8, 9, 9}, {16, 8, 3, 3}, {}, {0, 1, 2, 1}, {}},
      {"1-D", {2, 8, 50}, {12, 8, 5}, {2}, {2, 2}, {}},
      {"3-D", {1, 4, 6, 7, 8}, {8, 4, 3, 3, 3}, {}, {1, 1, 1, 1, 1, 1}, {}},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    checkModel(convModel(c), {Target::kGpuFp32, Target::kGpuTf32, Target::kGpuFp16});
  }
}

// Conv -> Relu and Conv -> Add(residual) -> Relu become qrt's FusedConv (the graph passes); the
// CUDA kernel applies bias, residual and ReLU in cuDNN's fused call or its own epilogue.
TEST(CudaKernels, ConvFusedEpilogues) {
  QRT_REQUIRE_GPU();
  Model m;
  m.input("X", {2, 16, 12, 12}).constant("W1", {16, 16, 3, 3}, randomValues(16 * 16 * 9, -0.3, 0.3)).constant("B1", {16});
  m.constant("W2", {16, 16, 1, 1}, randomValues(16 * 16, -0.3, 0.3)).constant("B2", {16}).output("Y");
  attrInts(m.node("Conv", {"X", "W1", "B1"}, {"c1"}), "pads", {1, 1, 1, 1});
  m.node("Relu", {"c1"}, {"r1"});
  m.node("Conv", {"r1", "W2", "B2"}, {"c2"});
  m.node("Add", {"c2", "X"}, {"s"});
  m.node("Relu", {"s"}, {"Y"});
  checkModel(m, {Target::kGpuFp32, Target::kGpuTf32, Target::kGpuFp16});
  auto e = buildFor(m.bytes(), Target::kGpuFp32);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  EXPECT_EQ((*e)->layers().size(), 2u) << "Conv+Relu and Conv+Add+Relu should each be one layer";
  // Other fused activations and a residual that broadcasts take the epilogue kernels.
  for (const char* act : {"LeakyRelu", "Sigmoid", "HardSwish"}) {
    SCOPED_TRACE(act);
    Model k;
    k.input("X", {2, 8, 9, 9}).constant("W", {8, 8, 3, 3}, randomValues(8 * 8 * 9, -0.3, 0.3)).constant("Z", {8, 1, 1});
    k.output("Y");
    attrInts(k.node("Conv", {"X", "W"}, {"c"}), "pads", {1, 1, 1, 1});
    k.node("Add", {"c", "Z"}, {"s"});
    k.node(act, {"s"}, {"Y"});
    checkModel(k, {Target::kGpuFp32, Target::kGpuFp16});
  }
}

// FP16 engines keep activations channels-last between convolutions: pools, concat, broadcasting
// elementwise ops and global pooling run in NHWC, with layout changes where NCHW ops read.
TEST(CudaKernels, ChannelsLastChains) {
  QRT_REQUIRE_GPU();
  Model m;
  m.input("X", {2, 8, 20, 20}).constant("W1", {16, 8, 3, 3}, randomValues(16 * 8 * 9, -0.3, 0.3)).constant("B1", {16});
  m.constant("W2", {8, 8, 1, 1}, randomValues(64, -0.3, 0.3)).constant("S", {24, 1, 1}).output("Y").output("G");
  attrInts(m.node("Conv", {"X", "W1", "B1"}, {"c1"}), "pads", {1, 1, 1, 1});
  m.node("Conv", {"X", "W2"}, {"c2"});
  attrInt(m.node("Concat", {"c1", "c2"}, {"cat"}), "axis", 1);
  m.node("Mul", {"cat", "S"}, {"scaled"});
  auto& mp = m.node("MaxPool", {"scaled"}, {"mp"});
  attrInts(mp, "kernel_shape", {3, 3});
  attrInts(mp, "strides", {2, 2});
  attrInts(mp, "pads", {1, 1, 1, 1});
  auto& ap = m.node("AveragePool", {"mp"}, {"Y"});
  attrInts(ap, "kernel_shape", {3, 3});
  attrInts(ap, "pads", {1, 1, 1, 1});
  attrInt(ap, "count_include_pad", 1);
  m.node("GlobalAveragePool", {"mp"}, {"G"});
  checkModel(m, {Target::kGpuFp32, Target::kGpuFp16});
}

// A Resize between FP16 convolutions (PP-OCRv4's FPN upsamplings, nearest; and linear) runs
// channels-last: its tap tables follow the stored axes (nn.cpp), and no layout change surrounds it.
// Against the CPU engine in FP32 (NCHW there) and FP16.
TEST(CudaKernels, ResizeChannelsLast) {
  QRT_REQUIRE_GPU();
  test::ScopedEnv nhwc("QRT_CUDA_RESIZE_NHWC", "on");
  for (const char* mode : {"nearest", "linear"}) {
    SCOPED_TRACE(mode);
    Model m(13);
    m.input("X", {2, 8, 10, 12}).constant("W1", {16, 8, 1, 1}, randomValues(16 * 8, -0.3, 0.3));
    m.constant("W2", {16, 8, 3, 3}, randomValues(16 * 8 * 9, -0.3, 0.3)).constant("W3", {4, 16, 3, 3}, randomValues(4 * 16 * 9, -0.3, 0.3));
    m.constant("scales", {4}, {1, 1, 2, 2}).output("Y");
    m.node("Conv", {"X", "W1"}, {"c1"});
    auto& r = m.node("Resize", {"c1", "", "scales"}, {"up"});
    r.set_name("up_resize");
    attrString(r, "mode", mode);
    if (std::string(mode) == "linear") attrString(r, "coordinate_transformation_mode", "half_pixel");
    auto& big = m.node("Resize", {"X", "", "scales"}, {"xb"});  // the FPN's other branch at the larger size
    attrString(big, "mode", "nearest");
    attrInts(m.node("Conv", {"xb", "W2"}, {"c2"}), "pads", {1, 1, 1, 1});
    m.node("Add", {"up", "c2"}, {"s"});
    attrInts(m.node("Conv", {"s", "W3"}, {"Y"}), "pads", {1, 1, 1, 1});
    checkModel(m, {Target::kGpuFp32, Target::kGpuFp16});
    auto e = buildFor(m.bytes(), Target::kGpuFp16);
    ASSERT_TRUE(e.ok()) << e.status().toString();
    const ir::Node* resize = nullptr;
    int changes_of_up = 0;
    for (const auto& n : (*e)->impl().graph->nodes()) {
      if (n->name == "up_resize") resize = n.get();
      if (n->op_type == "Identity" && n->hasAttr("qrt_to_nhwc") && n->inputs[0]->name == "up") ++changes_of_up;
    }
    ASSERT_NE(resize, nullptr) << "the Resize after the first convolution";
    EXPECT_EQ(resize->attrInt("qrt_nhwc", 0), 1);
    EXPECT_EQ(changes_of_up, 0);
  }
}

// ---- GEMM (cuBLASLt) ----

TEST(CudaKernels, Gemm) {
  QRT_REQUIRE_GPU();
  struct Case {
    int64_t M, N, K;
    bool ta, tb;
    float alpha, beta;
    Dims c;
  };
  const Case cases[] = {{8, 10, 64, false, true, 1, 1, {10}},   {5, 33, 17, false, false, 1, 1, {}},
                        {7, 9, 12, true, false, 0.5f, 2, {7, 9}}, {4, 6, 8, true, true, 1, 0.5f, {1}},
                        {16, 1000, 2048, false, true, 1, 1, {1000}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.M) + "x" + std::to_string(c.N) + "x" + std::to_string(c.K));
    Model m;
    m.input("A", c.ta ? Dims{c.K, c.M} : Dims{c.M, c.K});
    m.constant("B", c.tb ? Dims{c.N, c.K} : Dims{c.K, c.N}, randomValues(c.N * c.K, -0.2, 0.2));
    std::vector<std::string> ins = {"A", "B"};
    if (!c.c.empty()) {
      m.constant("C", c.c);
      ins.push_back("C");
    }
    m.output("Y");
    auto& n = m.node("Gemm", ins, {"Y"});
    attrInt(n, "transA", c.ta);
    attrInt(n, "transB", c.tb);
    attrFloat(n, "alpha", c.alpha);
    attrFloat(n, "beta", c.beta);
    checkModel(m, {Target::kGpuFp32, Target::kGpuTf32, Target::kGpuFp16});
  }
}

TEST(CudaKernels, MatMul) {
  QRT_REQUIRE_GPU();
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{5, 7}, {7, 3}}, {{4, 5, 7}, {7, 3}}, {{4, 5, 7}, {4, 7, 3}}, {{5, 7}, {2, 7, 3}}, {{7}, {7, 3}}, {{4, 5, 7}, {7}}};
  for (const auto& [a, b] : shapes) {
    SCOPED_TRACE(dimsToString(a) + " x " + dimsToString(b));
    Model m;
    m.input("A", a).input("B", b).output("Y");
    m.node("MatMul", {"A", "B"}, {"Y"});
    checkModel(m, {Target::kGpuFp32, Target::kGpuTf32, Target::kGpuFp16});
  }
}

// ---- the runtime ----

TEST(CudaRuntime, EngineRecordsTheDeviceAndRefusesAnother) {
  QRT_REQUIRE_GPU();
  Model m = unaryModel("Relu", {4, 4});
  auto e = buildFor(m.bytes(), Target::kGpuFp32);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  EXPECT_EQ((*e)->metadata("device"), "cuda");
  EXPECT_EQ((*e)->metadata("cuda_arch").rfind("sm_", 0), 0u);
  EXPECT_FALSE((*e)->metadata("cudnn_version").empty());
  for (const auto& l : (*e)->layers()) EXPECT_EQ(l.backend, "cuda") << l.name;
  // A round trip through the engine file keeps it runnable.
  auto bytes = (*e)->serialize();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Engine::deserialize(bytes->data(), bytes->size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  Inputs in = randomInputs(m.feeds());
  ASSERT_TRUE(runEngine(**loaded, in, true).ok());
  // Another architecture or cuDNN major is refused with the reason.
  (*loaded)->impl().metadata["cuda_arch"] = "sm_10";
  auto ctx = (*loaded)->createExecutionContext();
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.status().message().find("rebuild"), std::string::npos) << ctx.status().message();
  (*loaded)->impl().metadata["cuda_arch"] = (*e)->metadata("cuda_arch");
  (*loaded)->impl().metadata["cudnn_version"] = "1.0.0";
  ctx = (*loaded)->createExecutionContext();
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.status().message().find("cuDNN"), std::string::npos) << ctx.status().message();
}

TEST(CudaRuntime, OpsWithoutKernelsAreRefusedAtBuildTime) {
  QRT_REQUIRE_GPU();
  Model m;
  m.input("A", {4}).input("B", {4}).output("Y");
  attrInt(m.node("Mod", {"A", "B"}, {"Y"}), "fmod", 1);
  auto e = buildFor(m.bytes(), Target::kGpuFp32);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("Mod"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("CUDA"), std::string::npos) << e.status().message();
}

TEST(CudaRuntime, ContextsShareAnEngineAndTakeTheCallersStream) {
  QRT_REQUIRE_GPU();
  ConvCase c{"3x3", {2, 8, 10, 10}, {8, 8, 3, 3}, {}, {1, 1, 1, 1}, {}};
  Model m = convModel(c);
  auto cpu = buildFor(m.bytes(), Target::kCpu);
  auto gpu = buildFor(m.bytes(), Target::kGpuFp32);
  ASSERT_TRUE(cpu.ok() && gpu.ok());
  auto a = (*gpu)->createExecutionContext();
  auto b = (*gpu)->createExecutionContext();
  ASSERT_TRUE(a.ok() && b.ok());
  auto stream = cuda::createStream();
  ASSERT_TRUE(stream.ok());
  for (int round = 0; round < 2; ++round) {
    Inputs in = randomInputs(m.feeds());
    auto want = runEngine(**cpu, in, false);
    auto got_a = runEngine(**gpu, in, true, a->get(), stream->get());
    auto got_b = runEngine(**gpu, in, true, b->get());
    ASSERT_TRUE(want.ok() && got_a.ok() && got_b.ok());
    expectClose(got_a->values["Y"], want->values["Y"], 1e-5, "context a");
    expectClose(got_b->values["Y"], want->values["Y"], 1e-5, "context b");
  }
}

// Graph replay: the same bound buffers with new values each run, then a new output buffer.
TEST(CudaRuntime, CudaGraphReplaysAndRecaptures) {
  QRT_REQUIRE_GPU();
  std::string path = test::sourcePath("models/fashion_mnist/model.onnx");
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const std::map<std::string, Dims> shapes = {{"input", {8, 1, 28, 28}}};
  auto cpu = buildFor(bytes, Target::kCpu, shapes);
  auto gpu = buildFor(bytes, Target::kGpuFp16, shapes);
  ASSERT_TRUE(cpu.ok() && gpu.ok());
  auto ctx = (*gpu)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  (*ctx)->setCudaGraph(true);
  const std::string out_name = (*gpu)->outputs()[0].name;
  const size_t in_n = 8 * 28 * 28, out_n = 8 * 10;
  auto din = cuda::deviceAlloc(in_n * 4);
  auto dout = cuda::deviceAlloc(out_n * 4);
  auto dout2 = cuda::deviceAlloc(out_n * 4);
  ASSERT_TRUE(din.ok() && dout.ok() && dout2.ok());
  ASSERT_TRUE((*ctx)->setTensorAddress("input", din->get()).ok());
  for (int run = 0; run < 4; ++run) {
    SCOPED_TRACE(run);
    void* out = run < 3 ? dout->get() : dout2->get();  // the last run binds another buffer: a new graph
    ASSERT_TRUE((*ctx)->setTensorAddress(out_name, out).ok());
    Inputs in;
    in.dims["input"] = {8, 1, 28, 28};
    in.values["input"] = randomValues(in_n, -2, 2);
    in.dtypes["input"] = DataType::kFloat;
    std::vector<uint8_t> host = test::encodeValues(in.values["input"], DataType::kFloat);
    ASSERT_TRUE(cuda::copyToDevice(din->get(), host.data(), host.size()).ok());
    ASSERT_TRUE(cuda::fillDevice(out, kPoisonByte, out_n * 4).ok());
    Status s = (*ctx)->enqueue();
    ASSERT_TRUE(s.ok()) << s.toString();
    std::vector<uint8_t> got(out_n * 4);
    ASSERT_TRUE(cuda::copyToHost(got.data(), out, got.size()).ok());
    auto want = runEngine(**cpu, in, false);
    ASSERT_TRUE(want.ok());
    expectClose(test::decodeValues(got, DataType::kFloat), want->values[out_name], 1e-2, "graph replay");
  }
}

// copyToDevice from pageable memory and fillDevice are synchronous for an engine enqueued next:
// cudaMemcpy returns once a pageable source is staged (the DMA may still be in flight) and
// cudaMemset is asynchronous, both on the legacy stream, which the engine's non-blocking stream
// does not wait for. The context is planned first (as CudaConvTranspose.PpOcrDetector does), so
// nothing between the copy and the first kernel gives the DMA time to land.
TEST(CudaRuntime, CopiesLandBeforeTheNextEnqueue) {
  QRT_REQUIRE_GPU();
  const Dims d{4, 8, 512, 512};  // 32 MiB: a copy that outlasts the launch of the first kernel
  Model m = unaryModel("Relu", d);
  auto gpu = buildFor(m.bytes(), Target::kGpuFp32);
  ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
  auto ctx = (*gpu)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  ASSERT_TRUE((*ctx)->setInputShape("X", d).ok());
  ASSERT_TRUE((*ctx)->tensorShape("Y").ok());
  const size_t n = static_cast<size_t>(volume(d));
  auto dx = cuda::deviceAlloc(n * 4);
  auto dy = cuda::deviceAlloc(n * 4);
  ASSERT_TRUE(dx.ok() && dy.ok());
  ASSERT_TRUE((*ctx)->setTensorAddress("X", dx->get()).ok());
  ASSERT_TRUE((*ctx)->setTensorAddress("Y", dy->get()).ok());
  std::vector<float> x(n), y(n);
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(round);
    const float shift = static_cast<float>(round + 1);  // each round's input differs everywhere
    for (size_t i = 0; i < n; ++i) x[i] = shift + static_cast<float>(i % 977) * 0.001f - (i % 3 == 0 ? 2 * shift : 0.f);
    ASSERT_TRUE(cuda::copyToDevice(dx->get(), x.data(), n * 4).ok());
    ASSERT_TRUE(cuda::fillDevice(dy->get(), kPoisonByte, n * 4).ok());
    ASSERT_TRUE((*ctx)->enqueue().ok());
    ASSERT_TRUE(cuda::copyToHost(y.data(), dy->get(), n * 4).ok());
    size_t wrong = 0, first = n;
    for (size_t i = 0; i < n; ++i)
      if (y[i] != std::max(x[i], 0.f) && wrong++ == 0) first = i;
    EXPECT_EQ(wrong, 0u) << "first wrong element " << first << " of " << n;
  }
}

// ---- whole models ----

void checkWholeModel(const std::string& path, const std::map<std::string, Dims>& shapes, double fp32_tol,
                     double fp16_tol, int repeats = 1) {
  auto net = parseOnnxFile(path);
  ASSERT_TRUE(net.ok()) << net.status().toString();
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  auto cpu = buildFor(bytes, Target::kCpu, shapes);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  const auto infos = (*cpu)->inputs();
  for (int r = 0; r < repeats; ++r) {
    Inputs in;
    for (const auto& i : infos) {
      Dims d = shapes.count(i.name) ? shapes.at(i.name) : i.dims;
      in.values[i.name] = randomValues(volume(d), -2, 2);
      in.dims[i.name] = d;
      in.dtypes[i.name] = i.dtype;
    }
    auto want = runEngine(**cpu, in, false);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    for (auto [t, tol] : {std::pair{Target::kGpuFp32, fp32_tol}, std::pair{Target::kGpuFp16, fp16_tol}}) {
      SCOPED_TRACE(targetName(t));
      auto gpu = buildFor(bytes, t, shapes);
      ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
      auto got = runEngine(**gpu, in, true);
      ASSERT_TRUE(got.ok()) << got.status().toString();
      for (const auto& [name, values] : want->values) expectClose(got->values[name], values, tol, name);
    }
  }
}

TEST(CudaModels, FashionMnist) {
  QRT_REQUIRE_GPU();
  checkWholeModel(test::sourcePath("models/fashion_mnist/model.onnx"), {{"input", {16, 1, 28, 28}}}, 1e-5, 1e-2, 2);
}

// An engine with a dynamic batch: one context re-plans its device arena when the shape changes.
TEST(CudaModels, DynamicBatchReplans) {
  QRT_REQUIRE_GPU();
  std::string path = test::sourcePath("models/fashion_mnist/model.onnx");
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  auto cpu = buildFor(bytes, Target::kCpu);
  auto gpu = buildFor(bytes, Target::kGpuFp32);
  ASSERT_TRUE(cpu.ok() && gpu.ok()) << cpu.status().toString() << gpu.status().toString();
  auto ctx = (*gpu)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  size_t last = 0;
  for (int64_t batch : {4, 64, 3}) {
    SCOPED_TRACE(batch);
    Inputs in;
    in.dims["input"] = {batch, 1, 28, 28};
    in.values["input"] = randomValues(batch * 28 * 28, -2, 2);
    in.dtypes["input"] = DataType::kFloat;
    auto want = runEngine(**cpu, in, false);
    auto got = runEngine(**gpu, in, true, ctx->get());
    ASSERT_TRUE(want.ok() && got.ok()) << want.status().toString() << got.status().toString();
    for (const auto& [name, values] : want->values) expectClose(got->values[name], values, 1e-5, name);
    if (batch == 64) EXPECT_GT((*ctx)->activationBytes(), last);
    last = (*ctx)->activationBytes();
  }
}

TEST(CudaModels, ResNet) {
  QRT_REQUIRE_GPU();
  const char* dir = std::getenv("QRT_RESNET_DIR");
  if (!dir) GTEST_SKIP() << "set QRT_RESNET_DIR to a folder with resnet18.onnx / resnet50.onnx";
  for (const char* name : {"resnet18.onnx", "resnet50.onnx"}) {
    std::string path = std::string(dir) + "/" + name;
    if (!std::filesystem::exists(path)) continue;
    SCOPED_TRACE(name);
    // Deep networks accumulate FP32 reordering differences: 1e-4 over 50 layers.
    checkWholeModel(path, {{"input", {2, 3, 224, 224}}}, 1e-4, 2e-2);
  }
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
