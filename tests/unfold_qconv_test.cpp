// passes::unfoldFewChannelQConvs (the CUDA builder's INT8 stems in float) run on the IR directly,
// on the CPU: the rewritten nodes, and the rewritten graph's results on the reference backend
// against two independent computations of the same model:
//  - the QDQ graph's float simulation (Q/DQ kept, nothing folded). With x on the quantization
//    grid (x = k * x_scale), DQ(Q(x)) is x and the unfolded layer computes exactly what the
//    simulation does, with the same reference Conv: its int8 output must match bit for bit, and
//    the rest of the network (QConvs in both, or float-simulated) within float rounding;
//  - the float model (no Q/DQ on activations; weights the dequantized ones). With x anywhere,
//    the unfolded engine's only error is the requantization of the stem's output (at most
//    y_scale / 2 per element, times sum |w2| through the next convolution), and it must be
//    smaller on average than the all-INT8 engine's, which also quantizes x (the unfolded layer
//    reads x unquantized: a precision increase).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "builder/finalize.h"
#include "core/json_reader.h"
#include "core/tensor.h"
#include "int8_test_util.h"
#include "ir/graph.h"
#include "model_builder.h"
#include "ops/op.h"
#include "passes/fuse_qdq.h"
#include "passes/pass_manager.h"
#include "passes/unfold_qconv.h"
#include "qrt/qrt.h"
#include "runtime/engine_impl.h"
#ifdef QRT_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace qrt {
namespace {

constexpr float kXScale = 2.f / 255;  // |x| <= 1 in every case

std::mt19937& rng() {
  static std::mt19937 r(20261127);
  return r;
}

std::vector<float> uniform(int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng());
  return v;
}

std::vector<int8_t> int8s(int64_t n) {
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (int8_t& x : v) x = static_cast<int8_t>(d(rng()));
  return v;
}

// One quantized convolution layer's constants (weights int8 per output channel, bias).
struct Layer {
  Dims w;  // [M, C, kh, kw]
  std::vector<int8_t> wq;
  std::vector<float> ws, bias;
  std::vector<float> dequantized() const {  // w_q * w_scale[m], one fp32 product each
    std::vector<float> d(wq.size());
    const size_t per = wq.size() / static_cast<size_t>(w[0]);
    for (size_t i = 0; i < wq.size(); ++i) d[i] = static_cast<float>(wq[i]) * ws[i / per];
    return d;
  }
};

// The stem's output scale: its largest possible |output| for |x| <= 1, over 127, so that the
// requantization never saturates and its error is at most half a step.
float yScaleOf(const Layer& l) {
  const std::vector<float> w = l.dequantized();
  const size_t per = w.size() / l.bias.size();
  double range = 0;
  for (size_t m = 0; m < l.bias.size(); ++m) {
    double sum = std::fabs(l.bias[m]);
    for (size_t k = 0; k < per; ++k) sum += std::fabs(w[m * per + k]);
    range = std::max(range, sum);
  }
  return static_cast<float>(range / 127);
}

Layer randomLayer(Dims w) {
  Layer l;
  l.w = w;
  l.wq = int8s(volume(w));
  l.ws = uniform(w[0], 0.002f, 0.006f);
  l.bias = uniform(w[0], -0.3f, 0.3f);
  return l;
}

// What the test model looks like.
struct Options {
  int64_t channels = 3;       // the stem's input channels
  std::string act = "Relu";   // "", "Relu" or "Clip" after the stem
  bool requantize = true;     // Q/DQ after the stem (int8 output), then a second 8-channel QConv
  bool xq_output = false;     // Q(x) is also a graph output (the Q must stay for it)
  bool int8_input = false;    // the graph input is x_q itself (no Q to read through)
  bool qdq = true;            // false: the float model (no Q/DQ on activations)
};

