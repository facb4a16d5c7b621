// The cpu backend's INT8 layers (oneDNN: QConv, QGemm, QMatMul) against the reference backend's
// integer kernels, the oracle. Each case is a QDQ model (Q -> DQ -> Conv/Gemm/MatMul(DQ weights)
// [-> Relu | Clip] [-> Q]) that the builder folds into one of qrt's integer ops (docs/int8.md);
// it is built twice, with QRT_BACKEND=reference and with the cpu backend, and run on the same
// random inputs. The Q at the input runs on the same kernel in both engines, so both integer
// layers see the same int8 operands.
//
// How close the two must be (qlayer.h): oneDNN computes oscale * (float(acc) + bias / m) where
// the reference computes (float(acc) * m + bias) / y_scale, m = x_scale * w_scale[c]: the same
// value rounded differently, a few ulps of S = m * sum|x_q * w_q| + |bias| apart. So
//  * float outputs agree within 16 * 2^-24 * S_c, with S_c <= m_c * 128 * sum|w_q[c]| + |bias[c]|
//    (a wrong tap, pad or scale errs by about m * 127 * 127, thousands of times more);
//  * int8 outputs differ by at most one step, and only where y / y_scale is within a few ulps of
//    a rounding tie: at least 99% of them must be equal (all were, in every case here).
// Outputs are poisoned before each run (NaN, or two different byte patterns for int8 run twice),
// so an element the kernel fails to write is caught. Each case also checks that the builder put
// the integer layer on the cpu backend and that oneDNN, not the reference fallback, ran it.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "model_builder.h"
#include "qrt/qrt.h"

#ifdef QRT_HAVE_DNNL
#include "backends/cpu/dnnl_util.h"
#endif

namespace qrt {
namespace {

#ifndef QRT_HAVE_DNNL
TEST(CpuInt8, NotBuilt) { GTEST_SKIP() << "qrt was built without oneDNN: no cpu backend"; }
#else

using test::BackendEnv;

enum class Act { kNone, kRelu, kClip, kHardSwish };
const char* actName(Act a) {
  return a == Act::kNone ? "none" : a == Act::kRelu ? "relu" : a == Act::kClip ? "clip" : "hard_swish";
}

// A QDQ model under construction, with the float inputs it is fed.
class QdqModel {
 public:
  QdqModel() {
    model_.set_ir_version(8);
    auto* os = model_.add_opset_import();
    os->set_domain("");
    os->set_version(14);  // HardSwish
    model_.mutable_graph()->set_name("cpu_int8_test");
  }

  // A float graph input with values uniform in [-amp, amp], quantized by Q(scale) and
  // dequantized again: returns the DQ output's name.
  std::string activation(const std::string& name, const Dims& dims, float scale, float amp, uint32_t seed) {
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-amp, amp);
    std::vector<float> v(static_cast<size_t>(volume(dims)));
    for (float& x : v) x = u(rng);
    feeds_.push_back({name, dims, std::move(v)});
    return qdq(name, scale);
  }

  // Q -> DQ of a float value with a per-tensor scale and an int8 zero point of 0.
  std::string qdq(const std::string& v, float scale) {
    std::string s = floats(v + "_s", {scale}, {}), z = int8s(v + "_z", {0}, {});
    node("QuantizeLinear", {v, s, z}, {v + "_q"});
    node("DequantizeLinear", {v + "_q", s, z}, {v + "_dq"});
    return v + "_dq";
  }

  // Q of a float value (int8 out, zero point 0).
  std::string quantize(const std::string& v, float scale, const std::string& out) {
    node("QuantizeLinear", {v, floats(v + "_ys", {scale}, {}), int8s(v + "_yz", {0}, {})}, {out});
    return out;
  }

  // A constant int8 weight w_q with scales (1 or per channel on `axis`), dequantized.
  std::string weight(const std::string& name, const std::vector<int8_t>& wq, const Dims& dims,
                     const std::vector<float>& scales, int64_t axis) {
    int8s(name, wq, dims);
    Dims sd = scales.size() == 1 ? Dims{} : Dims{static_cast<int64_t>(scales.size())};
    std::string s = floats(name + "_s", scales, sd);
    std::string z = int8s(name + "_z", std::vector<int8_t>(scales.size(), 0), sd);
    auto& n = node("DequantizeLinear", {name, s, z}, {name + "_dq"});
    if (scales.size() > 1) setInt(n, "axis", axis);
    return name + "_dq";
  }

