// The CUDA backend's INT8 kernels against the reference backend (the oracle, QRT_BACKEND=reference
// for the CPU engines): QuantizeLinear / DequantizeLinear (per tensor and per axis, int8 and
// uint8 with zero points, channels-last), QGemm / QMatMul (cuBLASLt INT8 and the plain kernel,
// relu / clip, int8 and float outputs), int8 MaxPool, and a whole INT8 model (Fashion-MNIST with
// the calibration cache tests/data/calib/fashion_mnist_entropy2.cache made on the CPU), whose GPU
// predictions must agree with the CPU INT8 engine's on >= 99% of images.
//
// Every case uses fresh random inputs, poisons the GPU outputs before the run, and accepts a
// difference of at most one quantization step of the compared value (an int8 rounding that
// lands on the other side of a .5 in fp32). Every test skips where no GPU can be used (CI).
// The Fashion-MNIST test images come from QRT_FMNIST_NPY (a [N, 1, 28, 28] preprocessed .npy)
// (bench/gpu/run_gpu_bench.sh --tests passes it); without it that test skips.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaInt8, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_memory.h"
#include "core/half.h"
#include "core/status_macros.h"
#include "data/tensor_file.h"
#include "quant/data_calibrators.h"
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

std::vector<double> uniform(int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng());
  return v;
}
std::vector<double> ints(int64_t n, int lo, int hi) {  // integers in [lo, hi]
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng());
  return v;
}

// ---- models ----

class Model {
 public:
  Model() {
    m_.set_ir_version(8);
    auto* imp = m_.add_opset_import();
    imp->set_domain("");
    imp->set_version(17);
    m_.mutable_graph()->set_name("cuda_int8_test");
  }
  // A graph input; `gen` makes its values for each run.
  Model& input(const std::string& name, Dims dims, DataType t, std::function<std::vector<double>(int64_t)> gen) {
    auto* vi = m_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(t));
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
    feeds_.push_back({name, t, dims, std::move(gen)});
    return *this;
  }
  Model& constant(const std::string& name, Dims dims, const std::vector<double>& values, DataType t = DataType::kFloat) {
    auto* init = m_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(static_cast<int>(t));
    for (int64_t d : dims) init->add_dims(d);
    std::vector<uint8_t> b = test::encodeValues(values, t);
    init->set_raw_data(b.data(), b.size());
    return *this;
  }
  Model& scalar(const std::string& name, double v, DataType t = DataType::kFloat) { return constant(name, {}, {v}, t); }
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
    std::function<std::vector<double>(int64_t)> gen;
  };
  const std::vector<Feed>& feeds() const { return feeds_; }

 private:
  onnx::ModelProto m_;
  std::vector<Feed> feeds_;
};

void attrInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attrInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// ---- running ----

Inputs randomInputs(const Model& m) {
  Inputs in;
  for (const auto& f : m.feeds()) {
    in.values[f.name] = f.gen(volume(f.dims));
    in.dims[f.name] = f.dims;
    in.dtypes[f.name] = f.dtype;
  }
  return in;
}

enum class Target { kReference, kGpu, kGpuFp16 };

// The reference backend is the oracle: QRT_BACKEND=reference while the CPU engine is built.
Result<std::shared_ptr<Engine>> buildFor(const std::string& model, Target t, std::shared_ptr<Calibrator> calib = nullptr) {
  QRT_ASSIGN_OR_RETURN(auto net, parseOnnxBuffer(model.data(), model.size(), ""));
  BuilderConfig c;
  if (t != Target::kReference) c.setDevice(DeviceType::kCUDA);
  if (t == Target::kGpuFp16) c.setFlag(BuilderFlag::kFP16);
  if (calib) {
    c.setFlag(BuilderFlag::kINT8);
    c.setInt8Calibrator(std::move(calib));
  }
  if (t == Target::kReference) setenv("QRT_BACKEND", "reference", 1);
  auto e = buildEngine(*net, c);
  if (t == Target::kReference) unsetenv("QRT_BACKEND");
  return e;
}


// Every element within `step` (one quantization step of that output) of the reference; and at
// most `max_off_fraction` of them off at all (a rounding flip is rare, a wrong kernel is not).
void expectWithinStep(const std::vector<double>& got, const std::vector<double>& want, double step,
                      const std::string& what, double max_off_fraction = 0.05) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t off = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::fabs(got[i] - want[i]);
    ASSERT_LE(e, step * 1.0001 + 1e-6 * std::fabs(want[i])) << what << ": element " << i << " got " << got[i]
                                                            << " want " << want[i] << " (step " << step << ")";
    if (e > 1e-6 * std::fabs(want[i]) + 1e-30) ++off;
  }
  EXPECT_LE(static_cast<double>(off), max_off_fraction * static_cast<double>(got.size()) + 1)
      << what << ": " << off << " of " << got.size() << " elements differ";
}

// Builds the model for the reference and the GPU, runs both on fresh inputs `runs` times and
// compares every output within its step (steps: output name -> step; default 1 for integer
// outputs, `float_step` for float ones).
void checkModel(const Model& m, const std::map<std::string, double>& steps, Target gpu = Target::kGpu, int runs = 2,
                double max_off_fraction = 0.05) {
  const std::string bytes = m.bytes();
  auto ref = buildFor(bytes, Target::kReference);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto dev = buildFor(bytes, gpu);
  ASSERT_TRUE(dev.ok()) << dev.status().toString();
  for (int r = 0; r < runs; ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    Inputs in = randomInputs(m);
    auto want = runEngine(**ref, in, false);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    auto got = runEngine(**dev, in, true);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    for (const auto& [name, values] : want->values) {
      auto it = steps.find(name);
      ASSERT_NE(it, steps.end()) << "no step given for output " << name;
      expectWithinStep(got->values[name], values, it->second, name, max_off_fraction);
    }
  }
}

// The layer names of an engine by op.
std::map<std::string, int> opsOf(const Engine& e) {
  std::map<std::string, int> ops;
  for (const LayerInfo& l : e.layers()) ops[l.op] += 1;
  return ops;
}

auto floats(double lo, double hi) {
  return [lo, hi](int64_t n) { return uniform(n, lo, hi); };
}
auto integers(int lo, int hi) {
  return [lo, hi](int64_t n) { return ints(n, lo, hi); };
}

// ---- Q / DQ ----

