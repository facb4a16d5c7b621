// The graph optimization passes (fold_batchnorm, fold_mul_add_into_conv, recognize_activations,
// remove_identities, fuse_conv_activation) through the public API: each test builds a small
// ONNX model with the onnx protobuf API, builds it twice (with every pass, and with the passes
// switched off through QRT_DISABLE_PASSES) and checks (a) the op counts of the optimized engine
// and (b) that both engines compute the same outputs, to 1e-5 of the output's largest magnitude
// (1e-6 where an activation chain is recognised; the fused ops themselves are exact). Every
// pass has cases where it must apply and cases where it must not (an extra reader, a graph
// output, non-constant weights). Then the real models: Fashion-MNIST (its BatchNormalizations
// must all fold) and PP-OCRv4 det/rec on the inputs tests/ocr/make_inputs.py makes.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "data/tensor_file.h"
#include "qrt/qrt.h"
#include "test_util.h"

namespace qrt {
namespace {

// Every pass this file tests, off: the unoptimized graph (constant folding stays on).
constexpr const char kNoOptimization[] =
    "remove_identities,recognize_activations,recognize_layernorm,fold_batchnorm,fold_mul_add_into_conv,"
    "fuse_conv_activation";

// Sets QRT_DISABLE_PASSES for one scope, and keeps every node on the reference backend: the
// passes are under test, and the reference makes a fused layer equal its chain bit for bit.
class DisablePasses {
 public:
  explicit DisablePasses(const char* names) {
    if (names) setenv("QRT_DISABLE_PASSES", names, 1);
    setenv("QRT_BACKEND", "reference", 1);
  }
  ~DisablePasses() {
    unsetenv("QRT_DISABLE_PASSES");
    unsetenv("QRT_BACKEND");
  }
};

std::vector<float> randomValues(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// A node under construction: attribute setters.
class NodeRef {
 public:
  explicit NodeRef(onnx::NodeProto* n) : n_(n) {}
  NodeRef& i(const std::string& name, int64_t v) {
    attr(name, onnx::AttributeProto::INT)->set_i(v);
    return *this;
  }
  NodeRef& f(const std::string& name, float v) {
    attr(name, onnx::AttributeProto::FLOAT)->set_f(v);
    return *this;
  }
  NodeRef& ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = attr(name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }

 private:
  onnx::AttributeProto* attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = n_->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  }
  onnx::NodeProto* n_;
};

// A float32 model: inputs fed with random values, constants, nodes, outputs.
class Model {
 public:
  explicit Model(int opset = 13) {
    model_.set_ir_version(8);
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    model_.mutable_graph()->set_name("passes_test");
  }

  // A graph input; run() feeds it random values in [lo, hi].
  Model& input(const std::string& name, const Dims& dims, float lo = -1.f, float hi = 1.f) {
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(DataType::kFloat));
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
    feeds_[name] = {dims, randomValues(volume(dims), static_cast<uint32_t>(feeds_.size() + 11), lo, hi)};
    return *this;
  }
  Model& constant(const std::string& name, const Dims& dims, const std::vector<float>& values) {
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(static_cast<int>(DataType::kFloat));
    for (int64_t d : dims) init->add_dims(d);
    init->set_raw_data(values.data(), values.size() * sizeof(float));
    return *this;
  }
  // A constant of random values in [lo, hi].
  Model& weights(const std::string& name, const Dims& dims, float lo = -1.f, float hi = 1.f) {
    return constant(name, dims, randomValues(volume(dims), seed_++, lo, hi));
  }
  Model& scalar(const std::string& name, float v, const Dims& dims = {}) { return constant(name, dims, {v}); }
  NodeRef node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(model_.graph().node_size()));
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return NodeRef(n);
  }
  Model& output(const std::string& name) {
    auto* out = model_.mutable_graph()->add_output();
    out->set_name(name);
    out->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(DataType::kFloat));
    outputs_.push_back(name);
    return *this;
  }

  std::unique_ptr<Network> parse() const {
    std::string bytes;
    EXPECT_TRUE(model_.SerializeToString(&bytes));
    auto net = parseOnnxBuffer(bytes.data(), bytes.size(), ".");
    EXPECT_TRUE(net.ok()) << net.status().toString();
    return net.ok() ? std::move(*net) : nullptr;
  }

  struct Feed {
    Dims dims;
    std::vector<float> values;
  };
  const std::map<std::string, Feed>& feeds() const { return feeds_; }
  const std::vector<std::string>& outputs() const { return outputs_; }

 private:
  onnx::ModelProto model_;
  std::map<std::string, Feed> feeds_;
  std::vector<std::string> outputs_;
  uint32_t seed_ = 100;
};