  std::string floats(const std::string& name, const std::vector<float>& v, const Dims& dims) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float f : v) t->add_float_data(f);
    return name;
  }
  std::string int8s(const std::string& name, const std::vector<int8_t>& v, const Dims& dims) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT8);
    for (int64_t d : dims) t->add_dims(d);
    for (int8_t x : v) t->add_int32_data(x);
    return name;
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
  static void setInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void setInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    if (v.empty()) return;
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  // Applies the activation to v (Clip bounds as inputs); returns the new value.
  std::string activate(const std::string& v, Act act, float lo, float hi) {
    if (act == Act::kRelu) node("Relu", {v}, {v + "_act"});
    if (act == Act::kHardSwish) node("HardSwish", {v}, {v + "_act"});
    if (act == Act::kClip) node("Clip", {v, floats(v + "_lo", {lo}, {}), floats(v + "_hi", {hi}, {})}, {v + "_act"});
    return act == Act::kNone ? v : v + "_act";
  }

  // Marks `v` as the graph output "Y" (an Identity would stop the folding, so v is renamed by
  // its producer writing Y directly).
  void output(const std::string& v, bool int8) {
    auto* g = model_.mutable_graph();
    for (auto& n : *g->mutable_node())
      for (auto& o : *n.mutable_output())
        if (o == v) o = "Y";
    auto* vi = g->add_output();
    vi->set_name("Y");
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(int8 ? onnx::TensorProto::INT8 : onnx::TensorProto::FLOAT);
    int8_out_ = int8;
  }

  Result<std::shared_ptr<Engine>> build(const char* backend) const { return test::buildModel(model_, backend); }

  // Runs a context once with the output poisoned by `poison` (float: NaN). Returns the output
  // as floats (int8 values converted).
  Result<std::vector<float>> run(const std::shared_ptr<Engine>& engine, uint8_t poison, Dims* dims,
                                 bool* fell_back) const {
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine->createExecutionContext());
    const int64_t fallbacks = cpu::fallbackCount();
    std::vector<std::vector<float>> buffers;
    buffers.reserve(feeds_.size());
    for (const Feed& f : feeds_) {
      QRT_RETURN_IF_ERROR(ctx->setInputShape(f.name, f.dims));
      buffers.push_back(f.values);
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress(f.name, buffers.back().data()));
    }
    QRT_ASSIGN_OR_RETURN(*dims, ctx->tensorShape("Y"));
    const size_t n = static_cast<size_t>(volume(*dims));
    std::vector<float> y(n, std::numeric_limits<float>::quiet_NaN());
    std::vector<int8_t> y8(n);
    std::memset(y8.data(), poison, n);
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress("Y", int8_out_ ? static_cast<void*>(y8.data()) : y.data()));
    Dims extra_dims;
    if (!extra_.empty()) {
      QRT_ASSIGN_OR_RETURN(extra_dims, ctx->tensorShape(extra_));
      extra_values_.assign(static_cast<size_t>(volume(extra_dims)), std::numeric_limits<float>::quiet_NaN());
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress(extra_, extra_values_.data()));
    }
    QRT_RETURN_IF_ERROR(ctx->enqueue());
    if (fell_back) *fell_back = cpu::fallbackCount() != fallbacks;
    if (int8_out_)
      for (size_t i = 0; i < n; ++i) y[i] = y8[i];
    return y;
  }

  bool int8Out() const { return int8_out_; }

  // A second (float) graph output, read by every run into extraValues().
  void extraOutput(const std::string& v) {
    auto* vi = model_.mutable_graph()->add_output();
    vi->set_name(v);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    extra_ = v;
  }
  const std::vector<float>& extraValues() const { return extra_values_; }

 private:
  struct Feed {
    std::string name;
    Dims dims;
    std::vector<float> values;
  };
  onnx::ModelProto model_;
  std::vector<Feed> feeds_;
  bool int8_out_ = false;
  std::string extra_;
  mutable std::vector<float> extra_values_;
};

// Compares the two backends. `op`: the integer op the folding must make (it must run on the
// cpu backend, on oneDNN); `bound[i]`: the float tolerance of element i (ignored for int8).
void compareBackends(const QdqModel& m, const std::string& op, const std::vector<double>& bound,
                     const std::string& label, int cpu_layers = 1) {
  SCOPED_TRACE(label);
  auto ref_e = m.build("reference");
  ASSERT_TRUE(ref_e.ok()) << ref_e.status().toString();
  auto cpu_e = m.build(nullptr);
  ASSERT_TRUE(cpu_e.ok()) << cpu_e.status().toString();
  int found = 0;
  for (const LayerInfo& l : (*cpu_e)->layers())
    if (l.op == op) {
      ++found;
      EXPECT_EQ(l.backend, "cpu") << l.name;
      EXPECT_EQ(l.precision, "int8") << l.name;
    }
  ASSERT_EQ(found, cpu_layers) << "the builder did not fold the pattern into " << op;
  Dims rd, cd, cd2;
  bool fb = false, fb2 = false;
  auto ref = m.run(*ref_e, 0x5a, &rd, nullptr);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto cpu = m.run(*cpu_e, 0x5a, &cd, &fb);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  EXPECT_FALSE(fb) << "the cpu kernel ran the reference fallback";
  ASSERT_EQ(rd, cd);
  if (m.int8Out()) {
    auto again = m.run(*cpu_e, 0xa5, &cd2, &fb2);
    ASSERT_TRUE(again.ok()) << again.status().toString();
    EXPECT_EQ(*again, *cpu) << "an output element depends on the buffer's old contents";
  }
  int bad = 0, off = 0;
  size_t first = 0;
  for (size_t i = 0; i < ref->size(); ++i) {
    const double a = (*cpu)[i], b = (*ref)[i];
    const bool ok = m.int8Out() ? std::fabs(a - b) <= 1 : std::fabs(a - b) <= bound[i];
    if (!ok && bad++ == 0) first = i;
    if (a != b) ++off;
  }
  EXPECT_EQ(bad, 0) << bad << " of " << ref->size() << " differ; first at " << first << ": cpu " << (*cpu)[first]
                    << ", reference " << (*ref)[first] << ", bound " << (m.int8Out() ? 1.0 : bound[first]);
  if (m.int8Out()) EXPECT_LE(off, static_cast<int>(ref->size() / 100)) << off << " int8 outputs one step off";
  if (m.int8Out() && off > 0) std::cout << label << ": " << off << " of " << ref->size() << " int8 outputs one step off\n";
}