TEST(CudaInt8, QuantizePerTensorAndPerAxis) {
  QRT_REQUIRE_GPU();
  const Dims x{2, 6, 5, 7};
  Model m;
  m.input("X", x, DataType::kFloat, floats(-3, 3));
  m.scalar("s", 0.0213).scalar("z", 0, DataType::kInt8);
  m.constant("sc", {6}, uniform(6, 0.01, 0.05)).constant("zc", {6}, ints(6, 0, 255), DataType::kUInt8);
  m.constant("sw", {7}, uniform(7, 0.01, 0.05)).constant("zw", {7}, ints(7, -20, 20), DataType::kInt8);
  m.node("QuantizeLinear", {"X", "s", "z"}, {"Q1"});
  auto& q2 = m.node("QuantizeLinear", {"X", "sc", "zc"}, {"Q2"});
  attrInt(q2, "axis", 1);
  auto& q3 = m.node("QuantizeLinear", {"X", "sw", "zw"}, {"Q3"});
  attrInt(q3, "axis", -1);
  // 105 elements: the per-tensor kernel's four-at-a-time body and a one-element tail.
  m.input("O", {3, 7, 5}, DataType::kFloat, floats(-300, 300));
  m.scalar("so", 0.9).scalar("zo", 128, DataType::kUInt8);
  m.node("QuantizeLinear", {"O", "so", "zo"}, {"Q4"});
  m.output("Q1", DataType::kInt8).output("Q2", DataType::kUInt8).output("Q3", DataType::kInt8).output("Q4", DataType::kUInt8);
  checkModel(m, {{"Q1", 1}, {"Q2", 1}, {"Q3", 1}, {"Q4", 1}});
}

// A QuantizeLinear after an fp16 layer reads fp16 (--int8 --fp16 engines): per tensor, eight
// halves a thread (quantizeHalfX8) and a one-element-a-thread tail (105 elements), exactly the
// reference's values where the input is exact in fp16 (multiples of 1/64 through a Relu).
TEST(CudaInt8, QuantizeReadsFp16) {
  QRT_REQUIRE_GPU();
  auto sixtyfourths = [](int64_t n) {
    std::vector<double> v = ints(n, -192, 192);
    for (double& x : v) x /= 64;
    return v;
  };
  for (const Dims& d : {Dims{2, 8, 6, 6}, Dims{3, 7, 5}}) {
    SCOPED_TRACE(dimsToString(d));
    Model m;
    m.input("X", d, DataType::kFloat, sixtyfourths);
    m.scalar("s", 0.0213).scalar("z", -3, DataType::kInt8).scalar("su", 0.0117).scalar("zu", 128, DataType::kUInt8);
    m.node("Relu", {"X"}, {"R"});
    m.node("QuantizeLinear", {"R", "s", "z"}, {"Q"});
    m.node("QuantizeLinear", {"R", "su", "zu"}, {"U"});
    m.output("Q", DataType::kInt8).output("U", DataType::kUInt8);
    auto gpu = buildFor(m.bytes(), Target::kGpuFp16);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    int half_q = 0;
    for (const auto& n : (*gpu)->impl().graph->nodes())
      half_q += n->op_type == "QuantizeLinear" && n->inputs[0]->dtype == DataType::kHalf;
    EXPECT_EQ(half_q, 2) << "both quantizers should read the fp16 Relu";
    checkModel(m, {{"Q", 1}, {"U", 1}}, Target::kGpuFp16, 2, 0.0);
  }
}

TEST(CudaInt8, DequantizePerTensorAndPerAxis) {
  QRT_REQUIRE_GPU();
  Model m;
  m.input("A", {3, 4, 5, 6}, DataType::kInt8, integers(-128, 127));
  m.input("B", {3, 4, 5, 6}, DataType::kUInt8, integers(0, 255));
  m.scalar("s", 0.037).scalar("z", 3, DataType::kInt8);
  m.constant("sc", {4}, uniform(4, 0.01, 0.1)).constant("zc", {4}, ints(4, 0, 255), DataType::kUInt8);
  m.node("DequantizeLinear", {"A", "s", "z"}, {"Y1"});
  auto& d2 = m.node("DequantizeLinear", {"B", "sc", "zc"}, {"Y2"});
  attrInt(d2, "axis", 1);
  m.output("Y1").output("Y2");
  checkModel(m, {{"Y1", 1e-6}, {"Y2", 1e-6}});  // exact: one fp32 multiply
}

// Per-axis Q/DQ in a channels-last region: an FP16 convolution makes its output NHWC and the
// Cast, Q and DQ after it follow (the channel of an element is then its innermost index).
TEST(CudaInt8, QdqChannelsLast) {
  QRT_REQUIRE_GPU();
  Model m;
  m.input("X", {2, 8, 9, 9}, DataType::kFloat, floats(-1, 1));
  m.constant("W", {16, 8, 3, 3}, uniform(16 * 8 * 9, -0.3, 0.3));
  m.constant("sc", {16}, uniform(16, 0.02, 0.06)).constant("zc", {16}, ints(16, -5, 5), DataType::kInt8);
  auto& conv = m.node("Conv", {"X", "W"}, {"C"});
  attrInts(conv, "pads", {1, 1, 1, 1});
  auto& q = m.node("QuantizeLinear", {"C", "sc", "zc"}, {"Q"});
  attrInt(q, "axis", 1);
  auto& dq = m.node("DequantizeLinear", {"Q", "sc", "zc"}, {"Y"});
  attrInt(dq, "axis", 1);
  m.output("Y");
  auto gpu = buildFor(m.bytes(), Target::kGpuFp16);
  ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
  int nhwc_q = 0;
  for (const auto& n : (*gpu)->impl().graph->nodes())
    if ((n->op_type == "QuantizeLinear" || n->op_type == "DequantizeLinear") && n->attrInt("qrt_nhwc", 0) == 1) ++nhwc_q;
  EXPECT_EQ(nhwc_q, 2) << "Q and DQ should follow the FP16 convolution channels-last";
  // The FP16 convolution differs from the fp32 reference by far less than a step (0.02+).
  checkModel(m, {{"Y", 0.06}}, Target::kGpuFp16, 2, 0.25);
}