// Builds with the passes QRT_DISABLE_PASSES would disable (nullptr: none).
std::shared_ptr<Engine> build(const Network& net, const char* disabled,
                              const std::map<std::string, Dims>& shapes = {}) {
  DisablePasses guard(disabled);
  BuilderConfig config;
  for (const auto& [name, dims] : shapes) config.setInputShape(name, dims);
  auto e = buildEngine(net, config);
  EXPECT_TRUE(e.ok()) << e.status().toString();
  return e.ok() ? *e : nullptr;
}

std::map<std::string, int> opCounts(const Engine& e) {
  std::map<std::string, int> n;
  for (const LayerInfo& l : e.layers()) ++n[l.op];
  return n;
}

std::string describe(const std::map<std::string, int>& ops) {
  std::string s;
  for (const auto& [op, n] : ops) s += op + ":" + std::to_string(n) + " ";
  return s;
}

// Runs the engine on `feeds`; returns each named output.
std::vector<std::vector<float>> run(const Engine& e, const std::map<std::string, Model::Feed>& feeds,
                                    const std::vector<std::string>& outputs) {
  std::vector<std::vector<float>> result;
  auto ctx = e.createExecutionContext();
  EXPECT_TRUE(ctx.ok()) << ctx.status().toString();
  if (!ctx.ok()) return result;
  std::vector<std::vector<float>> in;
  for (const auto& [name, f] : feeds) {
    EXPECT_TRUE((*ctx)->setInputShape(name, f.dims).ok());
    in.push_back(f.values);
    EXPECT_TRUE((*ctx)->setTensorAddress(name, in.back().data()).ok());
  }
  result.resize(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto dims = (*ctx)->tensorShape(outputs[i]);
    EXPECT_TRUE(dims.ok()) << dims.status().toString();
    if (!dims.ok()) return {};
    result[i].assign(static_cast<size_t>(volume(*dims)), NAN);
    EXPECT_TRUE((*ctx)->setTensorAddress(outputs[i], result[i].data()).ok());
  }
  Status st = (*ctx)->enqueue();
  EXPECT_TRUE(st.ok()) << st.toString();
  return result;
}

// max |a - b| / max |b| (0 when both are all zero).
double relativeError(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    if (std::isnan(a[i])) continue;
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale == 0 ? err : err / scale;
}

