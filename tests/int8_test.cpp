// Explicit INT8: Q/DQ insertion (insertQdq), their folding into integer kernels (foldQdq), the
// integer reference kernels, and an end-to-end check on the Fashion-MNIST classifier.
//
// The central comparison runs one graph two ways, both through the real runtime: with the Q/DQ
// nodes as inserted (float-simulated: DQ -> float Conv -> Q), and folded into QConv / QGemm /
// QMatMul (int8 x int8 -> int32, one rescale). Both compute the same mathematical value
//     y = sum(x_q * w_q) * x_scale * w_scale[oc] + bias[oc]
// from the same int8 operands; they differ only in float rounding. The float path rounds each
// dequantized operand and product (3 roundings per term) and sums depth + 1 terms in float,
// so its error is at most (depth + 3) * u * S, u = 2^-24, S = sum |terms| + |bias|; the integer
// path sums exactly (|acc| < 2^24 here) and rounds 3 times: at most 3u * S. Since |x_q| <= 128,
//     S <= x_scale * w_scale[oc] * 128 * sum|w_q[oc]| + |bias[oc]|,
// so outputs must agree within (depth + 8) * 2^-23 * that (a factor 2 of slack). Relu and Clip
// are 1-Lipschitz, so the bound holds after them. Where the pattern requantizes, the int8
// outputs round values that differ by far less than one step: they may differ by at most 1
// (and nearly all must be equal). A wrong tap, stride, pad or scale shows up as an error of
// order x_scale * w_scale * 128 * 127, thousands of times the bound.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "builder/finalize.h"
#include "core/tensor.h"
#include "int8_test_util.h"
#include "ir/graph.h"
#include "passes/channels_last.h"
#include "passes/fuse_qdq.h"
#include "passes/infer_shapes.h"
#include "passes/insert_qdq.h"
#include "passes/pass_manager.h"
#include "qrt/qrt.h"
#include "runtime/context_access.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

namespace qrt {
namespace {

// ---- ONNX models -----------------------------------------------------------------------------

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 13) {
    model_.set_ir_version(8);
    auto* os = model_.add_opset_import();
    os->set_domain("");
    os->set_version(opset);
    model_.mutable_graph()->set_name("int8_test");
  }

  void input(const std::string& name, const Dims& dims, int elem_type = onnx::TensorProto::FLOAT) {
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    auto* shape = tt->mutable_shape();  // present even for a scalar (rank 0 is a known shape)
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
  }

  void output(const std::string& name, int elem_type = onnx::TensorProto::FLOAT) {
    auto* vi = model_.mutable_graph()->add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(elem_type);
  }

  void floats(const std::string& name, const std::vector<float>& v, const Dims& dims) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float f : v) t->add_float_data(f);
  }

  void int8s(const std::string& name, const std::vector<int8_t>& v, const Dims& dims) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT8);
    for (int64_t d : dims) t->add_dims(d);
    for (int8_t x : v) t->add_int32_data(x);
  }

  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(model_.graph().node_size()));
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return *n;
  }

  std::unique_ptr<Network> parse() const {
    std::string bytes;
    EXPECT_TRUE(model_.SerializeToString(&bytes));
    auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
    EXPECT_TRUE(net.ok()) << net.status().toString();
    return net.ok() ? std::move(net).value() : nullptr;
  }

 private:
  onnx::ModelProto model_;
};

void setInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void setInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void setFloat(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

std::vector<float> randomFloats(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// ---- engines and runs ------------------------------------------------------------------------

using Tensors = std::map<std::string, HostTensor>;

// The builder's steps with folding optional, so that both forms can run side by side: the
// graph simplified, Q/DQ inserted from `scales` (when given), folded when `fold`, then the float
// fusion passes (which leave DQ-fed layers alone).
std::shared_ptr<Engine> int8Engine(const Network& net, const std::map<std::string, float>& scales, bool fold,
                                   passes::QdqReport* qdq_report = nullptr, passes::FoldReport* fold_report = nullptr) {
  auto g = net.graph().clone();
  Status s = passes::runSimplifyPasses(*g);
  EXPECT_TRUE(s.ok()) << s.toString();
  if (!scales.empty()) {
    s = passes::insertQdq(*g, scales, passes::QdqOptions{}, qdq_report);
    EXPECT_TRUE(s.ok()) << s.toString();
    s = passes::inferShapes(*g);
    EXPECT_TRUE(s.ok()) << s.toString();
  }
  if (fold) {
    s = passes::foldQdq(*g, fold_report);
    EXPECT_TRUE(s.ok()) << s.toString();
  }
  s = passes::runFusionPasses(*g);
  EXPECT_TRUE(s.ok()) << s.toString();
  auto e = finalizeEngine(std::move(g), {});
  EXPECT_TRUE(e.ok()) << e.status().toString();
  return e.ok() ? *e : nullptr;
}

// Runs the engine once. `observed` (optional) receives a copy of every activation by name.
Tensors run(const Engine& engine, const Tensors& inputs, Tensors* observed = nullptr) {
  auto ctx = engine.createExecutionContext();
  EXPECT_TRUE(ctx.ok()) << ctx.status().toString();
  if (!ctx.ok()) return {};
  if (observed)
    internal::ContextAccess::setObserver(**ctx, [observed](const ir::Value& v, const TensorView& view) {
      HostTensor t(view.dtype, view.dims);
      std::memcpy(t.data(), view.data, view.bytes());
      // The cpu backend stores 4-D activations of its channels-last regions NHWC (the dims stay
      // NCHW): observe them in NCHW order, as the unfolded engine's plain ones.
      if (v.producer && passes::storedNhwc(*v.producer) && passes::isActivation4d(&v)) {
        const Dims& d = view.dims;
        const size_t es = dataTypeSize(view.dtype);
        const int64_t hw = d[2] * d[3];
        auto* dst = static_cast<unsigned char*>(t.data());
        const auto* src = static_cast<const unsigned char*>(view.data);
        for (int64_t n = 0; n < d[0]; ++n)
          for (int64_t c = 0; c < d[1]; ++c)
            for (int64_t p = 0; p < hw; ++p)
              std::memcpy(dst + ((n * d[1] + c) * hw + p) * es, src + ((n * hw + p) * d[1] + c) * es, es);
      }
      (*observed)[v.name] = std::move(t);
    });
  return test::enqueueOnHost(engine, **ctx, inputs);
}

// The FP32 engine that calibration runs: the graph simplified but not fused, so that every
// tensor insertQdq may look for is computed (and seen by an observer).
std::shared_ptr<Engine> calibrationEngine(const Network& net) {
  auto g = net.graph().clone();
  Status s = passes::runSimplifyPasses(*g);
  EXPECT_TRUE(s.ok()) << s.toString();
  auto e = finalizeEngine(std::move(g), {});
  EXPECT_TRUE(e.ok()) << e.status().toString();
  return e.ok() ? *e : nullptr;
}

// Scales (max |x| / 127) of every fp32 activation, from one FP32 run over `inputs`.
std::map<std::string, float> maxAbsScales(const Network& net, const Tensors& inputs) {
  auto engine = calibrationEngine(net);
  if (!engine) return {};
  Tensors seen;
  run(*engine, inputs, &seen);
  std::map<std::string, float> scales;
  for (const auto& [name, t] : seen) {
    if (t.dtype() != DataType::kFloat) continue;
    float amax = 0.f;
    for (int64_t i = 0; i < t.numel(); ++i) amax = std::max(amax, std::fabs(t.as<float>()[i]));
    scales[name] = amax > 0.f ? amax / 127.f : 1.f;
  }
  return scales;
}

int countOps(const Engine& e, const std::string& op) {
  int n = 0;
  for (const LayerInfo& l : e.layers()) n += l.op == op;
  return n;
}

HostTensor floatTensor(const std::vector<float>& v, const Dims& dims) { return HostTensor::fromFloat(v, dims); }

// Symmetric per-channel int8 quantization as the tests expect it (scale = max|w| / 127, ties
// to even), computed here independently of the pass: q for each weight, and per channel
// sum |q| and the scale.
struct QuantizedWeight {
  std::vector<float> scale;
  std::vector<double> abs_sum;  // sum over the channel of |q|
  std::vector<int8_t> q;
};
QuantizedWeight quantizePerChannel(const std::vector<float>& w, const Dims& dims, int64_t axis) {
  int64_t channels = dims[static_cast<size_t>(axis)], inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
  QuantizedWeight r;
  r.scale.assign(static_cast<size_t>(channels), 0.f);
  r.abs_sum.assign(static_cast<size_t>(channels), 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    size_t c = static_cast<size_t>(static_cast<int64_t>(i) / inner % channels);
    r.scale[c] = std::max(r.scale[c], std::fabs(w[i]));
  }
  for (float& s : r.scale) s = s > 0.f ? s / 127.f : 1.f;
  for (size_t i = 0; i < w.size(); ++i) {
    size_t c = static_cast<size_t>(static_cast<int64_t>(i) / inner % channels);
    float q = std::clamp(std::nearbyint(w[i] / r.scale[c]), -128.f, 127.f);
    r.q.push_back(static_cast<int8_t>(q));
    r.abs_sum[c] += std::fabs(q);
  }
  return r;
}

// Checks |a - b| <= bound(i) for every element of two float tensors; reports the worst.
template <typename Bound>
void expectWithin(const HostTensor& a, const HostTensor& b, Bound bound, const std::string& what) {
  ASSERT_EQ(a.dims(), b.dims()) << what;
  ASSERT_EQ(a.dtype(), DataType::kFloat) << what;
  ASSERT_EQ(b.dtype(), DataType::kFloat) << what;
  double worst = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = std::fabs(double(a.as<float>()[i]) - double(b.as<float>()[i]));
    double lim = bound(i);
    worst = std::max(worst, d / lim);
    if (!(d <= lim)) {
      if (bad++ < 5)
        ADD_FAILURE() << what << ": element " << i << ": fused " << a.as<float>()[i] << ", unfused "
                      << b.as<float>()[i] << ", |diff| " << d << " > bound " << lim;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements outside the bound (worst diff/bound " << worst << ")";
}

// Two int8 tensors differ by at most one step anywhere, and agree exactly on >= 95%.
void expectWithinOneStep(const HostTensor& a, const HostTensor& b, const std::string& what) {
  ASSERT_EQ(a.dtype(), DataType::kInt8) << what;
  ASSERT_EQ(b.dtype(), DataType::kInt8) << what;
  ASSERT_EQ(a.dims(), b.dims()) << what;
  int64_t equal = 0, nonzero = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    int d = std::abs(int(a.as<int8_t>()[i]) - int(b.as<int8_t>()[i]));
    EXPECT_LE(d, 1) << what << ": element " << i << ": " << int(a.as<int8_t>()[i]) << " vs " << int(b.as<int8_t>()[i]);
    equal += d == 0;
    nonzero += a.as<int8_t>()[i] != 0;
  }
  EXPECT_GE(equal * 100, a.numel() * 95) << what << ": only " << equal << " of " << a.numel() << " equal";
  EXPECT_GT(nonzero, 0) << what << ": all zero (the test would prove nothing)";
}

// ---- (a) Conv: folded vs unfused ------------------------------------------------------------

struct ConvCase {
  std::string name;
  Dims x;                  // [N, C, spatial...]
  int64_t m = 4, group = 1;
  std::vector<int64_t> kernel, strides, pads, dilations;
  bool bias = true;
  std::string act = "none";  // none, relu, clip, hard_swish (opset 14)
  bool requantize = false;   // a second layer reads the activation: the first one requantizes
  int opset = 13;
  // After a hard_swish: "mul", "add" or "mul add", PP-LCNetV3's learnable affine (x * 0.8, x - 0.1 as
  // Add of a scalar): with the requantization it folds into the QConv (post_scale, post_shift).
  std::string affine;
};

void runConvCase(const ConvCase& c) {
  SCOPED_TRACE(c.name);
  std::mt19937 rng(1234);
  const int64_t cin = c.x[1], cg = cin / c.group;
  Dims wd{c.m, cg};
  wd.insert(wd.end(), c.kernel.begin(), c.kernel.end());
  std::vector<float> w = randomFloats(rng, volume(wd), -1.f, 1.f);
  // Channels of different magnitudes, so that per-channel scales matter.
  for (size_t i = 0; i < w.size(); ++i) w[i] *= 0.25f + 0.5f * static_cast<float>(int64_t(i) / (volume(wd) / c.m));
  std::vector<float> b = randomFloats(rng, c.m, -0.5f, 0.5f);

  ModelBuilder mb(c.opset);
  mb.input("x", c.x);
  mb.floats("w", w, wd);
  if (c.bias) mb.floats("b", b, {c.m});
  auto& conv = mb.node("Conv", c.bias ? std::vector<std::string>{"x", "w", "b"} : std::vector<std::string>{"x", "w"},
                       {"conv"});
  setInts(conv, "kernel_shape", c.kernel);
  if (!c.strides.empty()) setInts(conv, "strides", c.strides);
  if (!c.pads.empty()) setInts(conv, "pads", c.pads);
  if (!c.dilations.empty()) setInts(conv, "dilations", c.dilations);
  if (c.group != 1) setInt(conv, "group", c.group);
  std::string y = "conv";
  if (c.act == "relu") {
    mb.node("Relu", {"conv"}, {"act"});
    y = "act";
  } else if (c.act == "clip") {
    if (c.opset >= 11) {
      mb.floats("lo", {-0.3f}, {});
      mb.floats("hi", {0.6f}, {});
      mb.node("Clip", {"conv", "lo", "hi"}, {"act"});
    } else {
      auto& clip = mb.node("Clip", {"conv"}, {"act"});
      setFloat(clip, "min", -0.3f);
      setFloat(clip, "max", 0.6f);
    }
    y = "act";
  } else if (c.act == "hard_swish") {
    mb.node("HardSwish", {"conv"}, {"act"});
    y = "act";
  }
  if (c.affine.find("mul") != std::string::npos) {
    mb.floats("post_c", {0.8f}, {});
    mb.node("Mul", {"post_c", y}, {"aff_mul"});  // the constant first: either order folds
    y = "aff_mul";
  }
  if (c.affine.find("add") != std::string::npos) {
    mb.floats("post_d", {-0.1f}, {1});
    mb.node("Add", {y, "post_d"}, {"aff_add"});
    y = "aff_add";
  }
  if (c.requantize) {  // a 1x1 conv after: its input gets a Q/DQ pair, which the first conv absorbs
    // (after an affine a padded 3x3 one, as in PP-LCNetV3: an unpadded conv would absorb the affine
    // itself in the simplify passes, passes/fold_mul_add_into_conv.h)
    const int64_t k2 = c.affine.empty() ? 1 : 3;
    Dims w2d{2, c.m};
    for (size_t i = 0; i < c.kernel.size(); ++i) w2d.push_back(k2);
    mb.floats("w2", randomFloats(rng, volume(w2d), -1.f, 1.f), w2d);
    auto& conv2 = mb.node("Conv", {y, "w2"}, {"y2"});
    if (k2 == 3) setInts(conv2, "pads", std::vector<int64_t>(2 * c.kernel.size(), 1));
    mb.output("y2");
  } else {
    mb.output(y);
  }
  auto net = mb.parse();
  ASSERT_TRUE(net);

  Tensors in{{"x", floatTensor(randomFloats(rng, volume(c.x), -2.f, 2.f), c.x)}};
  auto scales = maxAbsScales(*net, in);
  passes::QdqReport qr;
  passes::FoldReport fr;
  auto unfused = int8Engine(*net, scales, false, &qr);
  auto fused = int8Engine(*net, scales, true, nullptr, &fr);
  ASSERT_TRUE(unfused && fused);
  EXPECT_EQ(qr.quantized_layers, c.requantize ? 2 : 1);
  EXPECT_EQ(countOps(*fused, "QConv"), c.requantize ? 2 : 1);
  EXPECT_EQ(countOps(*fused, "Conv"), 0);
  EXPECT_EQ(countOps(*fused, "Relu") + countOps(*fused, "Clip") + countOps(*fused, "HardSwish"), 0)
      << "the activation was not fused";
  EXPECT_EQ(fr.requantized, c.requantize ? 1 : 0);
  EXPECT_EQ(countOps(*fused, "Mul") + countOps(*fused, "Add"), 0) << "the affine was not fused";
  EXPECT_EQ(fr.affine, c.affine.empty() ? 0 : 1);

  Tensors seen_u, seen_f;
  Tensors out_u = run(*unfused, in, &seen_u);
  Tensors out_f = run(*fused, in, &seen_f);
  if (c.requantize) {
    // The first layer's int8 output (the Q's output in the unfused graph).
    const std::string q_name = y + "_quantized";
    ASSERT_TRUE(seen_u.count(q_name) && seen_f.count(q_name)) << q_name;
    expectWithinOneStep(seen_f[q_name], seen_u[q_name], "requantized " + q_name);
    // Downstream, the second layer sees inputs that differ by at most one step here and there:
    // only a loose check that both paths compute the same thing.
    const HostTensor& a = out_f["y2"];
    const HostTensor& u = out_u["y2"];
    double amax = 0;
    for (int64_t i = 0; i < u.numel(); ++i) amax = std::max(amax, double(std::fabs(u.as<float>()[i])));
    expectWithin(a, u, [&](int64_t) { return 0.02 * amax + 1e-6; }, "second layer output");
    return;
  }
  QuantizedWeight qw = quantizePerChannel(w, wd, 0);
  const double x_scale = scales.at("x");
  int64_t depth = cg;
  for (int64_t k : c.kernel) depth *= k;
  const HostTensor& yf = out_f[y];
  const HostTensor& yu = out_u[y];
  const int64_t plane = volume(Dims(yf.dims().begin() + 2, yf.dims().end()));
  // HardSwish's slope is within [-0.5, 1.5] where it is not flat, and its own arithmetic may
  // round differently in a backend's fused form: a few ulps of the value on top.
  const bool hs = c.act == "hard_swish";
  expectWithin(yf, yu, [&](int64_t i) {
    const size_t oc = static_cast<size_t>(i / plane % c.m);
    double s = x_scale * qw.scale[oc] * 128.0 * qw.abs_sum[oc] + (c.bias ? std::fabs(b[oc]) : 0.0);
    const double conv = double(depth + 8) * std::ldexp(1.0, -23) * s;
    return hs ? 1.5 * conv + 4 * std::ldexp(1.0, -23) * std::fabs(double(yu.as<float>()[i])) : conv;
  }, "conv output");
}

TEST(Int8Fold, ConvMatchesUnfusedQdq) {
  const std::vector<ConvCase> cases = {
      {"3x3", {2, 3, 7, 7}, 4, 1, {3, 3}, {}, {}, {}},
      {"3x3 pad relu", {1, 4, 6, 5}, 6, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "relu"},
      {"stride 2 asym pads clip", {1, 3, 9, 8}, 5, 1, {3, 2}, {2, 2}, {0, 1, 2, 0}, {}, true, "clip"},
      {"groups dilation", {2, 4, 8, 8}, 6, 2, {3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}, false, "relu"},
      {"depthwise stride", {1, 6, 10, 10}, 6, 6, {3, 3}, {2, 1}, {1, 1, 1, 1}, {}, true},
      {"1x1 no bias", {3, 8, 5, 5}, 7, 1, {1, 1}, {}, {}, {}, false},
      {"1-D", {2, 3, 17}, 4, 1, {5}, {2}, {2, 1}, {1}, true, "relu"},
      {"1-D groups dilation", {1, 4, 20}, 4, 2, {3}, {1}, {0, 0}, {3}, true, "clip"},
      {"clip opset 10", {1, 3, 6, 6}, 3, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "clip", false, 10},
      {"requantize relu", {1, 3, 8, 8}, 4, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "relu", true},
      {"requantize clip stride", {2, 4, 9, 9}, 6, 2, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, true, "clip", true},
      {"requantize no act", {1, 2, 7, 7}, 3, 1, {2, 2}, {}, {}, {}, true, "none", true},
      {"requantize 1-D", {2, 3, 12}, 4, 1, {3}, {}, {1, 1}, {}, false, "relu", true},
      {"3x3 pad hard_swish", {1, 4, 6, 5}, 6, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "hard_swish", false, 14},
      {"requantize hard_swish", {1, 3, 8, 8}, 4, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "hard_swish", true, 14},
      {"depthwise requantize hard_swish", {1, 6, 10, 10}, 6, 6, {3, 3}, {2, 1}, {1, 1, 1, 1}, {}, true, "hard_swish",
       true, 14},
      {"requantize hard_swish mul add", {1, 3, 8, 8}, 4, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "hard_swish", true, 14,
       "mul add"},
      {"depthwise requantize hard_swish mul add", {1, 6, 10, 10}, 6, 6, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, true,
       "hard_swish", true, 14, "mul add"},
      {"requantize hard_swish mul", {1, 3, 8, 8}, 4, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "hard_swish", true, 14, "mul"},
      {"requantize hard_swish add", {1, 3, 8, 8}, 4, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, true, "hard_swish", true, 14, "add"},
  };
  for (const ConvCase& c : cases) runConvCase(c);
}

// FoldOptions::hard_swish off (CUDA builds with QRT_CUDA_QCONV_HARDSWISH=off): the HardSwish stays a node of its
// own between a QConv with float output and the QuantizeLinear.
TEST(Int8Fold, HardSwishStaysApartWhereTheBackendCannotFuseIt) {
  ModelBuilder mb(14);
  mb.input("x", {1, 3, 6, 6});
  std::mt19937 rng(5);
  mb.floats("w", randomFloats(rng, 4 * 3 * 9, -1.f, 1.f), {4, 3, 3, 3});
  mb.floats("w2", randomFloats(rng, 2 * 4, -1.f, 1.f), {2, 4, 1, 1});
  setInts(mb.node("Conv", {"x", "w"}, {"conv"}), "kernel_shape", {3, 3});
  mb.node("HardSwish", {"conv"}, {"act"});
  mb.node("Conv", {"act", "w2"}, {"y"});
  mb.output("y");
  auto net = mb.parse();
  ASSERT_TRUE(net);
  Tensors in{{"x", floatTensor(randomFloats(rng, 108, -2.f, 2.f), {1, 3, 6, 6})}};
  auto scales = maxAbsScales(*net, in);
  for (const bool fuse : {true, false}) {
    SCOPED_TRACE(fuse ? "hard_swish folded" : "hard_swish apart");
    auto g = net->graph().clone();
    ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
    ASSERT_TRUE(passes::insertQdq(*g, scales, passes::QdqOptions{}, nullptr).ok());
    ASSERT_TRUE(passes::inferShapes(*g).ok());
    passes::FoldOptions options;
    options.hard_swish = fuse;
    passes::FoldReport report;
    ASSERT_TRUE(passes::foldQdq(*g, &report, options).ok());
    int hard_swish = 0;
    for (const auto& n : g->nodes()) hard_swish += n->op_type == "HardSwish";
    EXPECT_EQ(report.qconv, 2);
    EXPECT_EQ(report.requantized, fuse ? 1 : 0);
    EXPECT_EQ(hard_swish, fuse ? 0 : 1);
  }
}

// ---- (a) Gemm and MatMul ---------------------------------------------------------------------

struct GemmCase {
  std::string name;
  int64_t m, k, n;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  Dims c;                 // empty: no C
  std::string act = "none";
};

void runGemmCase(const GemmCase& g) {
  SCOPED_TRACE(g.name);
  std::mt19937 rng(99);
  Dims ad = g.trans_a ? Dims{g.k, g.m} : Dims{g.m, g.k};
  Dims bd = g.trans_b ? Dims{g.n, g.k} : Dims{g.k, g.n};
  std::vector<float> w = randomFloats(rng, g.k * g.n, -1.f, 1.f);
  std::vector<float> cv = randomFloats(rng, std::max<int64_t>(1, volume(g.c)), -1.f, 1.f);
  ModelBuilder mb;
  mb.input("a", ad);
  mb.floats("w", w, bd);
  std::vector<std::string> ins{"a", "w"};
  if (!g.c.empty() || g.name.find("scalar") != std::string::npos) {
    mb.floats("c", cv, g.c);
    ins.push_back("c");
  }
  auto& gemm = mb.node("Gemm", ins, {"gemm"});
  setInt(gemm, "transA", g.trans_a);
  setInt(gemm, "transB", g.trans_b);
  setFloat(gemm, "alpha", g.alpha);
  setFloat(gemm, "beta", g.beta);
  std::string y = "gemm";
  if (g.act == "relu") {
    mb.node("Relu", {"gemm"}, {"y"});
    y = "y";
  }
  mb.output(y);
  auto net = mb.parse();
  ASSERT_TRUE(net);
  Tensors in{{"a", floatTensor(randomFloats(rng, g.m * g.k, -3.f, 3.f), ad)}};
  auto scales = maxAbsScales(*net, in);
  auto unfused = int8Engine(*net, scales, false);
  auto fused = int8Engine(*net, scales, true);
  ASSERT_TRUE(unfused && fused);
  const bool c_rows_only = volume(g.c) <= 1 || volume(g.c) == g.n;
  EXPECT_EQ(countOps(*fused, "QGemm"), c_rows_only ? 1 : 0);
  Tensors out_u = run(*unfused, in);
  Tensors out_f = run(*fused, in);
  QuantizedWeight qw = quantizePerChannel(w, bd, g.trans_b ? 0 : 1);
  const double a_scale = scales.at("a");
  expectWithin(out_f[y], out_u[y], [&](int64_t i) {
    const size_t j = static_cast<size_t>(i % g.n);
    double cj = ins.size() == 3 ? std::fabs(g.beta * cv[volume(g.c) <= 1 ? 0 : j % cv.size()]) : 0.0;
    if (!c_rows_only) cj = 0;  // unfused both ways: identical
    double s = a_scale * std::fabs(g.alpha) * qw.scale[j] * 128.0 * qw.abs_sum[j] + cj;
    return double(g.k + 8) * std::ldexp(1.0, -23) * s + (c_rows_only ? 0.0 : 1e-30);
  }, "gemm output");
}

TEST(Int8Fold, GemmMatchesUnfusedQdq) {
  const std::vector<GemmCase> cases = {
      {"plain", 5, 16, 7},
      {"transB bias", 4, 12, 6, false, true, 1.f, 1.f, {6}},
      {"transA alpha beta", 3, 9, 5, true, false, 0.5f, 2.f, {1, 5}, "relu"},
      {"both transposed scalar", 6, 10, 4, true, true, -1.5f, 0.25f, {}},
      {"C broadcast scalar-like", 2, 33, 8, false, false, 1.f, 1.f, {1}},
      {"C per element (not folded)", 3, 8, 4, false, true, 1.f, 1.f, {3, 4}},
  };
  for (const GemmCase& c : cases) runGemmCase(c);
}

TEST(Int8Fold, MatMulWithConstantWeightBecomesQGemm) {
  std::mt19937 rng(5);
  const int64_t k = 20, n = 6;
  std::vector<float> w = randomFloats(rng, k * n, -1.f, 1.f);
  ModelBuilder mb;
  mb.input("a", {2, 3, k});
  mb.floats("w", w, {k, n});
  mb.node("MatMul", {"a", "w"}, {"mm"});
  mb.floats("lo", {0.f}, {});
  mb.floats("hi", {1.f}, {});
  mb.node("Clip", {"mm", "lo", "hi"}, {"y"});
  mb.output("y");
  auto net = mb.parse();
  ASSERT_TRUE(net);
  Tensors in{{"a", floatTensor(randomFloats(rng, 2 * 3 * k, -1.f, 1.f), {2, 3, k})}};
  auto scales = maxAbsScales(*net, in);
  auto unfused = int8Engine(*net, scales, false);
  auto fused = int8Engine(*net, scales, true);
  ASSERT_TRUE(unfused && fused);
  EXPECT_EQ(countOps(*fused, "QGemm"), 1);
  EXPECT_EQ(countOps(*fused, "Clip"), 0);
  QuantizedWeight qw = quantizePerChannel(w, {k, n}, 1);
  Tensors out_f = run(*fused, in), out_u = run(*unfused, in);
  EXPECT_EQ(out_f["y"].dims(), (Dims{2, 3, n}));
  expectWithin(out_f["y"], out_u["y"], [&](int64_t i) {
    size_t j = static_cast<size_t>(i % n);
    return double(k + 8) * std::ldexp(1.0, -23) * scales.at("a") * qw.scale[j] * 128.0 * qw.abs_sum[j];
  }, "matmul output");
}

TEST(Int8Fold, MatMulOfTwoActivationsBecomesQMatMul) {
  std::mt19937 rng(6);
  const int64_t m = 5, k = 11, n = 4;
  ModelBuilder mb;
  mb.input("a", {3, m, k});
  mb.input("b", {1, k, n});
  mb.node("MatMul", {"a", "b"}, {"mm"});
  mb.node("Relu", {"mm"}, {"r"});
  mb.input("b2", {n, 3});
  mb.node("MatMul", {"r", "b2"}, {"y"});  // a second MatMul reads r: the first requantizes
  mb.output("y");
  auto net = mb.parse();
  ASSERT_TRUE(net);
  Tensors in{{"a", floatTensor(randomFloats(rng, 3 * m * k, -1.f, 1.f), {3, m, k})},
             {"b", floatTensor(randomFloats(rng, k * n, -2.f, 2.f), {1, k, n})},
             {"b2", floatTensor(randomFloats(rng, n * 3, -1.f, 1.f), {n, 3})}};
  auto scales = maxAbsScales(*net, in);
  auto unfused = int8Engine(*net, scales, false);
  auto fused = int8Engine(*net, scales, true);
  ASSERT_TRUE(unfused && fused);
  EXPECT_EQ(countOps(*fused, "QMatMul"), 2);
  EXPECT_EQ(countOps(*fused, "Relu"), 0);
  Tensors seen_u, seen_f;
  run(*unfused, in, &seen_u);
  Tensors out_f = run(*fused, in, &seen_f);
  expectWithinOneStep(seen_f["r_quantized"], seen_u["r_quantized"], "requantized relu(a x b)");
  // The second product: same int8 inputs wherever the first agreed; a loose check.
  double amax = 0;
  for (int64_t i = 0; i < seen_u["y"].numel(); ++i) amax = std::max(amax, double(std::fabs(seen_u["y"].as<float>()[i])));
  expectWithin(out_f["y"], seen_u["y"], [&](int64_t) { return 0.03 * amax; }, "second matmul");
}

// ---- fusion boundaries -----------------------------------------------------------------------

// A QDQ model written by hand: x -> Q -> DQ -> Conv(DQ(w int8 per channel)) -> y, where y is read
// by a Q (-> DQ -> graph output) and by a Relu: the conv must keep its float output and the Q
// must stay.
TEST(Int8Fold, SharedOutputKeepsFloatAndTheQuantize) {
  ModelBuilder mb;
  mb.input("x", {1, 2, 5, 5});
  mb.floats("s", {0.02f}, {});
  mb.int8s("zp", {0}, {});
  mb.int8s("wq", {1, -2, 3, 4, -5, 6, 7, -8, 9, 10, 11, -12, 13, 14, 15, -16, 17, 18}, {1, 2, 3, 3});
  mb.floats("ws", {0.01f}, {1});
  mb.int8s("wzp", {0}, {1});
  mb.floats("ys", {0.05f}, {});
  mb.node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
  mb.node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
  auto& dqw = mb.node("DequantizeLinear", {"wq", "ws", "wzp"}, {"wd"});
  setInt(dqw, "axis", 0);
  mb.node("Conv", {"xd", "wd"}, {"y"});
  mb.node("QuantizeLinear", {"y", "ys", "zp"}, {"yq"});
  mb.node("DequantizeLinear", {"yq", "ys", "zp"}, {"out1"});
  mb.node("Relu", {"y"}, {"out2"});
  mb.output("out1");
  mb.output("out2");
  auto net = mb.parse();
  ASSERT_TRUE(net);
  auto fused = int8Engine(*net, {}, true);
  auto unfused = int8Engine(*net, {}, false);
  ASSERT_TRUE(fused && unfused);
  EXPECT_EQ(countOps(*fused, "QConv"), 1);
  EXPECT_EQ(countOps(*fused, "QuantizeLinear"), 2);  // the input's and y's
  EXPECT_EQ(countOps(*fused, "Relu"), 1);
  for (const LayerInfo& l : fused->layers())
    if (l.op == "QConv") EXPECT_EQ(l.precision, "int8");  // computes in int8; its output stays float
  std::mt19937 rng(3);
  Tensors in{{"x", floatTensor(randomFloats(rng, 50, -2.f, 2.f), {1, 2, 5, 5})}};
  Tensors a = run(*fused, in), b = run(*unfused, in);
  expectWithin(a["out2"], b["out2"], [](int64_t) { return 1e-5; }, "relu branch");
  expectWithin(a["out1"], b["out1"], [](int64_t) { return 0.05 * 1.0001; }, "quantized branch (one step)");
}

// A QDQ model through the public builder: it folds by itself; the engine survives a file round
// trip (the internal op's domain and string attribute) and runs the same.
TEST(Int8Fold, BuilderFoldsQdqModelsAndEnginesRoundTrip) {
  ModelBuilder mb(13);
  mb.input("x", {2, 3, 6, 6});
  mb.floats("s", {0.03f}, {});
  mb.int8s("zp", {0}, {});
  std::mt19937 rng(8);
  std::vector<float> w = randomFloats(rng, 4 * 3 * 9, -1.f, 1.f);
  mb.floats("w", w, {4, 3, 3, 3});  // float weight quantized in the graph, as TensorRT's exporters do
  mb.floats("ws", {0.008f, 0.009f, 0.007f, 0.0085f}, {4});
  mb.int8s("wzp", {0, 0, 0, 0}, {4});
  mb.floats("ys", {0.04f}, {});
  mb.node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
  mb.node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
  setInt(mb.node("QuantizeLinear", {"w", "ws", "wzp"}, {"wq"}), "axis", 0);
  setInt(mb.node("DequantizeLinear", {"wq", "ws", "wzp"}, {"wd"}), "axis", 0);
  auto& conv = mb.node("Conv", {"xd", "wd"}, {"c"});
  setInts(conv, "pads", {1, 1, 1, 1});
  mb.node("Relu", {"c"}, {"r"});
  mb.node("QuantizeLinear", {"r", "ys", "zp"}, {"y"});
  mb.output("y", onnx::TensorProto::INT8);
  auto net = mb.parse();
  ASSERT_TRUE(net);
  auto built = buildEngine(*net, BuilderConfig{});
  ASSERT_TRUE(built.ok()) << built.status().toString();
  const Engine& e = **built;
  EXPECT_EQ(countOps(e, "QConv"), 1);
  EXPECT_EQ(countOps(e, "Conv") + countOps(e, "Relu") + countOps(e, "DequantizeLinear"), 0);
  EXPECT_EQ(e.impl().graph->nodes().size() - static_cast<size_t>(countOps(e, "Identity")), 2u);  // Q(x) and QConv
  // (plus the cpu backend's NHWC layout changes, Identity nodes, around its channels-last QConv)
  for (const auto& n : e.impl().graph->nodes())
    if (n->op_type == "QConv") EXPECT_EQ(n->precision, Precision::kINT8);
  auto unfused = int8Engine(*net, {}, false);
  ASSERT_TRUE(unfused);
  Tensors in{{"x", floatTensor(randomFloats(rng, 2 * 3 * 36, -3.f, 3.f), {2, 3, 6, 6})}};
  Tensors a = run(e, in), b = run(*unfused, in);
  expectWithinOneStep(a["y"], b["y"], "requantized conv");

  auto bytes = e.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto loaded = Engine::deserialize(bytes->data(), bytes->size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  Tensors c = run(**loaded, in);
  ASSERT_EQ(c["y"].bytes(), a["y"].bytes());
  EXPECT_EQ(std::memcmp(c["y"].data(), a["y"].data(), a["y"].bytes()), 0);
}

// ---- (b) insertQdq: placement and weight quantization ----------------------------------------

const ir::Node* producerOf(const ir::Value* v) { return v ? v->producer : nullptr; }

TEST(Int8Insert, WeightScalesAreMaxOver127AndTiesRoundToEven) {
  // Channel 0: max 127 -> scale 1: 2.5 -> 2, 3.5 -> 4, -1.5 -> -2. Channel 1: all zero -> scale
  // 1. Channel 2: max 254 -> scale 2: 5 -> 2.5 -> 2, 7 -> 3.5 -> 4, 1 -> 0.5 -> 0.
  // Channel 3: max 31.75 -> scale 0.25: -0.625 -> -2.5 -> -2, 0.875 -> 3.5 -> 4, 0.3 -> 1.2 -> 1.
  const std::vector<float> w = {127.f, 2.5f, 3.5f, -1.5f, 0, 0, 0, 0, -254.f, 5.f, 7.f, 1.f, 31.75f, -0.625f, 0.875f, 0.3f};
  ModelBuilder mb;
  mb.input("x", {1, 1, 3, 3});
  mb.floats("w", w, {4, 1, 2, 2});
  mb.node("Conv", {"x", "w"}, {"y"});
  mb.output("y");
  auto net = mb.parse();
  ASSERT_TRUE(net);
  auto g = net->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  passes::QdqReport report;
  Status s = passes::insertQdq(*g, {{"x", 0.5f}}, passes::QdqOptions{}, &report);
  ASSERT_TRUE(s.ok()) << s.toString();
  EXPECT_EQ(report.quantized_layers, 1);
  EXPECT_EQ(report.activation_qdq, 1);
  EXPECT_EQ(report.quantized_weights, 1);
  ASSERT_TRUE(passes::inferShapes(*g).ok());
  ASSERT_TRUE(ir::verify(*g).ok());

  const ir::Node* conv = nullptr;
  for (const auto& n : g->nodes())
    if (n->op_type == "Conv") conv = n.get();
  ASSERT_TRUE(conv);
  const ir::Node* dqw = producerOf(conv->inputs[1]);
  ASSERT_TRUE(dqw && dqw->op_type == "DequantizeLinear");
  EXPECT_GE(dqw->opset, 13);
  EXPECT_EQ(dqw->attrInt("axis", -1), 0);
  const ir::Value* wq = dqw->inputs[0];
  ASSERT_TRUE(wq->isConstant());
  ASSERT_EQ(wq->dtype, DataType::kInt8);
  const std::vector<int8_t> expect_q = {127, 2, 4, -2, 0, 0, 0, 0, -127, 2, 4, 0, 127, -2, 4, 1};
  std::vector<int8_t> got(wq->constant->as<int8_t>(), wq->constant->as<int8_t>() + 16);
  EXPECT_EQ(got, expect_q);
  const ir::Value* ws = dqw->inputs[1];
  ASSERT_EQ(ws->dims, (Dims{4}));
  EXPECT_EQ(ws->constant->as<float>()[0], 1.f);
  EXPECT_EQ(ws->constant->as<float>()[1], 1.f);  // an all-zero channel gets scale 1
  EXPECT_EQ(ws->constant->as<float>()[2], 2.f);
  EXPECT_EQ(ws->constant->as<float>()[3], 0.25f);
  const ir::Value* wzp = dqw->inputs[2];
  ASSERT_EQ(wzp->dtype, DataType::kInt8);
  ASSERT_EQ(wzp->dims, (Dims{4}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(wzp->constant->as<int8_t>()[i], 0);

  const ir::Node* dqx = producerOf(conv->inputs[0]);
  ASSERT_TRUE(dqx && dqx->op_type == "DequantizeLinear");
  const ir::Node* qx = producerOf(dqx->inputs[0]);
  ASSERT_TRUE(qx && qx->op_type == "QuantizeLinear");
  EXPECT_EQ(qx->inputs[0]->name, "x");
  EXPECT_GE(qx->opset, 13);
  EXPECT_EQ(qx->inputs[1]->dims, Dims{});
  EXPECT_EQ(qx->inputs[1]->constant->as<float>()[0], 0.5f);
  EXPECT_EQ(qx->inputs[2]->dtype, DataType::kInt8);
  EXPECT_EQ(qx->inputs[2]->constant->as<int8_t>()[0], 0);
  EXPECT_EQ(qx->outputs[0]->dtype, DataType::kInt8);
}

TEST(Int8Insert, WeightAxisPerLayerKindAndSharedPairs) {
  std::mt19937 rng(2);
  ModelBuilder mb;
  mb.input("x", {1, 4, 5, 5});
  mb.floats("wc", randomFloats(rng, 6 * 4 * 9, -1, 1), {6, 4, 3, 3});
  mb.floats("wc2", randomFloats(rng, 3 * 4, -1, 1), {3, 4, 1, 1});
  mb.floats("wt", randomFloats(rng, 4 * 2 * 4, -1, 1), {4, 2, 2, 2});  // ConvTranspose [C, M/g, k..]
  mb.node("Conv", {"x", "wc"}, {"c1"});
  mb.node("Conv", {"x", "wc2"}, {"c2"});  // shares x's Q/DQ pair
  mb.node("ConvTranspose", {"x", "wt"}, {"t"});
  mb.input("a", {3, 5});
  mb.floats("g0", randomFloats(rng, 5 * 7, -1, 1), {5, 7});
  mb.floats("g1", randomFloats(rng, 7 * 5, -1, 1), {7, 5});
  setInt(mb.node("Gemm", {"a", "g0"}, {"o0"}), "transB", 0);
  setInt(mb.node("Gemm", {"a", "g1"}, {"o1"}), "transB", 1);
  mb.floats("mw", randomFloats(rng, 5 * 2, -1, 1), {5, 2});
  mb.node("MatMul", {"a", "mw"}, {"o2"});
  mb.input("unscaled", {3, 5});
  mb.node("MatMul", {"unscaled", "mw"}, {"o3"});  // no scale: stays float
  for (const char* o : {"c1", "c2", "t", "o0", "o1", "o2", "o3"}) mb.output(o);
  auto net = mb.parse();
  ASSERT_TRUE(net);
  auto g = net->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  passes::QdqReport report;
  Status s = passes::insertQdq(*g, {{"x", 0.1f}, {"a", 0.2f}}, passes::QdqOptions{}, &report);
  ASSERT_TRUE(s.ok()) << s.toString();
  EXPECT_EQ(report.quantized_layers, 6);
  EXPECT_EQ(report.activation_qdq, 2);  // one pair for x, one for a
  EXPECT_EQ(report.quantized_weights, 6);
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].find("unscaled"), std::string::npos) << report.skipped[0];
  EXPECT_NE(report.summary().find("quantized 6 layers"), std::string::npos) << report.summary();
  ASSERT_TRUE(passes::inferShapes(*g).ok());
  std::map<std::string, int64_t> axis;  // output name -> weight DQ axis
  for (const auto& n : g->nodes()) {
    if (n->op_type == "QuantizeLinear" || n->op_type == "DequantizeLinear") continue;
    const ir::Node* dq = producerOf(n->inputs[1]);
    axis[n->outputs[0]->name] = dq && dq->op_type == "DequantizeLinear" ? dq->attrInt("axis", -1) : -2;
  }
  EXPECT_EQ(axis["c1"], 0);
  EXPECT_EQ(axis["c2"], 0);
  EXPECT_EQ(axis["t"], 1);
  EXPECT_EQ(axis["o0"], 1);
  EXPECT_EQ(axis["o1"], 0);
  EXPECT_EQ(axis["o2"], 1);
  EXPECT_EQ(axis["o3"], -2);  // left in float

  // The QDQ graph runs, folded or not.
  std::map<std::string, float> scales{{"x", 0.1f}, {"a", 0.2f}};
  Tensors in{{"x", floatTensor(randomFloats(rng, 100, -1, 1), {1, 4, 5, 5})},
             {"a", floatTensor(randomFloats(rng, 15, -1, 1), {3, 5})},
             {"unscaled", floatTensor(randomFloats(rng, 15, -1, 1), {3, 5})}};
  passes::FoldReport fold;
  auto fused = int8Engine(*net, scales, true, nullptr, &fold);
  auto unfused = int8Engine(*net, scales, false);
  ASSERT_TRUE(fused && unfused);
  EXPECT_EQ(countOps(*fused, "QConv"), 2);
  EXPECT_EQ(countOps(*fused, "QGemm"), 3);
  EXPECT_EQ(countOps(*fused, "ConvTranspose"), 1);  // stays float-simulated (docs/int8.md)
  // Its weights' DequantizeLinear is evaluated into an fp32 constant after folding (so the float
  // layer packs constant weights, as in an FP32 engine); its input's Q/DQ pair stays.
  EXPECT_EQ(fold.constant_dequantize, 1);
  for (const auto& n : fused->impl().graph->nodes()) {
    if (n->op_type == "ConvTranspose") {
      ASSERT_TRUE(n->hasInput(1));
      EXPECT_TRUE(n->inputs[1]->isConstant()) << "ConvTranspose's weights are not a constant";
    }
    if (n->op_type == "DequantizeLinear")
      EXPECT_FALSE(n->hasInput(0) && n->inputs[0]->isConstant()) << n->name << " dequantizes a constant at run time";
  }
  Tensors a = run(*fused, in), b = run(*unfused, in);
  for (const char* o : {"c1", "c2", "t", "o0", "o1", "o2", "o3"})
    expectWithin(a[o], b[o], [](int64_t) { return 1e-3; }, o);
}

TEST(Int8Insert, RejectsBadScales) {
  ModelBuilder mb;
  mb.input("x", {2, 3});
  mb.floats("w", {1, 2, 3, 4, 5, 6}, {3, 2});
  mb.node("MatMul", {"x", "w"}, {"y"});
  mb.output("y");
  auto net = mb.parse();
  ASSERT_TRUE(net);
  for (float bad : {0.f, -1.f, std::nanf(""), INFINITY}) {
    auto g = net->graph().clone();
    Status s = passes::insertQdq(*g, {{"x", bad}}, passes::QdqOptions{});
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("'x'"), std::string::npos) << s.message();
  }
}

// ---- (c) ONNX integer ops beyond the conformance cases ---------------------------------------

// A one-node model over raw int8/uint8 inputs; returns the raw output.
struct RawInput {
  std::string name;
  int elem_type;
  Dims dims;
  std::vector<uint8_t> bytes;
};

template <typename T> RawInput raw(const std::string& name, int elem_type, Dims dims, const std::vector<T>& v) {
  RawInput r{name, elem_type, std::move(dims), {}};
  r.bytes.resize(v.size() * sizeof(T));
  std::memcpy(r.bytes.data(), v.data(), r.bytes.size());
  return r;
}

DataType fromOnnx(int t) {
  switch (t) {
    case onnx::TensorProto::INT8: return DataType::kInt8;
    case onnx::TensorProto::UINT8: return DataType::kUInt8;
    case onnx::TensorProto::INT32: return DataType::kInt32;
    default: return DataType::kFloat;
  }
}

HostTensor runOneNode(const std::string& op, const std::vector<RawInput>& ins, int out_type,
                      const std::function<void(onnx::NodeProto&)>& attrs = nullptr) {
  ModelBuilder mb(10);
  std::vector<std::string> names;
  for (const RawInput& r : ins) {
    names.push_back(r.name);
    if (!r.name.empty()) mb.input(r.name, r.dims, r.elem_type);
  }
  auto& n = mb.node(op, names, {"y"});
  if (attrs) attrs(n);
  mb.output("y", out_type);
  auto net = mb.parse();
  if (!net) return {};
  auto e = buildEngine(*net, BuilderConfig{});
  EXPECT_TRUE(e.ok()) << e.status().toString();
  if (!e.ok()) return {};
  Tensors in;
  for (const RawInput& r : ins) {
    if (r.name.empty()) continue;
    HostTensor t(fromOnnx(r.elem_type), r.dims);
    std::memcpy(t.data(), r.bytes.data(), r.bytes.size());
    in[r.name] = std::move(t);
  }
  return run(**e, in)["y"];
}

// Naive integer conv (one group loop, NCHW 2-D): acc with zero points; padding contributes 0.
std::vector<int32_t> naiveConvInt(const std::vector<int32_t>& x, const Dims& xd, int32_t xzp, const std::vector<int32_t>& w,
                                  const Dims& wd, const std::vector<int32_t>& wzp, int64_t group, int64_t stride,
                                  int64_t pad, Dims* yd) {
  const int64_t n = xd[0], c = xd[1], h = xd[2], wi = xd[3], m = wd[0], cg = wd[1], kh = wd[2], kw = wd[3];
  const int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wi + 2 * pad - kw) / stride + 1;
  *yd = {n, m, oh, ow};
  std::vector<int32_t> y(static_cast<size_t>(n * m * oh * ow), 0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < m; ++oc)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int32_t acc = 0;
          const int64_t g = oc / (m / group);
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                int64_t yy = i * stride - pad + u, xx = j * stride - pad + v;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wi) continue;
                int32_t xv = x[static_cast<size_t>(((b * c + g * cg + ic) * h + yy) * wi + xx)] - xzp;
                int32_t wv = w[static_cast<size_t>(((oc * cg + ic) * kh + u) * kw + v)] - wzp[static_cast<size_t>(oc)];
                acc += xv * wv;
              }
          y[static_cast<size_t>(((b * m + oc) * oh + i) * ow + j)] = acc;
        }
  return y;
}