// Add -> Relu -> QuantizeLinear, the float tail of INT8 residual blocks, becomes one AddQuantize
// node on the GPU (its second output keeps the Relu value, here a graph output); Add -> Q without
// a Relu and with no zero point (uint8) too. Odd sizes exercise the vector body and its tail.
// In an --int8 --fp16 engine the Adds are fp16 and so is the fused node (a, b and the kept value);
// inputs that are multiples of 1/64 make every sum exact in fp16, so the values are the reference's.
TEST(CudaInt8, AddQuantizeFusion) {
  QRT_REQUIRE_GPU();
  auto sixtyfourths = [](int64_t n) {
    std::vector<double> v = ints(n, -128, 128);
    for (double& x : v) x /= 64;
    return v;
  };
  for (const Target t : {Target::kGpu, Target::kGpuFp16})
  for (const Dims& d : {Dims{2, 8, 6, 6}, Dims{3, 5, 7}}) {
    const bool fp16 = t == Target::kGpuFp16;
    SCOPED_TRACE(dimsToString(d) + (fp16 ? " --int8 --fp16" : " --int8"));
    Model m;
    m.input("A", d, DataType::kFloat, sixtyfourths).input("B", d, DataType::kFloat, sixtyfourths);
    m.scalar("s", 0.017).scalar("z", 0, DataType::kInt8).scalar("s2", 0.031);
    m.node("Add", {"A", "B"}, {"S"});
    m.node("Relu", {"S"}, {"R"});
    m.node("QuantizeLinear", {"R", "s", "z"}, {"Q"});
    m.node("DequantizeLinear", {"Q", "s", "z"}, {"Y"});
    m.node("Add", {"B", "A"}, {"S2"});
    m.node("QuantizeLinear", {"S2", "s2"}, {"Q2"});
    m.output("Y").output("R").output("Q2", DataType::kUInt8);
    auto gpu = buildFor(m.bytes(), t);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    const auto ops = opsOf(**gpu);
    EXPECT_EQ(ops.count("AddQuantize") ? ops.at("AddQuantize") : 0, 2);
    EXPECT_EQ(ops.count("Relu") + ops.count("Add") + ops.count("QuantizeLinear"), 0u);
    for (const auto& n : (*gpu)->impl().graph->nodes())
      if (n->op_type == "AddQuantize") EXPECT_EQ(n->inputs[0]->dtype, fp16 ? DataType::kHalf : DataType::kFloat);
    checkModel(m, {{"Y", 0.017}, {"R", 1e-6}, {"Q2", 1}}, t, 2, 0.0);
  }
}

// ---- QGemm / QMatMul ----

// X [M, K] -> Q/DQ -> Gemm(W per output channel, bias, transB) -> act -> [Q/DQ]: QGemm.
Model gemmModel(int64_t m, int64_t k, int64_t n, const std::string& act, bool requantize, double y_scale) {
  Model g;
  g.input("X", {m, k}, DataType::kFloat, floats(-2, 2));
  g.scalar("sx", 4.0 / 255).scalar("z", 0, DataType::kInt8);
  g.constant("Wq", {n, k}, ints(n * k, -127, 127), DataType::kInt8);
  g.constant("sw", {n}, uniform(n, 0.001, 0.01)).constant("zw", {n}, std::vector<double>(static_cast<size_t>(n), 0), DataType::kInt8);
  g.constant("bias", {n}, uniform(n, -0.5, 0.5));
  g.node("QuantizeLinear", {"X", "sx", "z"}, {"Xq"});
  g.node("DequantizeLinear", {"Xq", "sx", "z"}, {"Xd"});
  auto& dw = g.node("DequantizeLinear", {"Wq", "sw", "zw"}, {"Wd"});
  attrInt(dw, "axis", 0);
  auto& gemm = g.node("Gemm", {"Xd", "Wd", "bias"}, {act == "none" && !requantize ? "Y" : "G"});
  attrInt(gemm, "transB", 1);
  std::string last = "G";
  if (act == "relu") {
    g.node("Relu", {"G"}, {requantize ? "A" : "Y"});
    last = "A";
  } else if (act == "clip") {
    g.scalar("lo", -0.3).scalar("hi", 0.6);
    g.node("Clip", {"G", "lo", "hi"}, {requantize ? "A" : "Y"});
    last = "A";
  }
  if (requantize) {
    g.scalar("sy", y_scale);
    g.node("QuantizeLinear", {last, "sy", "z"}, {"Yq"});
    g.node("DequantizeLinear", {"Yq", "sy", "z"}, {"Y"});
  }
  g.output("Y");
  return g;
}

TEST(CudaInt8, QGemm) {
  QRT_REQUIRE_GPU();
  struct Case {
    int64_t m, k, n;
    std::string act;
    bool requantize;
  };
  // K = 64, 256: cuBLASLt's INT8 kernels; K = 30: the plain kernel.
  for (const Case& c : {Case{5, 64, 24, "relu", true}, Case{33, 256, 40, "none", false}, Case{7, 30, 10, "clip", true},
                        Case{1, 128, 1000, "none", false}, Case{16, 30, 12, "relu", false}}) {
    SCOPED_TRACE("M " + std::to_string(c.m) + " K " + std::to_string(c.k) + " N " + std::to_string(c.n) + " " + c.act +
                 (c.requantize ? " int8 out" : " float out"));
    const double y_scale = 0.02;
    Model g = gemmModel(c.m, c.k, c.n, c.act, c.requantize, y_scale);
    auto gpu = buildFor(g.bytes(), Target::kGpu);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    EXPECT_EQ(opsOf(**gpu)["QGemm"], 1) << "the Q/DQ pattern should fold into a QGemm";
    // Float outputs: the same int32 accumulator and fp32 epilogue, so (nearly) exact.
    checkModel(g, {{"Y", c.requantize ? y_scale : 1e-5}});
  }
}

// DQ(A) x DQ(B) with both activations: QMatMul, batched.
TEST(CudaInt8, QMatMul) {
  QRT_REQUIRE_GPU();
  for (int64_t k : {32, 18}) {
    SCOPED_TRACE("K " + std::to_string(k));
    Model g;
    g.input("A", {2, 5, k}, DataType::kFloat, floats(-1, 1));
    g.input("B", {2, k, 9}, DataType::kFloat, floats(-1, 1));
    g.scalar("sa", 2.0 / 255).scalar("sb", 2.0 / 255).scalar("sy", 0.05).scalar("z", 0, DataType::kInt8);
    g.node("QuantizeLinear", {"A", "sa", "z"}, {"Aq"});
    g.node("DequantizeLinear", {"Aq", "sa", "z"}, {"Ad"});
    g.node("QuantizeLinear", {"B", "sb", "z"}, {"Bq"});
    g.node("DequantizeLinear", {"Bq", "sb", "z"}, {"Bd"});
    g.node("MatMul", {"Ad", "Bd"}, {"M"});
    g.node("QuantizeLinear", {"M", "sy", "z"}, {"Mq"});
    g.node("DequantizeLinear", {"Mq", "sy", "z"}, {"Y"});
    g.output("Y");
    auto gpu = buildFor(g.bytes(), Target::kGpu);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    EXPECT_EQ(opsOf(**gpu)["QMatMul"], 1);
    checkModel(g, {{"Y", 0.05}});
  }
}

// ---- int8 pooling ----