// Builds the model optimized and unoptimized, checks the optimized op counts (ops not listed
// must be absent, except those in `ignore`), compares outputs; returns the optimized engine.
std::shared_ptr<Engine> check(const Model& m, const std::map<std::string, int>& expected_ops, double tol = 1e-5) {
  auto net = m.parse();
  if (!net) return nullptr;
  auto optimized = build(*net, nullptr);
  auto plain = build(*net, kNoOptimization);
  if (!optimized || !plain) return nullptr;
  EXPECT_EQ(opCounts(*optimized), expected_ops) << "optimized: " << describe(opCounts(*optimized))
                                                << "\nunoptimized: " << describe(opCounts(*plain));
  auto a = run(*optimized, m.feeds(), m.outputs());
  auto b = run(*plain, m.feeds(), m.outputs());
  EXPECT_EQ(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    EXPECT_LE(relativeError(a[i], b[i]), tol) << "output " << m.outputs()[i];
  return optimized;
}

// ---- fold_batchnorm ----

// A BatchNormalization over `c` channels named bn reading x, writing y (var positive).
void addBatchNorm(Model& m, const std::string& x, const std::string& y, int64_t c) {
  m.weights(y + "_scale", {c}, 0.5f, 2.f).weights(y + "_b", {c}).weights(y + "_mean", {c}).weights(y + "_var", {c}, 0.1f, 2.f);
  m.node("BatchNormalization", {x, y + "_scale", y + "_b", y + "_mean", y + "_var"}, {y}).f("epsilon", 1e-3f);
}

TEST(FoldBatchNorm, GroupedConvWithBias) {
  Model m;
  m.input("x", {2, 4, 7, 7}).weights("w", {6, 2, 3, 3}).weights("b", {6});
  m.node("Conv", {"x", "w", "b"}, {"c"}).i("group", 2).ints("pads", {1, 1, 1, 1}).ints("strides", {2, 2});
  addBatchNorm(m, "c", "y", 6);
  m.output("y");
  check(m, {{"Conv", 1}});
}

TEST(FoldBatchNorm, ConvWithoutBias) {
  Model m;
  m.input("x", {1, 3, 5, 5}).weights("w", {4, 3, 3, 3});
  m.node("Conv", {"x", "w"}, {"c"});
  addBatchNorm(m, "c", "y", 4);
  m.output("y");
  check(m, {{"Conv", 1}});
}

TEST(FoldBatchNorm, GroupedConvTranspose) {
  Model m;
  m.input("x", {1, 4, 3, 3}).weights("w", {4, 3, 2, 2}).weights("b", {6});
  m.node("ConvTranspose", {"x", "w", "b"}, {"c"}).i("group", 2).ints("strides", {2, 2});
  addBatchNorm(m, "c", "y", 6);
  m.output("y");
  check(m, {{"ConvTranspose", 1}});
}

TEST(FoldBatchNorm, GemmTransposedBWithBias) {
  Model m;
  m.input("a", {3, 8}).weights("w", {5, 8}).weights("c", {5});
  m.node("Gemm", {"a", "w", "c"}, {"g"}).i("transB", 1).f("alpha", 0.5f).f("beta", 2.f);
  addBatchNorm(m, "g", "y", 5);
  m.output("y");
  check(m, {{"Gemm", 1}});
}

TEST(FoldBatchNorm, GemmWithoutC) {
  Model m;
  m.input("a", {3, 8}).weights("w", {8, 5});
  m.node("Gemm", {"a", "w"}, {"g"});
  addBatchNorm(m, "g", "y", 5);
  m.output("y");
  check(m, {{"Gemm", 1}});
}

TEST(FoldBatchNorm, NotWhenConvOutputHasAnotherReader) {
  Model m;
  m.input("x", {1, 3, 5, 5}).weights("w", {4, 3, 1, 1});
  m.node("Conv", {"x", "w"}, {"c"});
  addBatchNorm(m, "c", "y", 4);
  m.node("Sigmoid", {"c"}, {"s"});
  m.output("y").output("s");
  check(m, {{"Conv", 1}, {"BatchNormalization", 1}, {"Sigmoid", 1}});
}

TEST(FoldBatchNorm, NotWhenConvOutputIsAGraphOutput) {
  Model m;
  m.input("x", {1, 3, 5, 5}).weights("w", {4, 3, 1, 1});
  m.node("Conv", {"x", "w"}, {"c"});
  addBatchNorm(m, "c", "y", 4);
  m.output("y").output("c");
  check(m, {{"Conv", 1}, {"BatchNormalization", 1}});
}

TEST(FoldBatchNorm, NotWithNonConstantWeights) {
  Model m;
  m.input("x", {1, 3, 5, 5}).input("w", {4, 3, 1, 1});
  m.node("Conv", {"x", "w"}, {"c"});
  addBatchNorm(m, "c", "y", 4);
  m.output("y");
  check(m, {{"Conv", 1}, {"BatchNormalization", 1}});
}

TEST(FoldBatchNorm, NotWithNonConstantStatistics) {
  Model m;
  m.input("x", {1, 3, 5, 5}).input("mean", {4}).weights("w", {4, 3, 1, 1});
  m.weights("scale", {4}).weights("b", {4}).weights("var", {4}, 0.5f, 1.f);
  m.node("Conv", {"x", "w"}, {"c"});
  m.node("BatchNormalization", {"c", "scale", "b", "mean", "var"}, {"y"});
  m.output("y");
  check(m, {{"Conv", 1}, {"BatchNormalization", 1}});
}

// ---- fold_mul_add_into_conv ----

TEST(FoldMulAdd, AfterConvEveryForm) {
  Model m;
  m.input("x", {2, 3, 6, 6}).weights("w", {4, 3, 3, 3}).weights("b", {4});
  m.weights("s", {4, 1, 1}, 0.5f, 2.f).weights("t", {1, 4, 1, 1}).scalar("u", 0.25f, {1}).weights("d", {4, 1, 1}, 1.f, 3.f);
  m.scalar("k", 3.f);
  m.node("Conv", {"x", "w", "b"}, {"c"}).ints("pads", {1, 1, 1, 1});
  m.node("Mul", {"s", "c"}, {"c1"});
  m.node("Add", {"c1", "t"}, {"c2"});
  m.node("Sub", {"c2", "u"}, {"c3"});
  m.node("Div", {"c3", "d"}, {"c4"});
  m.node("Sub", {"k", "c4"}, {"y"});
  m.output("y");
  check(m, {{"Conv", 1}});
}

TEST(FoldMulAdd, AfterConvTransposeAndGemm) {
  Model m;
  m.input("x", {1, 4, 3, 3}).weights("w", {4, 2, 2, 2}).weights("s", {1, 4, 1, 1});
  m.node("ConvTranspose", {"x", "w"}, {"c"}).i("group", 2).ints("strides", {2, 2});
  m.node("Mul", {"c", "s"}, {"y"});
  m.input("a", {3, 8}).weights("g_w", {8, 5}).weights("g_c", {5}).weights("g_s", {5}).weights("g_t", {1, 5});
  m.node("Gemm", {"a", "g_w", "g_c"}, {"g"}).f("beta", 0.5f);
  m.node("Mul", {"g", "g_s"}, {"g1"});
  m.node("Add", {"g1", "g_t"}, {"z"});
  m.output("y").output("z");
  check(m, {{"ConvTranspose", 1}, {"Gemm", 1}});
}

TEST(FoldMulAdd, BeforeUnpaddedConvs) {
  Model m;
  m.input("x", {1, 4, 5, 5}).scalar("s", 1.5f, {1}).weights("t", {4, 1, 1});
  m.weights("w1", {6, 2, 1, 1}).weights("b1", {6}).weights("w2", {2, 4, 3, 3});
  m.node("Mul", {"x", "s"}, {"u0"});
  m.node("Add", {"u0", "t"}, {"u"});
  m.node("Conv", {"u", "w1", "b1"}, {"y1"}).i("group", 2);
  m.node("Conv", {"u", "w2"}, {"y2"}).ints("strides", {2, 2});
  m.output("y1").output("y2");
  check(m, {{"Conv", 2}});
}

TEST(FoldMulAdd, NotBeforePaddedConv) {
  Model m;
  m.input("x", {1, 4, 5, 5}).scalar("s", 1.5f, {1}).weights("t", {4, 1, 1}).weights("w", {2, 4, 3, 3});
  m.node("Mul", {"x", "s"}, {"u0"});
  m.node("Add", {"u0", "t"}, {"u"});
  m.node("Conv", {"u", "w"}, {"y"}).ints("pads", {1, 1, 1, 1});
  m.output("y");
  check(m, {{"Mul", 1}, {"Add", 1}, {"Conv", 1}});
}

TEST(FoldMulAdd, NotWithSpatialOrNonConstantOperands) {
  Model m;
  m.input("x", {1, 3, 4, 4}).input("v", {1, 2, 1, 1}).weights("w", {2, 3, 1, 1}).weights("sp", {1, 1, 4, 4});
  m.node("Conv", {"x", "w"}, {"c"});
  m.node("Mul", {"c", "sp"}, {"c1"});  // varies over space: not per channel
  m.node("Add", {"c1", "v"}, {"y"});   // not a constant
  m.output("y");
  check(m, {{"Conv", 1}, {"Mul", 1}, {"Add", 1}});
}

TEST(FoldMulAdd, NotWithNonConstantWeights) {
  Model m;
  m.input("x", {1, 3, 4, 4}).input("w", {2, 3, 1, 1}).weights("s", {2, 1, 1});
  m.node("Conv", {"x", "w"}, {"c"});
  m.node("Mul", {"c", "s"}, {"y"});
  m.output("y");
  check(m, {{"Conv", 1}, {"Mul", 1}});
}

// ---- recognize_activations ----

// x in [-8, 8]: every piece of the piecewise activations.
constexpr float kWide = 8.f;

TEST(RecognizeActivations, HardSwishWrittenWithDiv) {
  Model m(11);
  m.input("x", {2, 3, 8, 8}, -kWide, kWide).scalar("three", 3.f).scalar("zero", 0.f).scalar("six", 6.f);
  m.node("Add", {"x", "three"}, {"a"});
  m.node("Clip", {"a", "zero", "six"}, {"c"});
  m.node("Mul", {"x", "c"}, {"m"});
  m.node("Div", {"m", "six"}, {"y"});
  m.output("y");
  check(m, {{"HardSwish", 1}}, 1e-6);
}

TEST(RecognizeActivations, HardSwishWithClipAttributesAndMulBySixth) {
  Model m(10);
  m.input("x", {64}, -kWide, kWide).scalar("three", 3.f).scalar("sixth", 1.f / 6.f);
  m.node("Add", {"three", "x"}, {"a"});
  m.node("Clip", {"a"}, {"c"}).f("min", 0.f).f("max", 6.f);
  m.node("Mul", {"c", "x"}, {"m"});
  m.node("Mul", {"m", "sixth"}, {"y"});
  m.output("y");
  check(m, {{"HardSwish", 1}}, 1e-6);
}

TEST(RecognizeActivations, HardSigmoidChainAndHardSwishFromHardSigmoid) {
  Model m(13);
  m.input("x", {4, 16}, -kWide, kWide).scalar("three", 3.f).scalar("zero", 0.f).scalar("six", 6.f);
  m.node("Add", {"x", "three"}, {"a"});
  m.node("Clip", {"a", "zero", "six"}, {"c"});
  m.node("Div", {"c", "six"}, {"y"});  // HardSigmoid(x, 1/6, 0.5)
  m.input("v", {4, 16}, -kWide, kWide);
  m.node("HardSigmoid", {"v"}, {"h"}).f("alpha", 0.16666670143604279f).f("beta", 0.5f);
  m.node("Mul", {"h", "v"}, {"z"});  // v * HardSigmoid(v): HardSwish
  m.output("y").output("z");
  check(m, {{"HardSigmoid", 1}, {"HardSwish", 1}}, 1e-6);
}

TEST(RecognizeActivations, Relu6AndMinMaxClamp) {
  Model m(13);
  m.input("x", {32}, -kWide, kWide).scalar("six", 6.f).scalar("lo", -2.f).scalar("hi", 4.f);
  m.node("Relu", {"x"}, {"r"});
  m.node("Min", {"r", "six"}, {"y"});
  m.node("Min", {"x", "hi"}, {"t"});
  m.node("Max", {"t", "lo"}, {"z"});
  m.output("y").output("z");
  check(m, {{"Clip", 2}}, 0.0);
}

TEST(RecognizeActivations, NotWhenAnIntermediateIsRead) {
  Model m(13);
  m.input("x", {32}, -kWide, kWide).scalar("three", 3.f).scalar("zero", 0.f).scalar("six", 6.f);
  m.node("Add", {"x", "three"}, {"a"});
  m.node("Clip", {"a", "zero", "six"}, {"c"});
  m.node("Mul", {"x", "c"}, {"m"});
  m.node("Div", {"m", "six"}, {"y"});
  m.output("y").output("c");
  check(m, {{"Add", 1}, {"Clip", 1}, {"Mul", 1}, {"Div", 1}}, 0.0);
}

TEST(RecognizeActivations, NotWithOtherConstants) {
  Model m(13);
  m.input("x", {32}, -kWide, kWide).scalar("two", 2.f).scalar("zero", 0.f).scalar("six", 6.f);
  m.node("Add", {"x", "two"}, {"a"});
  m.node("Clip", {"a", "zero", "six"}, {"c"});
  m.node("Mul", {"x", "c"}, {"m"});
  m.node("Div", {"m", "six"}, {"y"});
  m.output("y");
  check(m, {{"Add", 1}, {"Clip", 1}, {"Mul", 1}, {"Div", 1}}, 0.0);
}

// ---- recognize_layernorm ----

// y = (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) over `axes`, then * gamma + beta when given.
void addLayerNormChain(Model& m, const std::string& x, const std::string& y, const std::vector<int64_t>& axes,
                       bool use_pow, const std::string& gamma, const std::string& beta) {
  m.scalar(y + "_two", 2.f).scalar(y + "_eps", 1e-5f);
  m.node("ReduceMean", {x}, {y + "_m"}).ints("axes", axes);
  m.node("Sub", {x, y + "_m"}, {y + "_d"});
  if (use_pow) m.node("Pow", {y + "_d", y + "_two"}, {y + "_p"});
  else m.node("Mul", {y + "_d", y + "_d"}, {y + "_p"});
  m.node("ReduceMean", {y + "_p"}, {y + "_v"}).ints("axes", axes);
  m.node("Add", {y + "_v", y + "_eps"}, {y + "_e"});
  m.node("Sqrt", {y + "_e"}, {y + "_s"});
  std::string n = gamma.empty() && beta.empty() ? y : y + "_n";
  m.node("Div", {y + "_d", y + "_s"}, {n});
  if (!gamma.empty()) {
    std::string g = beta.empty() ? y : y + "_g";
    m.node("Mul", {n, gamma}, {g});
    n = g;
  }
  if (!beta.empty()) m.node("Add", {beta, n}, {y});
}

TEST(RecognizeLayerNorm, PaddleChainWithScaleAndBias) {
  Model m(13);
  m.input("x", {2, 5, 8}, -3.f, 3.f).weights("gamma", {8}).weights("beta", {1, 8});
  addLayerNormChain(m, "x", "y", {-1}, true, "gamma", "beta");
  m.output("y");
  check(m, {{"LayerNormalization", 1}});
}

TEST(RecognizeLayerNorm, TwoAxesWithoutScale) {
  Model m(13);
  m.input("x", {3, 4, 6}, -3.f, 3.f);
  addLayerNormChain(m, "x", "y", {1, 2}, false, "", "");
  m.output("y");
  check(m, {{"LayerNormalization", 1}});
}

TEST(RecognizeLayerNorm, NotOverLeadingAxesOrWithAReadIntermediate) {
  Model m(13);
  m.input("x", {3, 4, 6}, -3.f, 3.f);
  addLayerNormChain(m, "x", "y", {1}, true, "", "");  // not the trailing axes
  m.input("u", {3, 4, 6}, -3.f, 3.f);
  addLayerNormChain(m, "u", "z", {-1}, true, "", "");
  m.output("y").output("z").output("z_d");  // z's centred values are a graph output
  check(m, {{"ReduceMean", 4}, {"Sub", 2}, {"Pow", 2}, {"Add", 2}, {"Sqrt", 2}, {"Div", 2}}, 0.0);
}

// ---- remove_identities ----

TEST(RemoveIdentities, MulByOneIdentityAndDropout) {
  Model m(13);
  m.input("x", {2, 5}).scalar("one", 1.f).scalar("zero", 0.f);
  m.node("Mul", {"x", "one"}, {"a"});
  m.node("Identity", {"a"}, {"b"});
  m.node("Dropout", {"b"}, {"c"});
  m.node("Sub", {"c", "zero"}, {"d"});
  m.node("Tanh", {"d"}, {"y"});
  m.output("y");
  check(m, {{"Tanh", 1}}, 0.0);
}

TEST(RemoveIdentities, KeepsGraphOutputsAndRealScales) {
  Model m(13);
  m.input("x", {2, 5}).scalar("one", 1.f).scalar("two", 2.f).scalar("ones", 1.f, {1, 1, 1});
  m.node("Identity", {"x"}, {"y"});        // a graph output: stays
  m.node("Mul", {"x", "two"}, {"z"});      // not 1
  m.node("Mul", {"x", "ones"}, {"w"});     // raises the rank: not an identity
  m.node("Sigmoid", {"w"}, {"v"});
  m.output("y").output("z").output("v");
  check(m, {{"Identity", 1}, {"Mul", 2}, {"Sigmoid", 1}}, 0.0);
}

// ---- fuse_conv_activation ----

struct ActivationCase {
  const char* name;
  std::function<void(Model&, const std::string&, const std::string&)> add;  // x -> y
};

void addSwish(Model& m, const std::string& x, const std::string& y) {
  m.node("Sigmoid", {x}, {x + "_sig"});
  m.node("Mul", {x, x + "_sig"}, {y});
}

const ActivationCase kActivations[] = {
    {"Relu", [](Model& m, const std::string& x, const std::string& y) { m.node("Relu", {x}, {y}); }},
    {"LeakyRelu", [](Model& m, const std::string& x, const std::string& y) { m.node("LeakyRelu", {x}, {y}).f("alpha", 0.1f); }},
    {"Clip",
     [](Model& m, const std::string& x, const std::string& y) {
       m.scalar(y + "_lo", -0.5f).scalar(y + "_hi", 0.75f);
       m.node("Clip", {x, y + "_lo", y + "_hi"}, {y});
     }},
    {"HardSwish", [](Model& m, const std::string& x, const std::string& y) { m.node("HardSwish", {x}, {y}); }},
    {"HardSigmoid",
     [](Model& m, const std::string& x, const std::string& y) {
       m.node("HardSigmoid", {x}, {y}).f("alpha", 0.3f).f("beta", 0.4f);
     }},
    {"Sigmoid", [](Model& m, const std::string& x, const std::string& y) { m.node("Sigmoid", {x}, {y}); }},
    {"Swish", addSwish},
};

TEST(FuseConvActivation, EveryActivationIsExact) {
  for (const ActivationCase& a : kActivations) {
    SCOPED_TRACE(a.name);
    Model m(14);
    m.input("x", {2, 3, 6, 6}, -3.f, 3.f).weights("w", {4, 3, 3, 3}).weights("b", {4});
    m.node("Conv", {"x", "w", "b"}, {"c"}).ints("pads", {1, 1, 1, 1});
    a.add(m, "c", "y");
    m.output("y");
    check(m, {{"FusedConv", 1}}, 0.0);
  }
}

TEST(FuseConvActivation, ResidualAddThenRelu) {
  Model m;
  m.input("x", {2, 4, 5, 5}).input("z", {2, 4, 5, 5}).weights("w", {4, 4, 3, 3});
  m.node("Conv", {"x", "w"}, {"c"}).ints("pads", {1, 1, 1, 1});
  m.node("Add", {"z", "c"}, {"s"});
  m.node("Relu", {"s"}, {"y"});
  m.output("y");
  auto e = check(m, {{"FusedConv", 1}}, 0.0);
  ASSERT_TRUE(e);
  std::vector<LayerInfo> layers = e->layers();
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].name, "Conv_1 + Add_2 + Relu_3");
  EXPECT_EQ(layers[0].inputs.size(), 4u);  // X, W, no B, Z
}