TEST(Int8Ops, ConvIntegerAndQLinearConvInt8PerChannel) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> i8(-128, 127);
  const Dims xd{2, 4, 6, 5}, wd{6, 2, 3, 3};
  std::vector<int8_t> x(static_cast<size_t>(volume(xd))), w(static_cast<size_t>(volume(wd)));
  for (auto& v : x) v = static_cast<int8_t>(i8(rng));
  for (auto& v : w) v = static_cast<int8_t>(i8(rng));
  const std::vector<int8_t> wzp = {0, 3, -2, 5, 0, -7};
  const int8_t xzp = -3;
  std::vector<int32_t> xi(x.begin(), x.end()), wi(w.begin(), w.end()), wzpi(wzp.begin(), wzp.end());
  Dims yd;
  std::vector<int32_t> expect = naiveConvInt(xi, xd, xzp, wi, wd, wzpi, 2, 2, 1, &yd);
  auto attrs = [](onnx::NodeProto& n) {
    setInt(n, "group", 2);
    setInts(n, "strides", {2, 2});
    setInts(n, "pads", {1, 1, 1, 1});
  };
  HostTensor y = runOneNode("ConvInteger",
                            {raw("x", onnx::TensorProto::INT8, xd, x), raw("w", onnx::TensorProto::INT8, wd, w),
                             raw("xzp", onnx::TensorProto::INT8, {}, std::vector<int8_t>{xzp}),
                             raw("wzp", onnx::TensorProto::INT8, {6}, wzp)},
                            onnx::TensorProto::INT32, attrs);
  ASSERT_EQ(y.dims(), yd);
  EXPECT_EQ(std::vector<int32_t>(y.as<int32_t>(), y.as<int32_t>() + y.numel()), expect);

  // QLinearConv, int8 out: round_half_even((acc + B) * (x_scale * w_scale[oc] / y_scale)) + y_zp.
  const std::vector<float> ws = {0.01f, 0.02f, 0.015f, 0.03f, 0.005f, 0.012f};
  const std::vector<int32_t> bias = {100, -200, 0, 50, 1000, -7};
  const float xs = 0.05f, ys = 0.9f;
  const int8_t yzp = 4;
  HostTensor q = runOneNode("QLinearConv",
                            {raw("x", onnx::TensorProto::INT8, xd, x), raw("xs", onnx::TensorProto::FLOAT, {}, std::vector<float>{xs}),
                             raw("xzp", onnx::TensorProto::INT8, {}, std::vector<int8_t>{xzp}),
                             raw("w", onnx::TensorProto::INT8, wd, w), raw("ws", onnx::TensorProto::FLOAT, {6}, ws),
                             raw("wzp", onnx::TensorProto::INT8, {6}, wzp), raw("ys", onnx::TensorProto::FLOAT, {}, std::vector<float>{ys}),
                             raw("yzp", onnx::TensorProto::INT8, {}, std::vector<int8_t>{yzp}),
                             raw("B", onnx::TensorProto::INT32, {6}, bias)},
                            onnx::TensorProto::INT8, attrs);
  ASSERT_EQ(q.dims(), yd);
  int saturated = 0;
  const int64_t plane = yd[2] * yd[3];
  for (int64_t i = 0; i < q.numel(); ++i) {
    size_t oc = static_cast<size_t>(i / plane % 6);
    float v = static_cast<float>(expect[static_cast<size_t>(i)] + bias[oc]) * (xs * ws[oc] / ys);
    float e = std::clamp(std::nearbyint(v) + yzp, -128.f, 127.f);
    saturated += e == -128.f || e == 127.f;
    ASSERT_EQ(q.as<int8_t>()[i], static_cast<int8_t>(e)) << "element " << i;
  }
  EXPECT_LT(saturated, q.numel() / 4) << "scales chosen badly: mostly saturated";
}