TEST(CudaInt8, MaxPoolInt8) {
  QRT_REQUIRE_GPU();
  Model m;
  m.input("X", {2, 5, 11, 9}, DataType::kInt8, integers(-128, 127));
  m.input("U", {1, 3, 8, 8}, DataType::kUInt8, integers(0, 255));
  auto& p = m.node("MaxPool", {"X"}, {"Y"});
  attrInts(p, "kernel_shape", {3, 3});
  attrInts(p, "strides", {2, 2});
  attrInts(p, "pads", {1, 1, 1, 1});
  auto& pu = m.node("MaxPool", {"U"}, {"V"});
  attrInts(pu, "kernel_shape", {2, 2});
  attrInts(pu, "strides", {2, 2});
  m.output("Y", DataType::kInt8).output("V", DataType::kUInt8);
  checkModel(m, {{"Y", 0}, {"V", 0}});
}

// ---- INT8 stems in float (passes/unfold_qconv.h) ----

// A 3-channel 7x7 stride-2 stem (Q/DQ around it, relu, requantized) and an 8-channel QConv after
// it. The GPU engine runs the stem as a float convolution (FP16 with --fp16) reading x itself, its
// layer info says so and why; QRT_CUDA_INT8_STEM=int8 keeps it a QConv. x is fed on the
// quantization grid (k * x_scale), where DQ(Q(x)) == x, so the reference INT8 engine is the
// oracle for both: the stem's int8 output within one step (few differing: float rounding, and
// fp16 operands with --fp16), the network's output within one step of its scale.
constexpr double kStemSy2 = 0.05;

// The stem model above; with `pool`, ResNet's stem MaxPool (3x3 stride 2, pads 1) between the
// stem's Relu and its QuantizeLinear; `ch` stem channels over an h x w input; `y1q_output`: the
// stem's quantized output is a graph output too (else only conv2 reads it, as in MobileNetV2); `k`:
// the stem's window (k x k, stride 2, pads k / 2; 3: MobileNetV2's).
Model stemModel(bool pool, int64_t ch = 16, int64_t h = 20, int64_t w = 20, bool y1q_output = true, int64_t k = 7) {
  const double sx = 2.0 / 255, sy = 0.03, sy2 = kStemSy2;
  Model m;
  m.input("X", {2, 3, h, w}, DataType::kFloat, [sx](int64_t n) {
    std::vector<double> k = ints(n, -127, 127);
    for (double& v : k) v = static_cast<double>(static_cast<float>(v) * static_cast<float>(sx));
    return k;
  });
  m.scalar("sx", sx).scalar("z", 0, DataType::kInt8).scalar("sy", sy).scalar("sy2", sy2);
  m.constant("W1q", {ch, 3, k, k}, ints(ch * 3 * k * k, -127, 127), DataType::kInt8);
  m.constant("sw1", {ch}, uniform(ch, 0.001, 0.004)).constant("zw1", {ch}, std::vector<double>(ch, 0), DataType::kInt8);
  m.constant("b1", {ch}, uniform(ch, -0.3, 0.3));
  m.constant("W2q", {8, ch, 3, 3}, ints(8 * ch * 9, -127, 127), DataType::kInt8);
  // Small second-layer weights: an FP16 stem flips ~10% of its int8 outputs by one step, and
  // their sum through conv2 must stay well under one step of Y.
  // Wider stems sum more flipped inputs: the weights shrink by sqrt(16 / ch).
  const double shrink = std::sqrt(16.0 / static_cast<double>(ch));
  m.constant("sw2", {8}, uniform(8, 0.0005 * shrink, 0.001 * shrink))
      .constant("zw2", {8}, std::vector<double>(8, 0), DataType::kInt8);
  m.constant("b2", {8}, uniform(8, -0.3, 0.3));
  m.node("QuantizeLinear", {"X", "sx", "z"}, {"Xq"});
  m.node("DequantizeLinear", {"Xq", "sx", "z"}, {"Xd"});
  attrInt(m.node("DequantizeLinear", {"W1q", "sw1", "zw1"}, {"W1"}), "axis", 0);
  attrInt(m.node("DequantizeLinear", {"W2q", "sw2", "zw2"}, {"W2"}), "axis", 0);
  auto& stem = m.node("Conv", {"Xd", "W1", "b1"}, {"C1"});
  stem.set_name("stem");
  attrInts(stem, "strides", {2, 2});
  attrInts(stem, "pads", {k / 2, k / 2, k / 2, k / 2});
  m.node("Relu", {"C1"}, {"R1"});
  if (pool) {
    auto& mp = m.node("MaxPool", {"R1"}, {"P1"});
    attrInts(mp, "kernel_shape", {3, 3});
    attrInts(mp, "strides", {2, 2});
    attrInts(mp, "pads", {1, 1, 1, 1});
  }
  m.node("QuantizeLinear", {pool ? "P1" : "R1", "sy", "z"}, {"Y1q"});
  m.node("DequantizeLinear", {"Y1q", "sy", "z"}, {"Y1d"});
  auto& conv2 = m.node("Conv", {"Y1d", "W2", "b2"}, {"C2"});
  attrInts(conv2, "pads", {1, 1, 1, 1});
  m.node("Relu", {"C2"}, {"R2"});
  m.node("QuantizeLinear", {"R2", "sy2", "z"}, {"Y2q"});
  m.node("DequantizeLinear", {"Y2q", "sy2", "z"}, {"Y"});
  if (y1q_output) m.output("Y1q", DataType::kInt8);
  m.output("Y");
  return m;
}

TEST(CudaInt8Stem, FewChannelConvolutionRunsInFloat) {
  QRT_REQUIRE_GPU();
  const double sy2 = kStemSy2;
  Model m = stemModel(false);
  for (Target t : {Target::kGpu, Target::kGpuFp16}) {
    const bool fp16 = t == Target::kGpuFp16;
    SCOPED_TRACE(fp16 ? "--int8 --fp16" : "--int8");
    auto gpu = buildFor(m.bytes(), t);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    EXPECT_EQ(opsOf(**gpu)["QConv"], 1) << "only the 16-channel convolution stays INT8";
    // FP16: where the tuner puts the stem on qrt's stem kernel (stem_choice.cpp), the stem
    // quantizes its own output and the QuantizeLinear goes (stem_quantize.cpp): the layer's
    // output is then int8, its arithmetic still fp16.
    const ir::Value* stem_y = nullptr;
    for (const auto& n : (*gpu)->impl().graph->nodes())
      if (n->name == "stem") stem_y = n->outputs[0];
    ASSERT_NE(stem_y, nullptr);
    int y1q_quantizers = 0;
    for (const auto& n : (*gpu)->impl().graph->nodes())
      if (n->op_type == "QuantizeLinear" && n->inputs[0] == stem_y) {
        ++y1q_quantizers;
        // The requantization reads the FP16 convolution's output directly (no Cast between).
        if (fp16) EXPECT_EQ(n->inputs[0]->dtype, DataType::kHalf);
      }
    bool seen = false;
    for (const LayerInfo& l : (*gpu)->layers()) {
      if (l.name != "stem") continue;
      seen = true;
      EXPECT_EQ(l.op, "FusedConv");
      const std::string want = !fp16 ? "fp32" : y1q_quantizers == 1 ? "fp16" : "int8";
      EXPECT_EQ(l.precision, want) << y1q_quantizers << " QuantizeLinear after the stem";
      EXPECT_NE(l.reason.find("input channels"), std::string::npos) << l.reason;
    }
    EXPECT_TRUE(seen) << "no layer 'stem' in the engine";
    checkModel(m, {{"Y1q", 1}, {"Y", sy2}}, t, 2, fp16 ? 0.25 : 0.05);
  }
  // QRT_CUDA_INT8_STEM=int8 keeps the stem INT8 (channels padded to 4 for cuDNN).
  setenv("QRT_CUDA_INT8_STEM", "int8", 1);
  auto int8 = buildFor(m.bytes(), Target::kGpu);
  EXPECT_TRUE(int8.ok()) << int8.status().toString();
  if (int8.ok()) EXPECT_EQ(opsOf(**int8)["QConv"], 2);
  checkModel(m, {{"Y1q", 1}, {"Y", sy2}}, Target::kGpu);
  setenv("QRT_CUDA_INT8_STEM", "fp8", 1);
  auto bad = buildFor(m.bytes(), Target::kGpu);
  unsetenv("QRT_CUDA_INT8_STEM");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("QRT_CUDA_INT8_STEM"), std::string::npos) << bad.status().message();
}