std::vector<int8_t> randomInt8(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (int8_t& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}
std::vector<float> randomFloats(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

constexpr float kXScale = 1.f / 127;  // activations uniform in [-1.1, 1.1]: a few saturate
constexpr double kUlps = 16.0 / (1 << 24);

// The float tolerance per output channel: 16 * 2^-24 * (m_c * 128 * sum|w_q[c]| + |bias[c]|),
// with w_q read as `channels` rows of `per` weights.
std::vector<double> channelBounds(const std::vector<int8_t>& wq, int64_t channels, const std::vector<float>& ws,
                                  const std::vector<float>& bias, float x_scale) {
  const int64_t per = static_cast<int64_t>(wq.size()) / channels;
  std::vector<double> b(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    double s = 0;
    for (int64_t i = 0; i < per; ++i) s += std::abs(static_cast<int>(wq[static_cast<size_t>(c * per + i)]));
    const double m = double(x_scale) * ws[ws.size() == 1 ? 0 : static_cast<size_t>(c)];
    b[static_cast<size_t>(c)] = kUlps * (m * 128 * s + (bias.empty() ? 0.0 : std::fabs(bias[static_cast<size_t>(c)])));
  }
  return b;
}

// ---- QConv ----

struct ConvCase {
  int64_t n = 1, c = 4, m = 8, group = 1;
  Dims spatial{9, 8};
  std::vector<int64_t> kernel{3, 3}, strides, dilations, pads;
  bool bias = true, per_channel = true, int8_out = true;
  Act act = Act::kNone;
  // After a hard swish, before the quantization: Mul by 0.8 and Add -0.1 (PP-LCNetV3's learnable
  // affine), which fold into the QConv as post_scale / post_shift.
  bool affine = false;

  std::string label() const {
    auto s = [](const std::vector<int64_t>& v) { return dimsToString(v); };
    return "QConv n" + std::to_string(n) + " c" + std::to_string(c) + " m" + std::to_string(m) + " g" +
           std::to_string(group) + " x" + s(spatial) + " k" + s(kernel) + " s" + s(strides) + " d" + s(dilations) +
           " p" + s(pads) + (bias ? " bias" : "") + (per_channel ? " per-channel" : " per-tensor") +
           (int8_out ? " int8" : " fp32") + " " + actName(act) + (affine ? " affine" : "");
  }
};

void runConvCase(const ConvCase& c, uint32_t seed) {
  QdqModel m;
  Dims x{c.n, c.c};
  x.insert(x.end(), c.spatial.begin(), c.spatial.end());
  const std::string xd = m.activation("X", x, kXScale, 1.1f, seed);
  Dims wd{c.m, c.c / c.group};
  wd.insert(wd.end(), c.kernel.begin(), c.kernel.end());
  const std::vector<int8_t> wq = randomInt8(volume(wd), seed + 1);
  const std::vector<float> ws = randomFloats(c.per_channel ? c.m : 1, 0.002f, 0.01f, seed + 2);
  std::vector<std::string> ins{xd, m.weight("W", wq, wd, ws, 0)};
  std::vector<float> bias;
  if (c.bias) {
    bias = randomFloats(c.m, -1.f, 1.f, seed + 3);
    ins.push_back(m.floats("B", bias, {c.m}));
  }
  auto& conv = m.node("Conv", ins, {"conv"});
  QdqModel::setInt(conv, "group", c.group);
  QdqModel::setInts(conv, "strides", c.strides);
  QdqModel::setInts(conv, "dilations", c.dilations);
  QdqModel::setInts(conv, "pads", c.pads);
  // Outputs of about +-0.2 * sqrt(depth): y_scale puts 3 sigma at 127, so a few saturate.
  const double depth = double(volume(wd)) / c.m;
  const float y_scale = static_cast<float>(3 * 0.2 * std::sqrt(depth) / 127);
  std::string y = m.activate("conv", c.act, -0.5f * y_scale * 60, 0.7f * y_scale * 127);
  if (c.affine) {
    m.node("Mul", {y, m.floats("post_c", {0.8f}, {})}, {"post_mul"});
    m.node("Add", {"post_mul", m.floats("post_d", {-0.1f}, {})}, {"post_add"});
    y = "post_add";
  }
  if (c.int8_out) y = m.quantize(y, y_scale, "yq");
  m.output(y, c.int8_out);
  std::vector<double> per_c = channelBounds(wq, c.m, ws, bias, kXScale);
  Dims out_dims;  // the bound of element i is its channel's: i / plane % m
  int64_t plane = 1;
  for (size_t d = 0; d < c.spatial.size(); ++d) {
    const int64_t span = (c.kernel[d] - 1) * (c.dilations.empty() ? 1 : c.dilations[d]) + 1;
    const int64_t pad = c.pads.empty() ? 0 : c.pads[d] + c.pads[d + c.spatial.size()];
    const int64_t stride = c.strides.empty() ? 1 : c.strides[d];
    plane *= (c.spatial[d] + pad - span) / stride + 1;
  }
  std::vector<double> bound(static_cast<size_t>(c.n * c.m * plane));
  // HardSwish: its slope (at most 1.5) times the convolution's bound, plus its own arithmetic in
  // oneDNN's form (a few ulps of the value, below one more bound).
  const double act_factor = c.act == Act::kHardSwish ? 2.5 : 1.0;
  for (size_t i = 0; i < bound.size(); ++i) bound[i] = act_factor * per_c[static_cast<size_t>(i / plane % c.m)];
  if (c.affine) {  // folded: no Mul or Add layer left
    auto e = m.build(nullptr);
    ASSERT_TRUE(e.ok()) << e.status().toString();
    for (const LayerInfo& l : (*e)->layers()) EXPECT_TRUE(l.op != "Mul" && l.op != "Add") << l.name << " " << l.op;
  }
  compareBackends(m, "QConv", bound, c.label());
}

TEST(CpuInt8, QConv2dMatrix) {
  uint32_t seed = 1;
  int variant = 0;
  for (int64_t k : {1, 3, 5})
    for (int g_kind = 0; g_kind < 3; ++g_kind)  // 1, 2, depthwise
      for (int64_t stride : {1, 2})
        for (int64_t dil : {1, 2})
          for (int pad_kind = 0; pad_kind < 2; ++pad_kind) {  // symmetric, asymmetric
            ConvCase c;
            c.group = g_kind == 0 ? 1 : g_kind == 1 ? 2 : c.c;
            c.m = g_kind == 2 ? c.c * 2 : 8;  // depthwise with a channel multiplier of 2
            c.kernel = {k, k};
            c.strides = {stride, stride};
            c.dilations = {dil, dil};
            const int64_t p = (k - 1) / 2 * dil;
            c.pads = pad_kind == 0 ? std::vector<int64_t>{p, p, p, p} : std::vector<int64_t>{p, 0, 0, p + 1};
            // The epilogue variants cycle through the geometry.
            c.act = static_cast<Act>(variant % 3);
            c.int8_out = (variant / 3) % 2 == 0;
            c.per_channel = (variant / 6) % 2 == 0;
            c.bias = variant % 5 != 4;
            c.n = variant % 4 == 3 ? 3 : 1;
            ++variant;
            runConvCase(c, seed += 10);
          }
}

TEST(CpuInt8, QConvEpilogues) {
  uint32_t seed = 1000;
  for (Act act : {Act::kNone, Act::kRelu, Act::kClip, Act::kHardSwish})
    for (bool int8_out : {true, false})
      for (bool per_channel : {true, false})
        for (bool bias : {true, false}) {
          ConvCase c;
          c.act = act;
          c.int8_out = int8_out;
          c.per_channel = per_channel;
          c.bias = bias;
          c.pads = {1, 1, 1, 1};
          runConvCase(c, seed += 10);
        }
  // The hard swish with the affine after it, folded into the int8-out QConv (oneDNN: one linear
  // post-op after the hard swish); a depthwise one too.
  for (int64_t group : {int64_t{1}, int64_t{4}}) {
    ConvCase c;
    c.act = Act::kHardSwish;
    c.affine = true;
    c.group = group;
    c.m = group == 1 ? 8 : 4;
    c.pads = {1, 1, 1, 1};
    runConvCase(c, seed += 10);
  }
}

TEST(CpuInt8, QConvShapes) {
  uint32_t seed = 2000;
  std::vector<ConvCase> cases;
  {  // wide channels (oneDNN's blocked/NHWC int8 kernels with full vectors)
    ConvCase c;
    c.c = 64, c.m = 64, c.spatial = {14, 14}, c.pads = {1, 1, 1, 1}, c.act = Act::kRelu, c.n = 2;
    cases.push_back(c);
    c.int8_out = false, c.act = Act::kNone;
    cases.push_back(c);
  }
  {  // depthwise, wide
    ConvCase c;
    c.c = 32, c.m = 32, c.group = 32, c.spatial = {10, 12}, c.pads = {1, 1, 1, 1}, c.strides = {2, 2};
    cases.push_back(c);
  }
  {  // pointwise, strided (ResNet's downsample)
    ConvCase c;
    c.c = 16, c.m = 32, c.kernel = {1, 1}, c.strides = {2, 2}, c.spatial = {8, 8}, c.int8_out = false;
    cases.push_back(c);
  }
  {  // rectangular kernel, odd channels, one input channel
    ConvCase c;
    c.c = 1, c.m = 5, c.kernel = {2, 4}, c.pads = {0, 1, 1, 2}, c.act = Act::kClip;
    cases.push_back(c);
    c.c = 3, c.m = 7, c.kernel = {7, 7}, c.strides = {2, 2}, c.pads = {3, 3, 3, 3}, c.spatial = {20, 17};
    cases.push_back(c);
  }
  {  // 1-D
    ConvCase c;
    c.spatial = {17}, c.kernel = {3}, c.pads = {1, 2}, c.strides = {2}, c.dilations = {1};
    cases.push_back(c);
    c.group = 4, c.m = 4, c.kernel = {5}, c.dilations = {2}, c.pads = {4, 4}, c.strides = {1}, c.int8_out = false;
    cases.push_back(c);
  }
  {  // 3-D
    ConvCase c;
    c.spatial = {5, 6, 4}, c.kernel = {3, 3, 3}, c.pads = {1, 1, 1, 1, 1, 1}, c.act = Act::kRelu;
    cases.push_back(c);
  }
  for (const ConvCase& c : cases) runConvCase(c, seed += 10);
}

// A chain QConv(relu, int8 out) -> QConv: the second reads a tensor the first made
// non-negative, which the cpu kernel reads as u8 (qlayer.h's nonNegativeInt8).
TEST(CpuInt8, QConvChainReadsReluOutputAsU8) {
  for (bool wide : {false, true}) {
    QdqModel m;
    const int64_t c = wide ? 32 : 4, hw = 9;
    const std::string xd = m.activation("X", {2, c, hw, hw}, kXScale, 1.1f, 7);
    const std::vector<int8_t> w1 = randomInt8(c * c * 9, 8), w2 = randomInt8(c * c * 9, 9);
    const std::vector<float> s1 = randomFloats(c, 0.002f, 0.01f, 10), s2 = randomFloats(c, 0.002f, 0.01f, 11);
    auto& conv1 = m.node("Conv", {xd, m.weight("W1", w1, {c, c, 3, 3}, s1, 0)}, {"c1"});
    QdqModel::setInts(conv1, "pads", {1, 1, 1, 1});
    m.node("Relu", {"c1"}, {"r1"});
    const float mid = static_cast<float>(0.6 * std::sqrt(9.0 * c) / 127);
    const std::string r1 = m.qdq("r1", mid);
    auto& conv2 = m.node("Conv", {r1, m.weight("W2", w2, {c, c, 3, 3}, s2, 0)}, {"c2"});
    QdqModel::setInts(conv2, "pads", {1, 1, 1, 1});
    m.output("c2", false);
    std::vector<double> per_c = channelBounds(w2, c, s2, {}, mid);
    std::vector<double> bound(static_cast<size_t>(2 * c * hw * hw));
    for (size_t i = 0; i < bound.size(); ++i) bound[i] = per_c[static_cast<size_t>(i / (hw * hw) % c)];
    compareBackends(m, "QConv", bound, wide ? "relu chain, 32 channels" : "relu chain, 4 channels", 2);
  }
}

// ---- QGemm ----

struct GemmCase {
  int64_t m = 5, k = 24, n = 7;
  bool trans_a = false, trans_b = false, bias = true, per_channel = true, int8_out = true;
  Act act = Act::kNone;
  bool matmul = false;   // MatMul with a constant B [K, N] (A may have more dims)
  Dims a_lead;           // MatMul: A's extra leading dims
  std::string label() const {
    return std::string(matmul ? "QGemm(MatMul)" : "QGemm") + " m" + std::to_string(m) + " k" + std::to_string(k) +
           " n" + std::to_string(n) + (trans_a ? " transA" : "") + (trans_b ? " transB" : "") +
           (bias ? " bias" : "") + (per_channel ? " per-channel" : " per-tensor") + (int8_out ? " int8" : " fp32") +
           " " + actName(act) + " lead" + dimsToString(a_lead);
  }
};

void runGemmCase(const GemmCase& g, uint32_t seed) {
  QdqModel m;
  Dims ad = g.trans_a ? Dims{g.k, g.m} : Dims{g.m, g.k};
  ad.insert(ad.begin(), g.a_lead.begin(), g.a_lead.end());
  const std::string a = m.activation("A", ad, kXScale, 1.1f, seed);
  const Dims bd = g.trans_b ? Dims{g.n, g.k} : Dims{g.k, g.n};
  const std::vector<int8_t> bq = randomInt8(g.n * g.k, seed + 1);
  const std::vector<float> ws = randomFloats(g.per_channel ? g.n : 1, 0.002f, 0.01f, seed + 2);
  std::vector<std::string> ins{a, m.weight("Bw", bq, bd, ws, g.trans_b ? 0 : 1)};
  std::vector<float> bias;
  if (g.bias && !g.matmul) {
    bias = randomFloats(g.n, -1.f, 1.f, seed + 3);
    ins.push_back(m.floats("C", bias, {g.n}));
  }
  auto& node = m.node(g.matmul ? "MatMul" : "Gemm", ins, {"mm"});
  if (g.trans_a) QdqModel::setInt(node, "transA", 1);
  if (g.trans_b) QdqModel::setInt(node, "transB", 1);
  const float y_scale = static_cast<float>(3 * 0.2 * std::sqrt(double(g.k)) / 127);
  std::string y = m.activate("mm", g.act, -0.5f * y_scale * 60, 0.7f * y_scale * 127);
  if (g.int8_out) y = m.quantize(y, y_scale, "yq");
  m.output(y, g.int8_out);
  // Bounds per column j of B: sum|B[:, j]| (B stored [N, K] with transB, else [K, N]).
  std::vector<int8_t> rows(static_cast<size_t>(g.n * g.k));  // B^T as [N, K]
  for (int64_t j = 0; j < g.n; ++j)
    for (int64_t kk = 0; kk < g.k; ++kk)
      rows[static_cast<size_t>(j * g.k + kk)] = g.trans_b ? bq[static_cast<size_t>(j * g.k + kk)]
                                                          : bq[static_cast<size_t>(kk * g.n + j)];
  std::vector<double> per_c = channelBounds(rows, g.n, ws, bias, kXScale);
  std::vector<double> bound(static_cast<size_t>(volume(g.a_lead) * g.m * g.n));
  for (size_t i = 0; i < bound.size(); ++i) bound[i] = per_c[i % static_cast<size_t>(g.n)];
  compareBackends(m, "QGemm", bound, g.label());
}

TEST(CpuInt8, QGemmMatrix) {
  uint32_t seed = 3000;
  int variant = 0;
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true})
      for (bool bias : {false, true})
        for (bool int8_out : {true, false})
          for (Act act : {Act::kNone, Act::kRelu, Act::kClip}) {
            GemmCase g;
            g.trans_a = trans_a, g.trans_b = trans_b, g.bias = bias, g.int8_out = int8_out, g.act = act;
            g.per_channel = variant++ % 2 == 0;
            runGemmCase(g, seed += 10);
          }
  GemmCase fc;  // a fully connected layer (ResNet's head shape, smaller)
  fc.m = 8, fc.k = 512, fc.n = 100, fc.trans_b = true, fc.int8_out = false;
  runGemmCase(fc, seed += 10);
  fc.int8_out = true, fc.act = Act::kRelu;
  runGemmCase(fc, seed += 10);
}