TEST(Int8Ops, MatMulIntegerPerRowAndColumnZeroPoints) {
  std::mt19937 rng(12);
  std::uniform_int_distribution<int> u8(0, 255), i8(-128, 127);
  const int64_t b = 2, m = 3, k = 5, n = 4;
  std::vector<uint8_t> a(static_cast<size_t>(b * m * k));
  std::vector<int8_t> bm(static_cast<size_t>(k * n));
  for (auto& v : a) v = static_cast<uint8_t>(u8(rng));
  for (auto& v : bm) v = static_cast<int8_t>(i8(rng));
  const std::vector<uint8_t> azp = {1, 128, 255};
  const std::vector<int8_t> bzp = {0, -1, 5, 127};
  HostTensor y = runOneNode("MatMulInteger",
                            {raw("a", onnx::TensorProto::UINT8, {b, m, k}, a), raw("b", onnx::TensorProto::INT8, {k, n}, bm),
                             raw("azp", onnx::TensorProto::UINT8, {m}, azp), raw("bzp", onnx::TensorProto::INT8, {n}, bzp)},
                            onnx::TensorProto::INT32);
  ASSERT_EQ(y.dims(), (Dims{b, m, n}));
  for (int64_t bb = 0; bb < b; ++bb)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int32_t acc = 0;
        for (int64_t kk = 0; kk < k; ++kk)
          acc += (int32_t(a[size_t((bb * m + i) * k + kk)]) - azp[size_t(i)]) * (int32_t(bm[size_t(kk * n + j)]) - bzp[size_t(j)]);
        EXPECT_EQ(y.as<int32_t>()[(bb * m + i) * n + j], acc);
      }
}