// The float stem's MaxPool and the QuantizeLinear after it (passes::quantizeAfterMaxPool) run as
// one MaxPoolQuantize node (QRT_CUDA_POOL_QUANTIZE=off keeps both), or, on the stem kernel, as an
// int8-writing stem and an int8 MaxPool; every way the pooled int8 output is within one step of
// the reference INT8 engine's (which pools the int8 values).
TEST(CudaInt8Stem, PoolThenQuantizeFuse) {
  QRT_REQUIRE_GPU();
  Model m = stemModel(true);
  for (const char* fuse : {"on", "off"})
    for (Target t : {Target::kGpu, Target::kGpuFp16}) {
      SCOPED_TRACE(std::string(t == Target::kGpuFp16 ? "--int8 --fp16" : "--int8") + ", fusion " + fuse);
      test::ScopedEnv env("QRT_CUDA_POOL_QUANTIZE", fuse);
      // The stem on cuDNN: the tuner may time the stem kernel fastest, which takes the int8 path below.
      test::ScopedEnv cudnn_stem("QRT_CUDA_STEM", "off");
      auto gpu = buildFor(m.bytes(), t);
      ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
      const bool fused = std::string(fuse) == "on";
      EXPECT_EQ(opsOf(**gpu)["MaxPoolQuantize"], fused ? 1 : 0);
      EXPECT_EQ(opsOf(**gpu)["MaxPool"], fused ? 0 : 1);
      checkModel(m, {{"Y1q", 1}, {"Y", kStemSy2}}, t, 2, t == Target::kGpuFp16 ? 0.25 : 0.05);
    }
  // On the stem kernel (fp16 weights; forced, this stem being small) that reads the NCHW input,
  // the stem writes int8 itself and the pool runs on int8 (stem_quantize.cpp); the same values:
  // QuantizeLinear commutes with max. QRT_CUDA_STEM_QUANTIZE=off keeps MaxPoolQuantize.
  test::ScopedEnv stem("QRT_CUDA_STEM", "on");
  for (const char* quantize : {"on", "off"}) {
    SCOPED_TRACE(std::string("--int8 --fp16 on the stem kernel, QRT_CUDA_STEM_QUANTIZE=") + quantize);
    test::ScopedEnv env("QRT_CUDA_STEM_QUANTIZE", quantize);
    auto gpu = buildFor(m.bytes(), Target::kGpuFp16);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    const bool on = std::string(quantize) == "on";
    int int8_stems = 0;
    for (const auto& n : (*gpu)->impl().graph->nodes())
      int8_stems += n->op_type == "FusedConv" && n->outputs[0]->dtype == DataType::kInt8;
    EXPECT_EQ(int8_stems, on ? 1 : 0);
    EXPECT_EQ(opsOf(**gpu)["MaxPoolQuantize"], on ? 0 : 1);
    EXPECT_EQ(opsOf(**gpu)["MaxPool"], on ? 1 : 0);
    checkModel(m, {{"Y1q", 1}, {"Y", kStemSy2}}, Target::kGpuFp16, 2, 0.25);
  }
}

// A stem on the stem kernel whose only reader is its QuantizeLinear (MobileNetV2's: no pool)
// writes int8 itself and the QuantizeLinear goes (stem_quantize.cpp); conv2's output stays within
// one step of the reference INT8 engine's. QRT_CUDA_STEM_QUANTIZE=off keeps the QuantizeLinear.
// Without forcing the stem kernel, the tuner weighs it against cuDNN with the Cast, NHWC copy and
// QuantizeLinear it saves (stem_choice.cpp): whichever it keeps, the values hold.
TEST(CudaInt8Stem, StemQuantizesForItsQuantizeLinear) {
  QRT_REQUIRE_GPU();
  Model m = stemModel(false, 16, 20, 20, false);
  auto int8Stems = [](const Engine& e) {
    int k = 0;
    for (const auto& n : e.impl().graph->nodes()) k += n->op_type == "FusedConv" && n->outputs[0]->dtype == DataType::kInt8;
    return k;
  };
  int quantizes[2] = {0, 0};
  for (const char* quantize : {"on", "off"}) {
    SCOPED_TRACE(std::string("--int8 --fp16 on the stem kernel, QRT_CUDA_STEM_QUANTIZE=") + quantize);
    test::ScopedEnv stem("QRT_CUDA_STEM", "on");
    test::ScopedEnv env("QRT_CUDA_STEM_QUANTIZE", quantize);
    auto gpu = buildFor(m.bytes(), Target::kGpuFp16);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    const bool on = std::string(quantize) == "on";
    EXPECT_EQ(int8Stems(**gpu), on ? 1 : 0);
    quantizes[on ? 0 : 1] = opsOf(**gpu)["QuantizeLinear"];
    checkModel(m, {{"Y", kStemSy2}}, Target::kGpuFp16, 2, 0.25);
  }
  EXPECT_EQ(quantizes[0] + 1, quantizes[1]) << "the stem's QuantizeLinear goes where the stem quantizes";
  SCOPED_TRACE("tuned, the stem kernel not forced");
  checkModel(m, {{"Y", kStemSy2}}, Target::kGpuFp16, 2, 0.25);
}