class Model {
 public:
  Model(const Options& o, const Layer& l1, const Layer& l2) {
    m_.set_ir_version(8);
    auto* os = m_.add_opset_import();
    os->set_domain("");
    os->set_version(13);
    auto* g = m_.mutable_graph();
    g->set_name("unfold_qconv_test");
    const Dims x{2, o.channels, 16, 16};
    input(o.int8_input ? "Xq" : "X", x, o.int8_input ? DataType::kInt8 : DataType::kFloat);
    scalar("sx", kXScale);
    int8Scalar("z");
    std::string cur = "X";
    if (o.qdq) {
      if (!o.int8_input) node("QuantizeLinear", {"X", "sx", "z"}, "Xq");
      node("DequantizeLinear", {"Xq", "sx", "z"}, "Xd");
      cur = "Xd";
    }
    cur = conv(o, "1", l1, cur, {2, 2}, {1, 1, 1, 1});
    if (o.act == "Relu") {
      node("Relu", {cur}, "A1");
      cur = "A1";
    } else if (o.act == "Clip") {
      scalar("lo", -0.25f);
      scalar("hi", 0.5f);
      node("Clip", {cur, "lo", "hi"}, "A1");
      cur = "A1";
    }
    if (o.requantize) {
      if (o.qdq) {
        scalar("sy", yScaleOf(l1));
        node("QuantizeLinear", {cur, "sy", "z"}, "Y1q");
        node("DequantizeLinear", {"Y1q", "sy", "z"}, "Y1d");
        cur = "Y1d";
        output("Y1q", DataType::kInt8);
      } else {
        output(cur, DataType::kFloat);  // the stem's float output
      }
      cur = conv(o, "2", l2, cur, {1, 1}, {1, 1, 1, 1});
    }
    node("Identity", {cur}, "Y");
    output("Y", DataType::kFloat);
    if (o.xq_output && o.qdq) output("Xq", DataType::kInt8);
  }

  std::unique_ptr<Network> parse() const {
    std::string bytes;
    EXPECT_TRUE(m_.SerializeToString(&bytes));
    auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
    EXPECT_TRUE(net.ok()) << net.status().toString();
    return net.ok() ? std::move(net).value() : nullptr;
  }

 private:
  // Conv over `in` with the layer's weights: DQ(int8, per channel) in the QDQ model, the same
  // dequantized values as an fp32 initializer in the float model. Returns the output's name.
  std::string conv(const Options& o, const std::string& id, const Layer& l, const std::string& in,
                   const std::vector<int64_t>& strides, const std::vector<int64_t>& pads) {
    std::string w = "W" + id;
    if (o.qdq) {
      initializer("W" + id + "q", l.w, DataType::kInt8, l.wq.data(), l.wq.size());
      initializer("sw" + id, {l.w[0]}, DataType::kFloat, l.ws.data(), l.ws.size() * 4);
      std::vector<int8_t> zeros(static_cast<size_t>(l.w[0]), 0);
      initializer("zw" + id, {l.w[0]}, DataType::kInt8, zeros.data(), zeros.size());
      auto& dq = node("DequantizeLinear", {"W" + id + "q", "sw" + id, "zw" + id}, w);
      attrInt(dq, "axis", 0);
    } else {
      std::vector<float> d = l.dequantized();
      initializer(w, l.w, DataType::kFloat, d.data(), d.size() * 4);
    }
    initializer("b" + id, {l.w[0]}, DataType::kFloat, l.bias.data(), l.bias.size() * 4);
    auto& c = node("Conv", {in, w, "b" + id}, "C" + id);
    c.set_name("conv" + id);
    attrInts(c, "strides", strides);
    attrInts(c, "pads", pads);
    return "C" + id;
  }
  void input(const std::string& name, const Dims& dims, DataType t) {
    auto* vi = m_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(t));
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void output(const std::string& name, DataType t) {
    auto* vi = m_.mutable_graph()->add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(t));
  }
  void initializer(const std::string& name, const Dims& dims, DataType t, const void* data, size_t bytes) {
    auto* init = m_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(static_cast<int>(t));
    for (int64_t d : dims) init->add_dims(d);
    init->set_raw_data(data, bytes);
  }
  void scalar(const std::string& name, float v) { initializer(name, {}, DataType::kFloat, &v, 4); }
  void int8Scalar(const std::string& name) {
    int8_t z = 0;
    initializer(name, {}, DataType::kInt8, &z, 1);
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& ins, const std::string& out) {
    auto* n = m_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + out);
    for (const auto& i : ins) n->add_input(i);
    n->add_output(out);
    return *n;
  }
  static void attrInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attrInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  onnx::ModelProto m_;
};