TEST(CpuInt8, QGemmFromMatMulWithConstantWeights) {
  uint32_t seed = 4000;
  for (Dims lead : {Dims{}, Dims{3}, Dims{2, 2}})
    for (bool int8_out : {true, false}) {
      GemmCase g;
      g.matmul = true, g.bias = false, g.a_lead = lead, g.int8_out = int8_out, g.m = 6, g.k = 40, g.n = 9;
      runGemmCase(g, seed += 10);
    }
}

// ---- QMatMul ----

void runMatMulCase(const Dims& ad, const Dims& bd, bool int8_out, Act act, uint32_t seed) {
  QdqModel m;
  const float b_scale = 0.8f / 127;
  const std::string a = m.activation("A", ad, kXScale, 1.1f, seed);
  const std::string b = m.activation("B", bd, b_scale, 0.9f, seed + 1);
  m.node("MatMul", {a, b}, {"mm"});
  const int64_t k = ad.back();
  const float y_scale = static_cast<float>(3 * 0.25 * std::sqrt(double(k)) / 127);
  std::string y = m.activate("mm", act, -0.5f * y_scale * 60, 0.7f * y_scale * 127);
  if (int8_out) y = m.quantize(y, y_scale, "yq");
  m.output(y, int8_out);
  // |x_q|, |b_q| <= 128: S <= a_scale * b_scale * 128 * 128 * K.
  const double s = double(kXScale) * b_scale * 128 * 128 * double(k);
  Dims od;  // numpy matmul dims
  {
    Dims x = ad, w = bd;
    if (x.size() == 1) x.insert(x.begin(), 1);
    if (w.size() == 1) w.push_back(1);
    const size_t r = std::max(x.size(), w.size());
    x.insert(x.begin(), r - x.size(), 1);
    w.insert(w.begin(), r - w.size(), 1);
    for (size_t i = 0; i + 2 < r; ++i) od.push_back(std::max(x[i], w[i]));
    od.push_back(x[r - 2]);
    od.push_back(w[r - 1]);
  }
  std::vector<double> bound(static_cast<size_t>(volume(od)), kUlps * s);
  compareBackends(m, "QMatMul", bound,
                  "QMatMul " + dimsToString(ad) + " x " + dimsToString(bd) + (int8_out ? " int8 " : " fp32 ") +
                      actName(act));
}