TEST(FuseConvActivation, BroadcastResidualWithoutActivation) {
  Model m;
  m.input("x", {2, 4, 5, 5}).input("z", {1, 4, 1, 5}).weights("w", {4, 4, 1, 1});
  m.node("Conv", {"x", "w"}, {"c"});
  m.node("Add", {"c", "z"}, {"y"});
  m.output("y");
  check(m, {{"FusedConv", 1}}, 0.0);
}

TEST(FuseConvActivation, GemmAndMatMulEpilogues) {
  Model m;
  m.input("a", {3, 8}).weights("w", {5, 8}).weights("c", {5});
  m.node("Gemm", {"a", "w", "c"}, {"g"}).i("transB", 1).f("alpha", 0.5f);
  m.node("Relu", {"g"}, {"y"});
  // MatMul [2, 3, 8] x [8, 6] + bias + residual, then Swish written as x * Sigmoid(x * 1).
  m.input("p", {2, 3, 8}).input("r", {2, 3, 6}).weights("mw", {8, 6}).weights("mb", {1, 6}).scalar("one", 1.f);
  m.node("MatMul", {"p", "mw"}, {"mm"});
  m.node("Add", {"mm", "mb"}, {"mm1"});
  m.node("Add", {"r", "mm1"}, {"mm2"});
  m.node("Mul", {"mm2", "one"}, {"mm3"});
  m.node("Sigmoid", {"mm3"}, {"sg"});
  m.node("Mul", {"mm2", "sg"}, {"z"});
  m.output("y").output("z");
  check(m, {{"FusedGemm", 2}}, 0.0);
}