// MobileNetV2's stem (3x3 stride 2, 32 channels, no pool; only conv2 reads its quantized output) on
// the direct stem kernel (stem_direct.cu: the default for stems of at most 32 taps) and on the row-tile
// kernel: either writes int8 itself (its QuantizeLinear goes) within one step of the reference INT8
// engine; and in --int8 (fp32 float layers) too.
TEST(CudaInt8Stem, DirectStemQuantizes) {
  QRT_REQUIRE_GPU();
  Model m = stemModel(false, 32, 22, 19, false, 3);
  test::ScopedEnv stem("QRT_CUDA_STEM", "on");
  for (const char* kernel : {"direct", "rows"})
    for (Target t : {Target::kGpuFp16, Target::kGpu}) {
      SCOPED_TRACE(std::string("QRT_CUDA_STEM_KERNEL=") + kernel + (t == Target::kGpu ? ", --int8" : ", --int8 --fp16"));
      test::ScopedEnv env("QRT_CUDA_STEM_KERNEL", kernel);
      auto gpu = buildFor(m.bytes(), t);
      ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
      int int8_stems = 0;
      for (const auto& n : (*gpu)->impl().graph->nodes())
        int8_stems += n->op_type == "FusedConv" && n->outputs[0]->dtype == DataType::kInt8;
      if (t == Target::kGpuFp16) EXPECT_EQ(int8_stems, 1);
      checkModel(m, {{"Y", kStemSy2}}, t, 2, t == Target::kGpuFp16 ? 0.25 : 0.05);
    }
}

// The INT8 stem on the stem kernel with its pool inside (stem_pool.cu, QRT_CUDA_STEM_POOL=on): one
// FusedConv writing the pooled int8 tensor, no MaxPool; the same bytes as the stem writing int8
// for an int8 MaxPool (quantizing is monotone), and within one step of the reference INT8 engine.
// Stem widths: 16 channels (two n8 tiles: one 16-byte chunk a pixel), 24 (a half chunk, rows not
// 16-byte aligned: 8-byte stores) and 64 (ResNet's: four chunks), the last over a 64 x 61 input
// (several row bands and a partial column tile).
TEST(CudaInt8Stem, StemPoolsItsInt8Output) {
  QRT_REQUIRE_GPU();
  test::ScopedEnv stem("QRT_CUDA_STEM", "on");
  const int64_t shapes[][3] = {{16, 20, 20}, {24, 23, 18}, {64, 64, 61}};
  for (const auto& [ch, h, w] : shapes) {
    SCOPED_TRACE(std::to_string(ch) + " stem channels, input " + std::to_string(h) + "x" + std::to_string(w));
    Model m = stemModel(true, ch, h, w);
    const Inputs in = randomInputs(m);
    std::vector<double> y1q[2];
    for (const bool pool : {false, true}) {
      SCOPED_TRACE(pool ? "pooled in the stem" : "int8 MaxPool apart");
      test::ScopedEnv env("QRT_CUDA_STEM_POOL", pool ? "on" : "off");
      auto gpu = buildFor(m.bytes(), Target::kGpuFp16);
      ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
      int pooled_stems = 0;
      for (const auto& n : (*gpu)->impl().graph->nodes())
        pooled_stems += n->op_type == "FusedConv" && n->outputs[0]->dtype == DataType::kInt8 && n->attrInt("qrt_pool", 0) == 1;
      EXPECT_EQ(pooled_stems, pool ? 1 : 0);
      EXPECT_EQ(opsOf(**gpu)["MaxPool"], pool ? 0 : 1);
      auto got = runEngine(**gpu, in, true);
      ASSERT_TRUE(got.ok()) << got.status().toString();
      y1q[pool] = got->values["Y1q"];
      checkModel(m, {{"Y1q", 1}, {"Y", kStemSy2}}, Target::kGpuFp16, 2, 0.25);
    }
    ASSERT_EQ(y1q[0].size(), y1q[1].size());
    size_t differ = 0;
    for (size_t i = 0; i < y1q[0].size(); ++i) differ += y1q[0][i] != y1q[1][i];
    EXPECT_EQ(differ, 0u) << "of " << y1q[0].size() << " pooled int8 outputs";
  }
}

// X [2, cin, 12, 12] through Q/DQ (scale 2/255, the scalars "sx" and "z"), then a 3x3 pad-1
// convolution to c1 channels in `group` groups with per-channel int8 weights (scales in [w_lo,
// w_hi]) and a bias in [-b, b]: its float output "C1".
void qdqConv3x3(Model& m, int64_t cin, int64_t c1, int64_t group, double w_lo, double w_hi, double b) {
  m.input("X", {2, cin, 12, 12}, DataType::kFloat, floats(-1, 1));
  m.scalar("sx", 2.0 / 255).scalar("z", 0, DataType::kInt8);
  m.constant("W1q", {c1, cin / group, 3, 3}, ints(c1 * (cin / group) * 9, -127, 127), DataType::kInt8);
  m.constant("sw1", {c1}, uniform(c1, w_lo, w_hi)).constant("zw1", {c1}, std::vector<double>(c1, 0), DataType::kInt8);
  m.constant("b1", {c1}, uniform(c1, -b, b));
  m.node("QuantizeLinear", {"X", "sx", "z"}, {"Xq"});
  m.node("DequantizeLinear", {"Xq", "sx", "z"}, {"Xd"});
  attrInt(m.node("DequantizeLinear", {"W1q", "sw1", "zw1"}, {"W1"}), "axis", 0);
  auto& conv = m.node("Conv", {"Xd", "W1", "b1"}, {"C1"});
  attrInts(conv, "pads", {1, 1, 1, 1});
  if (group > 1) attrInt(conv, "group", group);
}