TEST(CpuInt8, QMatMulBatchedAndBroadcast) {
  uint32_t seed = 5000;
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{5, 16}, {16, 7}},        {{3, 5, 16}, {3, 16, 7}},  {{2, 1, 4, 8}, {3, 8, 6}},
      {{4, 8}, {2, 8, 5}},       {{16}, {16, 7}},           {{5, 16}, {16}},
      {{2, 3, 6, 32}, {2, 3, 32, 6}},
  };
  int variant = 0;
  for (const auto& [ad, bd] : shapes) {
    runMatMulCase(ad, bd, variant % 2 == 0, static_cast<Act>(variant % 3), seed += 10);
    ++variant;
  }
  for (Act act : {Act::kNone, Act::kRelu, Act::kClip})
    for (bool int8_out : {true, false}) runMatMulCase({2, 6, 24}, {2, 24, 10}, int8_out, act, seed += 10);
}

// ---- QuantizeLinear / DequantizeLinear (qquantize.cpp): bit-exact with the reference ----

// x -> Q(scale, zp) [-> DQ] -> Y, over values that hit every branch: ties (k + 0.5 steps, both
// parities), saturation both ways, infinities, NaN, -0, and random ones.
void runQdqCase(bool uint8, int zp, bool dequantize, int64_t n, uint32_t seed) {
  SCOPED_TRACE(std::string(uint8 ? "uint8" : "int8") + " zp " + std::to_string(zp) + (dequantize ? " Q->DQ" : " Q") +
               " n " + std::to_string(n));
  const float scale = 0.0625f;  // a power of two: k + 0.5 steps are exact ties
  std::vector<float> x = randomFloats(n, -12.f, 12.f, seed);
  const float special[] = {0.5f * scale, 1.5f * scale, 2.5f * scale, -0.5f * scale, -1.5f * scale, -2.5f * scale,
                           1e9f, -1e9f, std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(), -0.f,
                           126.5f * scale, -127.5f * scale, 7.9999f, -8.0001f};
  for (size_t i = 0; i < sizeof(special) / sizeof(special[0]) && i * 7 < x.size(); ++i) x[i * 7] = special[i];
  onnx::ModelProto model;
  model.set_ir_version(8);
  auto* os = model.add_opset_import();
  os->set_domain("");
  os->set_version(13);
  auto* g = model.mutable_graph();
  g->set_name("qdq");
  auto* in = g->add_input();
  in->set_name("X");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(n);
  auto* s = g->add_initializer();
  s->set_name("s");
  s->set_data_type(onnx::TensorProto::FLOAT);
  s->add_float_data(scale);
  auto* z = g->add_initializer();
  z->set_name("z");
  z->set_data_type(uint8 ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8);
  z->add_int32_data(zp);
  auto* q = g->add_node();
  q->set_op_type("QuantizeLinear");
  q->set_name("q");
  for (const char* i : {"X", "s", "z"}) q->add_input(i);
  q->add_output(dequantize ? "xq" : "Y");
  if (dequantize) {
    auto* d = g->add_node();
    d->set_op_type("DequantizeLinear");
    d->set_name("dq");
    for (const char* i : {"xq", "s", "z"}) d->add_input(i);
    d->add_output("Y");
  }
  auto* out = g->add_output();
  out->set_name("Y");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(
      dequantize ? onnx::TensorProto::FLOAT : (uint8 ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8));
  std::string bytes;
  ASSERT_TRUE(model.SerializeToString(&bytes));
  auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
  ASSERT_TRUE(net.ok()) << net.status().toString();
  std::vector<std::vector<unsigned char>> results;
  for (const char* backend : {"reference", static_cast<const char*>(nullptr)}) {
    std::shared_ptr<Engine> e;
    {
      BackendEnv env(backend);
      auto built = buildEngine(**net, BuilderConfig{});
      ASSERT_TRUE(built.ok()) << built.status().toString();
      e = *built;
    }
    for (const LayerInfo& l : e->layers()) EXPECT_EQ(l.backend, backend ? "reference" : "cpu") << l.name;
    auto ctx = e->createExecutionContext();
    ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
    ASSERT_TRUE((*ctx)->setInputShape("X", {n}).ok());
    ASSERT_TRUE((*ctx)->setTensorAddress("X", x.data()).ok());
    std::vector<unsigned char> y(static_cast<size_t>(n) * (dequantize ? 4 : 1), 0xa5);  // poisoned
    ASSERT_TRUE((*ctx)->setTensorAddress("Y", y.data()).ok());
    ASSERT_TRUE((*ctx)->enqueue().ok());
    results.push_back(std::move(y));
  }
  EXPECT_TRUE(results[0] == results[1]) << "the cpu Q/DQ is not bit-exact with the reference";
}