TEST(FuseConvActivation, NotWhenAnIntermediateIsReadOrIsAnOutput) {
  Model m;
  m.input("x", {1, 3, 4, 4}).weights("w", {2, 3, 1, 1}).weights("w2", {2, 3, 1, 1});
  m.node("Conv", {"x", "w"}, {"c"});
  m.node("Relu", {"c"}, {"y"});
  m.node("Sigmoid", {"c"}, {"s"});  // a second reader of the conv output
  m.node("Conv", {"x", "w2"}, {"d"});
  m.node("Relu", {"d"}, {"t"});
  m.output("y").output("s").output("t").output("d");  // d is a graph output
  check(m, {{"Conv", 2}, {"Relu", 2}, {"Sigmoid", 1}}, 0.0);
}

TEST(FuseConvActivation, LeavesQuantizedLayersToFoldQdq) {
  Model m(13);
  m.input("x", {1, 3, 4, 4}).weights("w", {2, 3, 1, 1}).scalar("s", 0.05f);
  m.node("QuantizeLinear", {"x", "s"}, {"xq"});
  m.node("DequantizeLinear", {"xq", "s"}, {"xd"});
  m.node("Conv", {"xd", "w"}, {"c"});
  m.node("Sigmoid", {"c"}, {"y"});  // Sigmoid: an activation foldQdq does not take
  m.output("y");
  auto net = m.parse();
  ASSERT_TRUE(net);
  auto e = build(*net, nullptr);
  ASSERT_TRUE(e);
  EXPECT_EQ(opCounts(*e).count("FusedConv"), 0u) << describe(opCounts(*e));
}