// A QConv whose float output only an fp16 layer reads (Sigmoid) writes fp16 itself in an
// --int8 --fp16 engine (the CUDA FP16 step, fp16.cpp); no Cast feeds the Sigmoid, and the network's
// int8 and float outputs stay within one step of the reference INT8 engine's (fp16 rounding of the
// Sigmoid's input moves a few values across a rounding boundary). The first convolution is a dense
// 3x3 (group 1) or a depthwise one (group 32), run by each kernel that takes it: `env` off and on
// (QRT_CUDA_IGEMM: cuDNN's plans or qrt's implicit GEMM; QRT_CUDA_DEPTHWISE: cuDNN's int8 plan or
// qrt's int8 depthwise kernel, whose tactic must then be "dw").
void checkFp16QConv(int64_t group, const char* env) {
  const double ss = 1.0 / 255, sy = 0.05;
  const int64_t c1 = 32;
  Model m;
  qdqConv3x3(m, group == 1 ? 16 : c1, c1, group, 0.001, 0.003, 0.3);
  m.scalar("ss", ss).scalar("sy", sy);
  m.constant("W2q", {16, c1, 1, 1}, ints(16 * c1, -127, 127), DataType::kInt8);
  m.constant("sw2", {16}, uniform(16, 0.002, 0.004)).constant("zw2", {16}, std::vector<double>(16, 0), DataType::kInt8);
  m.constant("b2", {16}, uniform(16, -0.3, 0.3));
  attrInt(m.node("DequantizeLinear", {"W2q", "sw2", "zw2"}, {"W2"}), "axis", 0);
  m.node("Sigmoid", {"C1"}, {"S1"});
  m.node("QuantizeLinear", {"S1", "ss", "z"}, {"S1q"});
  m.node("DequantizeLinear", {"S1q", "ss", "z"}, {"S1d"});
  m.node("Conv", {"S1d", "W2", "b2"}, {"C2"});
  m.node("Relu", {"C2"}, {"R2"});
  m.node("QuantizeLinear", {"R2", "sy", "z"}, {"Yq"});
  m.node("DequantizeLinear", {"Yq", "sy", "z"}, {"Y"});
  m.output("S1q", DataType::kInt8).output("Y");
  for (const char* mode : {"off", "on"}) {
    SCOPED_TRACE(std::string(env) + "=" + mode);
    test::ScopedEnv e(env, mode);
    auto gpu = buildFor(m.bytes(), Target::kGpuFp16);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    int fp16_qconvs = 0;
    for (const auto& n : (*gpu)->impl().graph->nodes()) {
      if (n->op_type == "QConv" && n->outputs[0]->dtype == DataType::kHalf) {
        ++fp16_qconvs;
        const std::string tactic = n->attrString(cuda::kAttrTactic, "");
        if (group > 1 && std::string(mode) == "on")
          EXPECT_TRUE(tactic.size() > 3 && tactic.substr(tactic.size() - 3) == "|dw") << tactic;
      }
      if (n->op_type == "Sigmoid") {
        ASSERT_NE(n->inputs[0]->producer, nullptr);
        EXPECT_EQ(n->inputs[0]->producer->op_type, "QConv") << "no Cast between the QConv and the Sigmoid";
      }
    }
    EXPECT_EQ(fp16_qconvs, 1);
    checkModel(m, {{"S1q", 1}, {"Y", sy}}, Target::kGpuFp16, 2, 0.05);
  }
}

TEST(CudaInt8Fp16, FloatQConvWritesFp16) {
  QRT_REQUIRE_GPU();
  checkFp16QConv(1, "QRT_CUDA_IGEMM");
}

TEST(CudaInt8Fp16, DepthwiseQConvWritesFp16) {
  QRT_REQUIRE_GPU();
  checkFp16QConv(32, "QRT_CUDA_DEPTHWISE");
}

// By default (QRT_CUDA_QCONV_HARDSWISH unset or on) Conv -> HardSwish -> QuantizeLinear folds into one QConv with
// activation hard_swish and int8 output (PP-OCRv4's detector has 34 of them), run by cuDNN's
// convolution with qrt's requantize kernel, or by qrt's int8 depthwise kernel (QRT_CUDA_DEPTHWISE
// on: its tactic "dw"; off: cuDNN); within one step of the reference backend's INT8 engine, whose
// fused epilogue applies the HardSwish with the same float arithmetic. With the switch off the
// HardSwish stays a node of its own.
TEST(CudaInt8HardSwish, FoldsIntoQConvWhereAllowed) {
  QRT_REQUIRE_GPU();
  for (const int64_t group : {int64_t{1}, int64_t{32}}) {
    Model m;
    qdqConv3x3(m, group == 1 ? 16 : 32, 32, group, 0.002, 0.006, 1.0);  // outputs of a few units: across -3..3
    m.scalar("sy", 0.03);
    m.node("HardSwish", {"C1"}, {"H"});
    m.node("QuantizeLinear", {"H", "sy", "z"}, {"Y"});
    m.output("Y", DataType::kInt8);
    for (const char* mode : {"", "on", "off"}) {  // "": unset, the default (on)
      for (const char* dw : {"on", "off"}) {
        if (group == 1 && std::string(dw) == "off") continue;
        SCOPED_TRACE(std::string("group ") + std::to_string(group) + ", QRT_CUDA_QCONV_HARDSWISH=" + mode +
                     ", QRT_CUDA_DEPTHWISE=" + dw);
        test::ScopedEnv hs("QRT_CUDA_QCONV_HARDSWISH", *mode ? mode : nullptr);
        test::ScopedEnv dwe("QRT_CUDA_DEPTHWISE", dw);
        auto gpu = buildFor(m.bytes(), Target::kGpu);
        ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
        int hard_swish_nodes = 0, folded = 0;
        for (const auto& n : (*gpu)->impl().graph->nodes()) {
          hard_swish_nodes += n->op_type == "HardSwish";
          if (n->op_type != "QConv") continue;
          folded += n->attrString("activation", "none") == "hard_swish";
          const std::string tactic = n->attrString(cuda::kAttrTactic, "");
          if (group > 1 && std::string(mode) == "on" && std::string(dw) == "on")
            EXPECT_TRUE(tactic.size() > 3 && tactic.substr(tactic.size() - 3) == "|dw") << tactic;
        }
        const bool on = std::string(mode) != "off";
        EXPECT_EQ(folded, on ? 1 : 0);
        EXPECT_EQ(hard_swish_nodes, on ? 0 : 1);
        checkModel(m, {{"Y", 1}});
      }
    }
  }
}