TEST(CpuInt8, QuantizeDequantizeBitExact) {
  uint32_t seed = 6000;
  for (bool uint8 : {false, true})
    for (int zp : {0, 5})
      for (bool dq : {false, true})
        for (int64_t n : {int64_t{37}, int64_t{100003}}) runQdqCase(uint8, uint8 ? zp + 120 : zp, dq, n, seed += 10);
}

// A ResNet bottleneck's tail, folded and run in the cpu backend's channels-last region:
// QConv(relu, int8) -> QConv(float) -> Add(shortcut) -> Relu -> Q. Against the reference the
// int8 output may differ by one step where the float sum sits within ulps of a rounding tie.
TEST(CpuInt8, ResidualBlockInChannelsLastRegion) {
  QdqModel m;
  const int64_t c = 16, hw = 10;
  const std::string xd = m.activation("X", {2, c, hw, hw}, kXScale, 1.1f, 70);
  const std::vector<int8_t> w1 = randomInt8(c * c * 9, 71), w2 = randomInt8(c * c, 72);
  const std::vector<float> s1 = randomFloats(c, 0.002f, 0.01f, 73), s2 = randomFloats(c, 0.002f, 0.01f, 74);
  auto& conv1 = m.node("Conv", {xd, m.weight("W1", w1, {c, c, 3, 3}, s1, 0), m.floats("B1", randomFloats(c, -1, 1, 75), {c})},
                       {"c1"});
  QdqModel::setInts(conv1, "pads", {1, 1, 1, 1});
  m.node("Relu", {"c1"}, {"r1"});
  const std::string r1 = m.qdq("r1", static_cast<float>(0.6 * std::sqrt(9.0 * c) / 127));
  m.node("Conv", {r1, m.weight("W2", w2, {c, c, 1, 1}, s2, 0)}, {"c2"});
  m.node("Add", {"c2", "X"}, {"sum"});
  m.node("Relu", {"sum"}, {"r2"});
  m.quantize("r2", 0.02f, "yq");
  m.output("yq", true);
  compareBackends(m, "QConv", {}, "residual block", 2);
  // The tail Add -> Relu -> Q is one AddQuantize on the cpu backend (passes/cpu_add_quantize.cpp).
  auto e = m.build(nullptr);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  int fused = 0;
  for (const LayerInfo& l : (*e)->layers()) fused += l.op == "AddQuantize" && l.backend == "cpu";
  EXPECT_EQ(fused, 1);
}