enum class Steps { kSimulated, kFolded, kUnfolded };

// The builder's graph steps for a CPU build: simplified, then (folded) Q/DQ folded into QConvs,
// (unfolded) the pass under test after that, then the float fusions; finalized on the
// reference backend. `report` receives the pass's report, `graph_out` a copy of the graph.
std::shared_ptr<Engine> engineOf(const Network& net, Steps steps, passes::UnfoldReport* report = nullptr) {
  auto g = net.graph().clone();
  EXPECT_TRUE(passes::runSimplifyPasses(*g).ok());
  if (steps != Steps::kSimulated) {
    Status s = passes::foldQdq(*g);
    EXPECT_TRUE(s.ok()) << s.toString();
  }
  if (steps == Steps::kUnfolded) {
    Status s = passes::unfoldFewChannelQConvs(*g, report);
    EXPECT_TRUE(s.ok()) << s.toString();
  }
  EXPECT_TRUE(passes::runFusionPasses(*g).ok());
  test::BackendEnv reference("reference");
  auto e = finalizeEngine(std::move(g), {});
  EXPECT_TRUE(e.ok()) << e.status().toString();
  return e.ok() ? *e : nullptr;
}

using Tensors = std::map<std::string, HostTensor>;

Tensors run(const Engine& engine, const Tensors& inputs) {
  auto ctx = engine.createExecutionContext();
  EXPECT_TRUE(ctx.ok()) << ctx.status().toString();
  if (!ctx.ok()) return {};
  return test::enqueueOnHost(engine, **ctx, inputs, 0x7B);  // poisoned outputs
}