// QRT_CUDA_QCONV_AFFINE (default on): Conv -> HardSwish -> Mul(c) -> Add(d) -> QuantizeLinear (PP-LCNetV3's
// learnable affine, 13 of them in PP-OCRv4's detector) folds into one QConv with post_scale and
// post_shift, applied by qrt's requantize kernel after cuDNN's convolution (dense) or by the int8
// depthwise kernel's folded epilogue (QRT_CUDA_DEPTHWISE on; off: cuDNN); within one step of the
// reference backend's INT8 engine, which folds it too and rounds as the unfused nodes. Off, the Mul
// and Add stay nodes of their own. Passed on an H200 (session 14), with the default unset too.
TEST(CudaInt8HardSwish, AffineFoldsIntoQConvWhereAllowed) {
  QRT_REQUIRE_GPU();
  for (const int64_t group : {int64_t{1}, int64_t{32}}) {
    Model m;
    qdqConv3x3(m, group == 1 ? 16 : 32, 32, group, 0.002, 0.006, 1.0);
    m.scalar("sy", 0.03).scalar("c", 0.85).scalar("d", -0.12);
    m.node("HardSwish", {"C1"}, {"H"});
    m.node("Mul", {"c", "H"}, {"M"});
    m.node("Add", {"M", "d"}, {"A"});
    m.node("QuantizeLinear", {"A", "sy", "z"}, {"Y"});
    m.output("Y", DataType::kInt8);
    for (const char* mode : std::initializer_list<const char*>{"on", "off", nullptr}) {  // nullptr: the default
      for (const char* dw : {"on", "off"}) {
        if (group == 1 && std::string(dw) == "off") continue;
        SCOPED_TRACE(std::string("group ") + std::to_string(group) + ", QRT_CUDA_QCONV_AFFINE=" +
                     (mode ? mode : "(unset)") + ", QRT_CUDA_DEPTHWISE=" + dw);
        test::ScopedEnv affine("QRT_CUDA_QCONV_AFFINE", mode);
        test::ScopedEnv dwe("QRT_CUDA_DEPTHWISE", dw);
        auto gpu = buildFor(m.bytes(), Target::kGpu);
        ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
        int affine_nodes = 0, folded = 0;
        for (const auto& n : (*gpu)->impl().graph->nodes()) {
          affine_nodes += n->op_type == "Mul" || n->op_type == "Add";
          if (n->op_type != "QConv") continue;
          folded += n->hasAttr("post_scale");
          const std::string tactic = n->attrString(cuda::kAttrTactic, "");
          if (group > 1 && (!mode || std::string(mode) == "on") && std::string(dw) == "on")
            EXPECT_TRUE(tactic.size() > 3 && tactic.substr(tactic.size() - 3) == "|dw") << tactic;
        }
        const bool on = !mode || std::string(mode) == "on";
        EXPECT_EQ(folded, on ? 1 : 0);
        EXPECT_EQ(affine_nodes, on ? 0 : 2);
        checkModel(m, {{"Y", 1}});
      }
    }
  }
}

// ---- a whole INT8 model ----

// Fashion-MNIST test images, preprocessed as models/fashion_mnist/preprocess.json says.
std::optional<HostTensor> fashionMnistImages(std::string* why) {
  if (const char* p = std::getenv("QRT_FMNIST_NPY")) {
    auto t = readNpy(p);
    if (t.ok()) return std::move(*t);
    *why = t.status().toString();
    return std::nullopt;
  }
  *why = "set QRT_FMNIST_NPY to a [N, 1, 28, 28] .npy of preprocessed Fashion-MNIST test images "
         "(bench/gpu/run_gpu_bench.sh makes one)";
  return std::nullopt;
}

std::vector<int> argmaxRows(const std::vector<double>& v, size_t classes) {
  std::vector<int> r(v.size() / classes);
  for (size_t i = 0; i < r.size(); ++i)
    r[i] = static_cast<int>(std::max_element(v.begin() + static_cast<std::ptrdiff_t>(i * classes),
                                             v.begin() + static_cast<std::ptrdiff_t>((i + 1) * classes)) -
                            (v.begin() + static_cast<std::ptrdiff_t>(i * classes)));
  return r;
}

// The GPU INT8 engine computes what the CPU INT8 engine computes: with its 1-channel stem kept
// INT8 (QRT_CUDA_INT8_STEM=int8) the graphs are the same and the predictions must agree on >= 99%
// of the images. By default the GPU runs that stem in float (passes/unfold_qconv.h: a precision
// increase), so the default engine is held to the FP32 model instead: it must agree with the FP32
// predictions at least as well as the CPU INT8 engine does, less half a point.
TEST(CudaInt8Models, FashionMnistAgreesWithTheCpuInt8Engine) {
  QRT_REQUIRE_GPU();
  std::string why;
  auto images = fashionMnistImages(&why);
  if (!images) GTEST_SKIP() << why;
  const std::string path = test::sourcePath("models/fashion_mnist/model.onnx");
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), {});
  auto calibrator = [] {
    quant::DataCalibratorOptions o;
    o.cache_path = test::sourcePath("tests/data/calib/fashion_mnist_entropy2.cache");
    return std::make_shared<quant::CacheOnlyCalibrator>(o);
  };
  auto fp32 = buildFor(bytes, Target::kReference);
  ASSERT_TRUE(fp32.ok()) << fp32.status().toString();
  auto cpu = buildFor(bytes, Target::kReference, calibrator());
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  Result<std::shared_ptr<Engine>> same = [&] {
    test::ScopedEnv stem("QRT_CUDA_INT8_STEM", "int8");
    return buildFor(bytes, Target::kGpu, calibrator());
  }();
  ASSERT_TRUE(same.ok()) << same.status().toString();
  auto gpu = buildFor(bytes, Target::kGpu, calibrator());
  ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
  EXPECT_GT(opsOf(**gpu)["QConv"], 0) << "the GPU engine should run integer convolutions";
  EXPECT_EQ((*gpu)->metadata("device"), "cuda");

  const int64_t n = images->dims()[0], batch = 100;
  const float* x = static_cast<const float*>(images->data());
  size_t same_cpu = 0, cpu_fp32 = 0, gpu_fp32 = 0, total = 0;
  for (int64_t b = 0; b + batch <= n; b += batch) {
    Inputs in;
    in.dims["input"] = {batch, 1, 28, 28};
    in.dtypes["input"] = DataType::kFloat;
    in.values["input"].assign(x + b * 784, x + (b + batch) * 784);
    auto want = runEngine(**cpu, in, false);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    auto exact = runEngine(**fp32, in, false);
    ASSERT_TRUE(exact.ok()) << exact.status().toString();
    auto got_same = runEngine(**same, in, true);
    ASSERT_TRUE(got_same.ok()) << got_same.status().toString();
    auto got = runEngine(**gpu, in, true);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    const auto& name = want->values.begin()->first;
    std::vector<int> pw = argmaxRows(want->values[name], 10), pe = argmaxRows(exact->values[name], 10),
                     ps = argmaxRows(got_same->values[name], 10), pg = argmaxRows(got->values[name], 10);
    for (size_t i = 0; i < pw.size(); ++i) {
      same_cpu += ps[i] == pw[i];
      cpu_fp32 += pw[i] == pe[i];
      gpu_fp32 += pg[i] == pe[i];
    }
    total += pw.size();
  }
  ASSERT_GT(total, 0u);
  const auto pct = [&](size_t k) { return static_cast<double>(k) / static_cast<double>(total); };
  std::printf("Fashion-MNIST INT8 on %zu images: GPU (int8 stem) = CPU INT8 on %.2f%%; agreement with FP32: "
              "CPU INT8 %.2f%%, GPU INT8 (float stem) %.2f%%\n",
              total, 100 * pct(same_cpu), 100 * pct(cpu_fp32), 100 * pct(gpu_fp32));
  EXPECT_GE(pct(same_cpu), 0.99);
  EXPECT_GE(pct(gpu_fp32), pct(cpu_fp32) - 0.005);
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