// ---- the pass manager ----

TEST(PassManager, UnknownPassNameIsAnError) {
  Model m;
  m.input("x", {2}).node("Relu", {"x"}, {"y"});
  m.output("y");
  auto net = m.parse();
  ASSERT_TRUE(net);
  DisablePasses guard("fold_batchnorm, no_such_pass");
  auto e = buildEngine(*net, BuilderConfig{});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().toString().find("QRT_DISABLE_PASSES: unknown pass 'no_such_pass'"), std::string::npos)
      << e.status().toString();
}

// ---- real models ----

// Compares every output of two engines run on the same inputs: 1e-4 of each output's largest
// magnitude. Returns false (with failures recorded) when they differ.
void compareModel(const Network& net, const std::map<std::string, Model::Feed>& feeds, const char* label) {
  std::map<std::string, Dims> shapes;
  for (const auto& [name, f] : feeds) shapes[name] = f.dims;
  auto optimized = build(net, nullptr, shapes);
  auto plain = build(net, kNoOptimization, shapes);
  ASSERT_TRUE(optimized && plain);
  std::vector<std::string> outs;
  for (const TensorInfo& t : net.outputs()) outs.push_back(t.name);
  auto a = run(*optimized, feeds, outs);
  auto b = run(*plain, feeds, outs);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LE(relativeError(a[i], b[i]), 1e-4) << label << " output " << outs[i];
  auto ops = opCounts(*optimized);
  EXPECT_EQ(ops.count("BatchNormalization"), 0u) << label << ": " << describe(ops);
  EXPECT_GT(ops["FusedConv"], 0) << label << ": " << describe(ops);
  std::printf("%s: %zu nodes in the model, %zu layers unoptimized (constants folded), %zu optimized: %s\n", label,
              net.layers().size(), plain->layers().size(), optimized->layers().size(), describe(ops).c_str());
}