// The next block's QConv reads the AddQuantize output (relu: non-negative, read as u8 by oneDNN).
// The int8 tail is exact on both backends up to the float QConv before it, whose few-ulp
// differences have not moved any int8 value in this case (the test is deterministic), so the
// last convolution must agree within its float bound.
TEST(CpuInt8, QConvReadsAddQuantizeOutput) {
  QdqModel m;
  const int64_t c = 16, hw = 10;
  const std::string xd = m.activation("X", {2, c, hw, hw}, kXScale, 1.1f, 100);
  auto& conv = m.node("Conv", {xd, m.weight("W1", randomInt8(c * c * 9, 101), {c, c, 3, 3},
                                           randomFloats(c, 0.002f, 0.01f, 102), 0)},
                      {"c1"});
  QdqModel::setInts(conv, "pads", {1, 1, 1, 1});
  m.node("Add", {"c1", "X"}, {"sum"});
  m.node("Relu", {"sum"}, {"r"});
  const float r_scale = 0.02f;
  const std::string rd = m.qdq("r", r_scale);
  const std::vector<int8_t> w3 = randomInt8(c * c, 103);
  const std::vector<float> s3 = randomFloats(c, 0.002f, 0.01f, 104);
  m.node("Conv", {rd, m.weight("W3", w3, {c, c, 1, 1}, s3, 0)}, {"c3"});
  m.output("c3", false);
  std::vector<double> per_c = channelBounds(w3, c, s3, {}, r_scale);
  std::vector<double> bound(static_cast<size_t>(2 * c * hw * hw));
  for (size_t i = 0; i < bound.size(); ++i) bound[i] = per_c[static_cast<size_t>(i / (hw * hw) % c)];
  compareBackends(m, "QConv", bound, "QConv after AddQuantize", 2);
  auto e = m.build(nullptr);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  int fused = 0;
  for (const LayerInfo& l : (*e)->layers()) fused += l.op == "AddQuantize";
  EXPECT_EQ(fused, 1);
}

// The same tail whose float value is also read elsewhere (ResNet's next residual; here a graph
// output): AddQuantize keeps it as a second output. Against the reference: the int8 output within
// one step, the float one within the float bound of the QConv feeding the Add (Add and Relu are
// exact and 1-Lipschitz).
TEST(CpuInt8, AddQuantizeKeepsTheFloatValueForOtherReaders) {
  QdqModel m;
  const int64_t c = 16, hw = 10;
  const std::string xd = m.activation("X", {2, c, hw, hw}, kXScale, 1.1f, 80);
  const std::vector<int8_t> w = randomInt8(c * c * 9, 81);
  const std::vector<float> ws = randomFloats(c, 0.002f, 0.01f, 82);
  auto& conv = m.node("Conv", {xd, m.weight("W", w, {c, c, 3, 3}, ws, 0)}, {"c1"});
  QdqModel::setInts(conv, "pads", {1, 1, 1, 1});
  m.node("Add", {"c1", "X"}, {"sum"});
  m.node("Relu", {"sum"}, {"r"});
  m.quantize("r", 0.02f, "yq");
  m.output("yq", true);
  m.extraOutput("r");
  compareBackends(m, "QConv", {}, "AddQuantize with a float reader", 1);
  std::vector<double> per_c = channelBounds(w, c, ws, {}, kXScale);
  auto run = [&](const char* backend) {
    auto e = m.build(backend);
    EXPECT_TRUE(e.ok()) << e.status().toString();
    Dims d;
    auto y = m.run(*e, 0x5a, &d, nullptr);
    EXPECT_TRUE(y.ok()) << y.status().toString();
    int fused = 0;
    for (const LayerInfo& l : (*e)->layers()) fused += l.op == "AddQuantize";
    EXPECT_EQ(fused, backend ? 0 : 1);
    return m.extraValues();
  };
  const std::vector<float> ref = run("reference"), cpu = run(nullptr);
  ASSERT_EQ(ref.size(), cpu.size());
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(double(cpu[i]) - ref[i]) <= per_c[i / (hw * hw) % c] + 1e-7 * std::fabs(ref[i]))) ++bad;
  EXPECT_EQ(bad, 0) << bad << " float values differ";
}