// x on the quantization grid (k * x_scale, |k| <= 127): DQ(Q(x)) == x.
HostTensor gridInput(const Dims& dims) {
  HostTensor t(DataType::kFloat, dims);
  std::uniform_int_distribution<int> d(-127, 127);
  for (int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = static_cast<float>(d(rng())) * kXScale;
  return t;
}

const ir::Node* onlyNode(const Engine& e, const std::string& op) {
  const ir::Node* found = nullptr;
  int count = 0;
  for (const auto& n : e.impl().graph->nodes())
    if (n->op_type == op) {
      found = n.get();
      ++count;
    }
  EXPECT_EQ(count, 1) << "expected one " << op;
  return count == 1 ? found : nullptr;
}

int countOps(const Engine& e, const std::string& op) {
  int n = 0;
  for (const auto& node : e.impl().graph->nodes()) n += node->op_type == op;
  return n;
}

void expectEqualBytes(const HostTensor& a, const HostTensor& b, const std::string& what) {
  ASSERT_EQ(a.dims(), b.dims()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  int64_t differ = 0;
  const size_t es = dataTypeSize(a.dtype());
  for (int64_t i = 0; i < a.numel(); ++i)
    differ += std::memcmp(static_cast<const char*>(a.data()) + i * es, static_cast<const char*>(b.data()) + i * es, es) != 0;
  EXPECT_EQ(differ, 0) << what << ": " << differ << " of " << a.numel() << " elements differ";
}

double maxAbs(const HostTensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(static_cast<double>(t.as<float>()[i])));
  return m;
}

TEST(UnfoldQConv, StemBecomesAFloatConvolution) {
  const Layer l1 = randomLayer({8, 3, 3, 3}), l2 = randomLayer({16, 8, 3, 3});
  Options o;
  auto qdq = Model(o, l1, l2).parse();
  Options f = o;
  f.qdq = false;
  auto flt = Model(f, l1, l2).parse();
  ASSERT_TRUE(qdq && flt);

  passes::UnfoldReport report;
  auto unfolded = engineOf(*qdq, Steps::kUnfolded, &report);
  auto folded = engineOf(*qdq, Steps::kFolded);
  auto simulated = engineOf(*qdq, Steps::kSimulated);
  auto reference = engineOf(*flt, Steps::kSimulated);
  ASSERT_TRUE(unfolded && folded && simulated && reference);

  // The nodes: conv1 is a float FusedConv (relu) reading X itself and the dequantized weights,
  // then a QuantizeLinear to int8 with y_scale; conv2 (8 channels) stays a QConv.
  EXPECT_EQ(report.layers, std::vector<std::string>{"conv1"});
  ASSERT_EQ(report.quantizes.size(), 1u);
  EXPECT_EQ(countOps(*folded, "QConv"), 2);
  EXPECT_EQ(countOps(*unfolded, "QConv"), 1);
  const ir::Node* conv = onlyNode(*unfolded, "FusedConv");
  const ir::Node* q = onlyNode(*unfolded, "QuantizeLinear");
  ASSERT_TRUE(conv && q);
  EXPECT_EQ(conv->name, "conv1");
  EXPECT_EQ(conv->domain, kQrtDomain);
  EXPECT_EQ(conv->attrString("activation", ""), "relu");
  EXPECT_EQ(conv->attrInts("strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(conv->attrInts("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  ASSERT_EQ(conv->inputs.size(), 3u);
  EXPECT_EQ(conv->inputs[0]->name, "X");
  EXPECT_TRUE(conv->inputs[0]->is_graph_input);
  ASSERT_TRUE(conv->inputs[1]->isConstant());
  ASSERT_EQ(conv->inputs[1]->dtype, DataType::kFloat);
  const std::vector<float> w = l1.dequantized();
  EXPECT_EQ(std::memcmp(conv->inputs[1]->constant->data(), w.data(), w.size() * 4), 0) << "weights != w_q * w_scale";
  EXPECT_EQ(conv->inputs[2]->name, "b1");
  EXPECT_EQ(conv->precision, Precision::kFP32);
  EXPECT_EQ(q->name, report.quantizes[0]);
  EXPECT_EQ(q->inputs[0], conv->outputs[0]);
  ASSERT_TRUE(q->hasInput(2));
  const float sy = yScaleOf(l1);
  EXPECT_EQ(q->inputs[1]->constant->as<float>()[0], sy);
  EXPECT_EQ(q->inputs[2]->dtype, DataType::kInt8);
  EXPECT_EQ(q->outputs[0]->name, "Y1q");
  EXPECT_EQ(q->precision, Precision::kINT8);
  for (const LayerInfo& l : unfolded->layers())
    if (l.name == "conv1") EXPECT_EQ(l.precision, "fp32");

  // On the grid: the stem's int8 output bit for bit as the QDQ simulation's, the rest within
  // float rounding (QConv's integer sum against the simulation's float one).
  for (int r = 0; r < 2; ++r) {
    Tensors in{{"X", gridInput({2, 3, 16, 16})}};
    Tensors u = run(*unfolded, in), s = run(*simulated, in);
    expectEqualBytes(u["Y1q"], s["Y1q"], "Y1q (the stem's int8 output)");
    const double tol = 1e-5 * maxAbs(s["Y"]);
    for (int64_t i = 0; i < s["Y"].numel(); ++i)
      ASSERT_NEAR(u["Y"].as<float>()[i], s["Y"].as<float>()[i], tol) << "Y element " << i;
  }

  // Anywhere: the stem's int8 output is the float model's stem output quantized (the same
  // reference convolution on the same x and weights, then x / y_scale rounded half to even),
  // where the all-INT8 engine's, which read x quantized, is not; the network's output is within
  // the requantization bound of the float model's.
  Tensors in{{"X", HostTensor::fromFloat(uniform(2 * 3 * 16 * 16, -1.f, 1.f), {2, 3, 16, 16})}};
  Tensors u = run(*unfolded, in), a = run(*folded, in), want = run(*reference, in);
  const HostTensor& a1 = want["A1"];
  ASSERT_EQ(a1.numel(), u["Y1q"].numel());
  int64_t int8_differs = 0;
  for (int64_t i = 0; i < a1.numel(); ++i) {
    const float qf = std::nearbyint(a1.as<float>()[i] / sy);  // round half to even (default mode)
    const int8_t expect = static_cast<int8_t>(std::max(-128.f, std::min(127.f, qf)));
    ASSERT_EQ(u["Y1q"].as<int8_t>()[i], expect) << "Y1q element " << i << " (float " << a1.as<float>()[i] << ")";
    int8_differs += a["Y1q"].as<int8_t>()[i] != expect;
  }
  EXPECT_GT(int8_differs, 0) << "the all-INT8 engine should differ where x's quantization moves the stem's output";
  const HostTensor& y = want["Y"];
  const int64_t per_channel = y.numel() / y.dims()[0] / y.dims()[1];
  const size_t w2_per = l2.wq.size() / 16;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const size_t m = static_cast<size_t>(i / per_channel % 16);
    double sum_w = 0;
    for (size_t k = 0; k < w2_per; ++k) sum_w += std::fabs(l2.wq[m * w2_per + k] * static_cast<double>(l2.ws[m]));
    const double bound = sy / 2 * sum_w * 1.001 + 1e-5;
    const double e = std::fabs(static_cast<double>(u["Y"].as<float>()[i]) - y.as<float>()[i]);
    ASSERT_LE(e, bound) << "Y element " << i;
  }
}

// Variants: no activation and a float output (FusedConv with activation none, no Q after it); Clip with Q(x) also
// a graph output (that Q stays); an int8 graph input (x_q dequantized before the conv); one
// input channel and four.
TEST(UnfoldQConv, Variants) {
  struct Case {
    std::string name;
    Options o;
  };
  std::vector<Case> cases;
  {
    Options o;
    o.act = "";
    o.requantize = false;
    cases.push_back({"no activation, float output", o});
  }
  {
    Options o;
    o.act = "Clip";
    o.xq_output = true;
    cases.push_back({"clip, Q(x) also a graph output", o});
  }
  {
    Options o;
    o.int8_input = true;
    o.channels = 1;
    cases.push_back({"int8 graph input, one channel", o});
  }
  {
    Options o;
    o.channels = 4;
    o.act = "";
    cases.push_back({"four channels", o});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Layer l1 = randomLayer({8, c.o.channels, 3, 3}), l2 = randomLayer({16, 8, 3, 3});
    auto net = Model(c.o, l1, l2).parse();
    ASSERT_TRUE(net);
    passes::UnfoldReport report;
    auto unfolded = engineOf(*net, Steps::kUnfolded, &report);
    auto simulated = engineOf(*net, Steps::kSimulated);
    ASSERT_TRUE(unfolded && simulated);
    EXPECT_EQ(report.layers, std::vector<std::string>{"conv1"});
    EXPECT_EQ(report.quantizes.size(), c.o.requantize ? 1u : 0u);
    EXPECT_EQ(countOps(*unfolded, "QConv"), c.o.requantize ? 1 : 0);
    const ir::Node* conv = onlyNode(*unfolded, "FusedConv");
    ASSERT_TRUE(conv);
    EXPECT_EQ(conv->name, "conv1");
    EXPECT_EQ(countOps(*unfolded, "Conv"), 0);
    if (c.o.act.empty()) EXPECT_EQ(conv->attrString("activation", ""), "none");
    if (c.o.act == "Clip") {
      EXPECT_EQ(conv->attrString("activation", ""), "clip");
      EXPECT_EQ(conv->attrFloat("clip_min", 0), -0.25f);
      EXPECT_EQ(conv->attrFloat("clip_max", 0), 0.5f);
    }
    if (c.o.int8_input) {
      const ir::Node* dq = onlyNode(*unfolded, "DequantizeLinear");
      ASSERT_TRUE(dq);
      EXPECT_EQ(dq->inputs[0]->name, "Xq");
      EXPECT_EQ(conv->inputs[0], dq->outputs[0]);
    } else {
      EXPECT_EQ(conv->inputs[0]->name, "X");
      // Q(x) stays only for its other reader, the graph output.
      EXPECT_EQ(countOps(*unfolded, "QuantizeLinear"), (c.o.requantize ? 1 : 0) + (c.o.xq_output ? 1 : 0));
    }
    const Dims x{2, c.o.channels, 16, 16};
    Tensors in;
    if (c.o.int8_input) {
      HostTensor t(DataType::kInt8, x);
      std::vector<int8_t> v = int8s(volume(x));
      std::memcpy(t.data(), v.data(), v.size());
      in["Xq"] = t;
    } else {
      in["X"] = gridInput(x);
    }
    Tensors got_all = run(*unfolded, in);
    for (const auto& [name, want] : run(*simulated, in)) {
      const HostTensor& got = got_all[name];
      if (name == "Y" && c.o.requantize) {
        const double tol = 1e-5 * maxAbs(want);
        for (int64_t i = 0; i < want.numel(); ++i)
          ASSERT_NEAR(got.as<float>()[i], want.as<float>()[i], tol) << name << " element " << i;
      } else {  // the stem's own output (float or int8) and Q(x): the simulation's, bit for bit
        expectEqualBytes(got, want, name);
      }
    }
  }
}

// Not a stem: 8 input channels stay INT8.
TEST(UnfoldQConv, LeavesWiderConvolutions) {
  Options o;
  o.channels = 8;
  const Layer l1 = randomLayer({8, 8, 3, 3}), l2 = randomLayer({16, 8, 3, 3});
  auto net = Model(o, l1, l2).parse();
  ASSERT_TRUE(net);
  passes::UnfoldReport report;
  auto e = engineOf(*net, Steps::kUnfolded, &report);
  ASSERT_TRUE(e);
  EXPECT_TRUE(report.layers.empty());
  EXPECT_EQ(countOps(*e, "QConv"), 2);
  EXPECT_EQ(countOps(*e, "FusedConv") + countOps(*e, "Conv"), 0);
}

// A stem QConv with the affine after its hard swish (post_scale / post_shift, passes/fuse_qdq.h)
// stays: a FusedConv has no place for it.
TEST(UnfoldQConv, LeavesAStemWithAnAffineAfterItsActivation) {
  const Layer l1 = randomLayer({8, 3, 3, 3}), l2 = randomLayer({16, 8, 3, 3});
  Options o;
  auto net = Model(o, l1, l2).parse();
  ASSERT_TRUE(net);
  auto g = net->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  ASSERT_TRUE(passes::foldQdq(*g).ok());
  int stems = 0;
  for (const auto& n : g->nodes())
    if (n->op_type == "QConv" && n->name == "conv1") {
      n->attrs["activation"] = ir::Attribute::String("hard_swish");
      n->attrs["post_scale"] = ir::Attribute::Float(0.8f);
      ++stems;
    }
  ASSERT_EQ(stems, 1);
  passes::UnfoldReport report;
  ASSERT_TRUE(passes::unfoldFewChannelQConvs(*g, &report).ok());
  EXPECT_TRUE(report.layers.empty());
  int qconvs = 0;
  for (const auto& n : g->nodes()) qconvs += n->op_type == "QConv";
  EXPECT_EQ(qconvs, 2);
}

#ifdef QRT_HAVE_CUDA
// The CUDA builder's steps around the pass (backends/cuda/int8_stems.cpp) need no GPU: unfolded
// before convertToHalf, the stem is fp16 and its QuantizeLinear reads the fp16 output (the Cast
// convertToHalf put there is gone); the reason is in layer_tactics; QRT_CUDA_INT8_STEM=int8 keeps
// the QConv and another value is refused.
TEST(UnfoldQConv, CudaBuilderSteps) {
  const Layer l1 = randomLayer({8, 3, 3, 3}), l2 = randomLayer({16, 8, 3, 3});
  auto net = Model(Options{}, l1, l2).parse();
  ASSERT_TRUE(net);
  auto folded = [&] {
    auto g = net->graph().clone();
    EXPECT_TRUE(passes::runSimplifyPasses(*g).ok());
    EXPECT_TRUE(passes::foldQdq(*g).ok());
    EXPECT_TRUE(passes::runFusionPasses(*g).ok());
    return g;
  };
  auto g = folded();
  passes::UnfoldReport report;
  ASSERT_TRUE(cuda::unfoldInt8Stems(*g, &report).ok());
  ASSERT_EQ(report.layers, std::vector<std::string>{"conv1"});
  int half = 0;
  ASSERT_TRUE(cuda::convertToHalf(*g, &half).ok());
  std::map<std::string, std::string> metadata;
  Status s = cuda::finishInt8Stems(*g, report, metadata);
  ASSERT_TRUE(s.ok()) << s.toString();
  const ir::Node* conv = nullptr;
  const ir::Node* q = nullptr;
  for (const auto& n : g->nodes()) {
    if (n->name == "conv1") conv = n.get();
    if (n->name == report.quantizes[0]) q = n.get();
  }
  ASSERT_TRUE(conv && q);
  EXPECT_EQ(conv->op_type, "FusedConv");
  EXPECT_EQ(conv->inputs[0]->dtype, DataType::kHalf);
  EXPECT_EQ(q->inputs[0], conv->outputs[0]) << "the QuantizeLinear should read the fp16 convolution directly";
  EXPECT_EQ(q->inputs[0]->dtype, DataType::kHalf);
  EXPECT_EQ(q->inputs[1]->dtype, DataType::kFloat) << "the scale stays fp32";
  for (const auto& n : g->nodes())
    if (n->op_type == "Cast") EXPECT_NE(n->inputs[0], conv->outputs[0]) << n->name << " casts the stem's output";
  // The layout step: the fp16 stem is channels-last like any FP16 convolution, and its
  // QuantizeLinear follows it (no layout change between them).
  int nhwc = 0, changes = 0;
  ASSERT_TRUE(cuda::assignChannelsLast(*g, &nhwc, &changes).ok());
  EXPECT_EQ(conv->attrInt("qrt_nhwc", 0), 1);
  EXPECT_EQ(q->attrInt("qrt_nhwc", 0), 1);
  EXPECT_EQ(q->inputs[0], conv->outputs[0]);
  auto doc = parseJson(metadata["layer_tactics"]);
  ASSERT_TRUE(doc.ok()) << metadata["layer_tactics"];
  const JsonValue* entry = doc->find("conv1");
  ASSERT_TRUE(entry && entry->find("reason"));
  EXPECT_EQ(entry->find("reason")->asString().rfind("INT8 layer run in fp16", 0), 0u) << entry->find("reason")->asString();

  setenv("QRT_CUDA_INT8_STEM", "int8", 1);
  auto kept = folded();
  passes::UnfoldReport none;
  EXPECT_TRUE(cuda::unfoldInt8Stems(*kept, &none).ok());
  EXPECT_TRUE(none.layers.empty());
  int qconvs = 0;
  for (const auto& n : kept->nodes()) qconvs += n->op_type == "QConv";
  EXPECT_EQ(qconvs, 2);
  setenv("QRT_CUDA_INT8_STEM", "yes", 1);
  s = cuda::unfoldInt8Stems(*kept, &none);
  unsetenv("QRT_CUDA_INT8_STEM");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("QRT_CUDA_INT8_STEM='yes'"), std::string::npos) << s.message();
}
#endif

}  // namespace
}  // namespace qrt