std::string readGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

TEST(Models, FashionMnistBatchNormsFold) {
  const std::string model = test::sourcePath("models/fashion_mnist/model.onnx");
  // The first 64 test images (idx: 16-byte header, then 28x28 bytes each), normalized as
  // models/fashion_mnist/preprocess.json says.
  const std::string images = readGzip("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  if (images.size() < 16 + 64 * 784) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  Model::Feed x{{64, 1, 28, 28}, std::vector<float>(64 * 784)};
  for (size_t i = 0; i < x.values.size(); ++i)
    x.values[i] = (static_cast<uint8_t>(images[16 + i]) / 255.f - 0.2860405969887955f) / 0.35302424451492237f;
  auto net = parseOnnxFile(model);
  ASSERT_TRUE(net.ok()) << net.status().toString();
  compareModel(**net, {{"input", x}}, "fashion_mnist");
}

// PP-OCRv4 det and rec on the inputs tests/ocr/make_inputs.py makes from a real text image.
class OcrModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::makeTempDir("passes_ocr"));
    std::string cmd = "/usr/bin/python3 " + test::sourcePath("tests/ocr/make_inputs.py") + " " + *dir_ + " >/dev/null 2>&1";
    made_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void compare(const std::string& model, const std::string& input) {
    const std::string path = test::sourcePath("third_party/ocr-models/assets/" + model);
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (run scripts/fetch-npm-assets)";
    if (!made_) GTEST_SKIP() << "tests/ocr/make_inputs.py failed (needs Debian's python3-opencv and opencv-doc)";
    auto x = readNpy(*dir_ + "/" + input);
    ASSERT_TRUE(x.ok()) << x.status().toString();
    Model::Feed feed{x->dims(), std::vector<float>(x->as<float>(), x->as<float>() + x->numel())};
    auto net = parseOnnxFile(path);
    ASSERT_TRUE(net.ok()) << net.status().toString();
    compareModel(**net, {{"x", feed}}, model.c_str());
  }

  static std::string* dir_;
  static bool made_;
};
std::string* OcrModels::dir_ = nullptr;
bool OcrModels::made_ = false;

TEST_F(OcrModels, Detection) { compare("ch_PP-OCRv4_det_infer.onnx", "det_x.npy"); }
TEST_F(OcrModels, Recognition) { compare("ch_PP-OCRv4_rec_infer.onnx", "rec_x.npy"); }

}  // namespace
}  // namespace qrt