// Conv -> Relu -> MaxPool -> Q (a ResNet stem): the builder moves the Q above the pool
// (passes/quantize_before_maxpool.h), so the QConv requantizes and the pool runs on int8. The
// swap is exact: on the reference backend the result equals, byte for byte, the same graph whose
// pooled float value is also a graph output (which keeps the pool in float, unswapped).
TEST(CpuInt8, StemMaxPoolRunsOnInt8AfterTheQuantize) {
  auto model = [](bool keep_float) {
    auto m = std::make_unique<QdqModel>();
    const int64_t c = 8;
    const std::string xd = m->activation("X", {2, 3, 20, 18}, kXScale, 1.1f, 90);
    auto& conv = m->node("Conv", {xd, m->weight("W", randomInt8(c * 3 * 49, 91), {c, 3, 7, 7},
                                               randomFloats(c, 0.002f, 0.01f, 92), 0)},
                         {"c1"});
    QdqModel::setInts(conv, "pads", {3, 3, 3, 3});
    QdqModel::setInts(conv, "strides", {2, 2});
    m->node("Relu", {"c1"}, {"r1"});
    auto& pool = m->node("MaxPool", {"r1"}, {"p1"});
    QdqModel::setInts(pool, "kernel_shape", {3, 3});
    QdqModel::setInts(pool, "strides", {2, 2});
    QdqModel::setInts(pool, "pads", {1, 1, 1, 1});
    m->quantize("p1", static_cast<float>(0.6 * std::sqrt(147.0) / 127), "yq");
    m->output("yq", true);
    if (keep_float) m->extraOutput("p1");
    return m;
  };
  auto swapped = model(false), plain = model(true);
  compareBackends(*swapped, "QConv", {}, "stem with MaxPool", 1);
  auto precisionOfPool = [](const Engine& e) {
    for (const LayerInfo& l : e.layers())
      if (l.op == "MaxPool") return l.precision;
    return std::string("none");
  };
  auto a = swapped->build("reference"), b = plain->build("reference"), c = swapped->build(nullptr);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(precisionOfPool(**a), "int8");
  EXPECT_EQ(precisionOfPool(**b), "fp32");
  for (const LayerInfo& l : (*c)->layers())
    if (l.op == "MaxPool") EXPECT_EQ(l.backend, "cpu");
  Dims da, db;
  auto ya = swapped->run(*a, 0x5a, &da, nullptr), yb = plain->run(*b, 0xa5, &db, nullptr);
  ASSERT_TRUE(ya.ok() && yb.ok());
  EXPECT_EQ(da, db);
  EXPECT_EQ(*ya, *yb) << "quantizing before the pool changed the result";
}

// The stem without its Relu: the pooled int8 values are negative as often as not, so a pad that
// took part in the int8 max (read as 0 or as the zero point) would show where the float pool
// ignored it. The int8 pool runs channels-last after the QConv (oneDNN pooling).
TEST(CpuInt8, MaxPoolAfterTheQuantizeIgnoresPadsOnNegativeValues) {
  auto model = [](bool keep_float) {
    auto m = std::make_unique<QdqModel>();
    const int64_t c = 8;
    const std::string xd = m->activation("X", {2, 3, 15, 13}, kXScale, 1.1f, 93);
    // A negative bias: most pooled values are negative.
    auto& conv = m->node("Conv", {xd, m->weight("W", randomInt8(c * 3 * 9, 94), {c, 3, 3, 3},
                                               randomFloats(c, 0.002f, 0.01f, 95), 0),
                                  m->floats("B", randomFloats(c, -3.f, -1.f, 96), {c})},
                         {"c1"});
    QdqModel::setInts(conv, "pads", {1, 1, 1, 1});
    auto& pool = m->node("MaxPool", {"c1"}, {"p1"});
    QdqModel::setInts(pool, "kernel_shape", {3, 3});
    QdqModel::setInts(pool, "strides", {2, 2});
    QdqModel::setInts(pool, "pads", {1, 1, 1, 1});
    m->quantize("p1", static_cast<float>(0.5 * std::sqrt(27.0) / 127), "yq");
    m->output("yq", true);
    if (keep_float) m->extraOutput("p1");
    return m;
  };
  auto swapped = model(false), plain = model(true);
  compareBackends(*swapped, "QConv", {}, "conv + MaxPool, no Relu", 1);
  auto a = swapped->build("reference"), b = plain->build("reference"), c = swapped->build(nullptr);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  int pools = 0;
  for (const LayerInfo& l : (*c)->layers())
    if (l.op == "MaxPool") {
      ++pools;
      EXPECT_EQ(l.backend, "cpu");
      EXPECT_EQ(l.precision, "int8");
    }
  EXPECT_EQ(pools, 1);
  Dims da, db;
  auto ya = swapped->run(*a, 0x5a, &da, nullptr), yb = plain->run(*b, 0xa5, &db, nullptr);
  ASSERT_TRUE(ya.ok() && yb.ok());
  EXPECT_EQ(da, db);
  EXPECT_EQ(*ya, *yb) << "quantizing before the pool changed the result";
  int negative = 0;
  for (float v : *yb) negative += v < 0;
  EXPECT_GT(negative, static_cast<int>(yb->size() / 10)) << "the case should pool negative values";
}

#endif  // QRT_HAVE_DNNL

}  // namespace
}  // namespace qrt