// ---- (d) Fashion-MNIST end to end ------------------------------------------------------------

constexpr const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

std::string readGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return n < 0 ? "" : out;
}

// Images [count, 1, 28, 28] normalized as models/fashion_mnist/preprocess.json says, from an
// idx3 file (16-byte header), starting at image `first`.
HostTensor fashionImages(const std::string& idx, int64_t first, int64_t count) {
  HostTensor t(DataType::kFloat, {count, 1, 28, 28});
  const float scale = 1.f / 255.f, mean = 0.2860405969887955f, stddev = 0.35302424451492237f;
  for (int64_t i = 0; i < count * 784; ++i) {
    float pixel = static_cast<float>(static_cast<uint8_t>(idx[static_cast<size_t>(16 + first * 784 + i)]));
    t.as<float>()[i] = (pixel * scale - mean) / stddev;
  }
  return t;
}

std::vector<int> argmaxRows(const HostTensor& logits) {
  std::vector<int> r;
  const int64_t classes = logits.dims()[1];
  for (int64_t i = 0; i < logits.dims()[0]; ++i) {
    const float* row = logits.as<float>() + i * classes;
    r.push_back(static_cast<int>(std::max_element(row, row + classes) - row));
  }
  return r;
}

TEST(Int8EndToEnd, FashionMnistTop1AgreesWithFp32) {
  const std::string train = std::string(kFashionDir) + "/train-images-idx3-ubyte.gz";
  const std::string test = std::string(kFashionDir) + "/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(train) || !std::filesystem::exists(test))
    GTEST_SKIP() << kFashionDir << " missing (Debian dataset-fashion-mnist)";
  const std::string train_idx = readGzip(train), test_idx = readGzip(test);
  ASSERT_EQ(train_idx.size(), 16u + 60000u * 784u);
  ASSERT_EQ(test_idx.size(), 16u + 10000u * 784u);
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto fp32 = buildEngine(**net, BuilderConfig{});
  ASSERT_TRUE(fp32.ok()) << fp32.status().toString();
  auto calib = calibrationEngine(**net);
  ASSERT_TRUE(calib);

  // Calibration: max |x| of every activation over 500 training images.
  constexpr int64_t kBatch = 100;
  std::map<std::string, float> amax;
  for (int64_t b = 0; b < 500; b += kBatch) {
    Tensors seen;
    run(*calib, {{"input", fashionImages(train_idx, b, kBatch)}}, &seen);
    for (const auto& [name, t] : seen) {
      if (t.dtype() != DataType::kFloat) continue;
      float& m = amax[name];
      for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.as<float>()[i]));
    }
  }
  std::map<std::string, float> scales;
  for (const auto& [name, m] : amax) scales[name] = m > 0.f ? m / 127.f : 1.f;
  passes::QdqReport qr;
  passes::FoldReport fr;
  auto int8 = int8Engine(**net, scales, true, &qr, &fr);
  ASSERT_TRUE(int8);
  std::printf("fashion-mnist INT8: %s; folded: %s\n", qr.summary().c_str(), fr.summary().c_str());
  EXPECT_EQ(qr.quantized_layers, 7);
  EXPECT_TRUE(qr.skipped.empty());
  EXPECT_EQ(countOps(*int8, "QConv"), 6);
  EXPECT_EQ(countOps(*int8, "QGemm"), 1);
  EXPECT_EQ(countOps(*int8, "Conv") + countOps(*int8, "Gemm"), 0);

  constexpr int64_t kImages = 2000;
  int agree = 0;
  for (int64_t b = 0; b < kImages; b += kBatch) {
    Tensors in{{"input", fashionImages(test_idx, b, kBatch)}};
    std::vector<int> p32 = argmaxRows(run(**fp32, in)["logits"]);
    std::vector<int> p8 = argmaxRows(run(*int8, in)["logits"]);
    for (size_t i = 0; i < p32.size(); ++i) agree += p32[i] == p8[i];
  }
  std::printf("INT8 top-1 agrees with FP32 on %d / %lld test images\n", agree, static_cast<long long>(kImages));
  EXPECT_GE(agree * 100, kImages * 97);
}

}  // namespace
}  // namespace qrt
