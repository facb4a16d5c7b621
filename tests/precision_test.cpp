// Precision per layer (src/builder/precision.cpp): bf16 layers on the cpu backend and fp16/bf16
// layers on the reference backend against float64 computations on the rounded operands, the
// constraints (obey fails naming the layer, prefer falls back), layer precisions by name over
// "*", and the reasons and timings the engine records.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backends/cpu/isa.h"
#include "builder/precision.h"
#include "core/half.h"
#include "core/status_macros.h"
#include "model_builder.h"
#include "qrt/qrt.h"

namespace qrt {
namespace {

using test::OneNode;
using test::Tensor;

float roundTo(DataType t, float v) {
  return t == DataType::kHalf ? halfToFloat(floatToHalf(v)) : bfloat16ToFloat(floatToBFloat16(v));
}
std::vector<double> rounded(const Tensor& t, DataType d) {
  std::vector<double> r;
  for (float v : t.values) r.push_back(roundTo(d, v));
  return r;
}

Result<std::vector<float>> runY(const Engine& engine, const std::vector<Tensor>& feeds) {
  QRT_ASSIGN_OR_RETURN(auto ctx, engine.createExecutionContext());
  QRT_ASSIGN_OR_RETURN(test::BoundIO io, test::bindFeeds(engine, *ctx, feeds));
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  std::vector<float> y(io.y.size() / sizeof(float));
  std::memcpy(y.data(), io.y.data(), io.y.size());
  return y;
}

BuilderConfig obeyAll(Precision p) {
  BuilderConfig c;
  c.setLayerPrecision("*", p);
  c.setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  return c;
}

const LayerInfo* layerNamed(const std::vector<LayerInfo>& ls, const std::string& name) {
  for (const LayerInfo& l : ls)
    if (l.name == name) return &l;
  return nullptr;
}

// Conv [2,8,10,10] * [16,8,3,3] + B, pads 1, from operands rounded to `t`, in float64.
std::vector<double> convRef(const Tensor& x, const Tensor& w, const Tensor& b, DataType t) {
  auto xr = rounded(x, t), wr = rounded(w, t), br = rounded(b, t);
  std::vector<double> y(2 * 16 * 10 * 10);
  for (int n = 0; n < 2; ++n)
    for (int m = 0; m < 16; ++m)
      for (int i = 0; i < 10; ++i)
        for (int j = 0; j < 10; ++j) {
          double acc = br[m];
          for (int c = 0; c < 8; ++c)
            for (int ki = 0; ki < 3; ++ki)
              for (int kj = 0; kj < 3; ++kj) {
                int ii = i + ki - 1, jj = j + kj - 1;
                if (ii < 0 || ii >= 10 || jj < 0 || jj >= 10) continue;
                acc += xr[((n * 8 + c) * 10 + ii) * 10 + jj] * wr[((m * 8 + c) * 3 + ki) * 3 + kj];
              }
          y[((n * 16 + m) * 10 + i) * 10 + j] = acc;
        }
  return y;
}

struct ConvCase {
  Tensor x = test::randomTensor("X", {2, 8, 10, 10}, 1);
  Tensor w = test::randomTensor("W", {16, 8, 3, 3}, 2);
  Tensor b = test::randomTensor("B", {16}, 3);
  OneNode model() const {
    OneNode m("Conv");
    m.input(x).constant(w).constant(b).ints("pads", {1, 1, 1, 1});
    return m;
  }
};

// Every output is a `t` value (the layer stored its result in t), within one rounding of the
// float64 result (plus f32 accumulation-order slack).
void expectRoundedResult(const std::vector<float>& y, const std::vector<double>& ref, DataType t) {
  ASSERT_EQ(y.size(), ref.size());
  const double unit = t == DataType::kHalf ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_EQ(y[i], roundTo(t, y[i])) << "element " << i << " is not a " << dataTypeName(t) << " value";
    EXPECT_NEAR(y[i], ref[i], unit * std::abs(ref[i]) + 1e-4) << "element " << i;
  }
}

TEST(Precision, Bf16ConvOnCpuBackend) {
  ConvCase c;
  auto engine = c.model().build(nullptr, obeyAll(Precision::kBF16));
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const auto l_layers = (*engine)->layers();
  const LayerInfo* l = layerNamed(l_layers, "node");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->precision, "bf16");
  EXPECT_EQ(l->backend, "cpu");
  EXPECT_NE(l->reason.find("layer precision bf16 (obey)"), std::string::npos) << l->reason;
  auto y = runY(**engine, c.model().feeds());
  ASSERT_TRUE(y.ok()) << y.status().message();
  expectRoundedResult(*y, convRef(c.x, c.w, c.b, DataType::kBFloat16), DataType::kBFloat16);
}

TEST(Precision, Fp16AndBf16ConvOnReferenceBackend) {
  ConvCase c;
  for (Precision p : {Precision::kFP16, Precision::kBF16}) {
    auto engine = c.model().build("reference", obeyAll(p));
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    const auto l_layers = (*engine)->layers();
  const LayerInfo* l = layerNamed(l_layers, "node");
    ASSERT_TRUE(l);
    EXPECT_EQ(l->precision, precisionName(p));
    EXPECT_EQ(l->backend, "reference");
    auto y = runY(**engine, c.model().feeds());
    ASSERT_TRUE(y.ok()) << y.status().message();
    DataType t = p == Precision::kFP16 ? DataType::kHalf : DataType::kBFloat16;
    expectRoundedResult(*y, convRef(c.x, c.w, c.b, t), t);
  }
}

// Gemm with transB and a bias row (the fully connected layer), bf16 on the cpu backend.
TEST(Precision, Bf16GemmOnCpuBackend) {
  Tensor a = test::randomTensor("A", {5, 64}, 4), b = test::randomTensor("B", {24, 64}, 5),
         bias = test::randomTensor("C", {24}, 6);
  OneNode m("Gemm");
  m.input(a).constant(b).constant(bias).integer("transB", 1);
  auto engine = m.build(nullptr, obeyAll(Precision::kBF16));
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const auto l_layers = (*engine)->layers();
  const LayerInfo* l = layerNamed(l_layers, "node");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->precision, "bf16");
  EXPECT_EQ(l->backend, "cpu");
  auto y = runY(**engine, m.feeds());
  ASSERT_TRUE(y.ok()) << y.status().message();
  auto ar = rounded(a, DataType::kBFloat16), br = rounded(b, DataType::kBFloat16), cr = rounded(bias, DataType::kBFloat16);
  std::vector<double> ref(5 * 24);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 24; ++j) {
      double acc = cr[j];
      for (int k = 0; k < 64; ++k) acc += ar[i * 64 + k] * br[j * 64 + k];
      ref[i * 24 + j] = acc;
    }
  expectRoundedResult(*y, ref, DataType::kBFloat16);
}

// A named layer's precision wins over "*"; the Casts between them keep the model's fp32 I/O.
TEST(Precision, LayerPrecisionsByNameOverWildcard) {
  Tensor a = test::randomTensor("A", {3, 16}, 7), b1 = test::randomTensor("B1", {16, 16}, 8),
         b2 = test::randomTensor("B2", {16, 4}, 9);
  OneNode m("MatMul");
  m.input(a).constant(b1).then("MatMul").constant(b2);
  BuilderConfig config = obeyAll(Precision::kFP16);
  auto probe = m.build(nullptr);
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  ASSERT_EQ((*probe)->layers().size(), 2u);
  const std::string first = (*probe)->layers()[0].name, second = (*probe)->layers()[1].name;
  config.setLayerPrecision(first, Precision::kFP32);
  auto engine = m.build(nullptr, config);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto layers = (*engine)->layers();
  ASSERT_TRUE(layerNamed(layers, first) && layerNamed(layers, second));
  EXPECT_EQ(layerNamed(layers, first)->precision, "fp32");
  EXPECT_EQ(layerNamed(layers, second)->precision, "fp16");
  EXPECT_EQ(layerNamed(layers, second)->backend, "reference");
  // Y = fp16(fp16(A B1) B2): the first product in fp32, rounded when cast to fp16.
  auto y = runY(**engine, m.feeds());
  ASSERT_TRUE(y.ok()) << y.status().message();
  std::vector<double> h(3 * 16), ref(3 * 4);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 16; ++j) {
      double acc = 0;
      for (int k = 0; k < 16; ++k) acc += static_cast<double>(a.values[i * 16 + k]) * b1.values[k * 16 + j];
      h[i * 16 + j] = roundTo(DataType::kHalf, static_cast<float>(acc));
    }
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      double acc = 0;
      for (int k = 0; k < 16; ++k) acc += h[i * 16 + k] * roundTo(DataType::kHalf, b2.values[k * 4 + j]);
      ref[i * 4 + j] = acc;
    }
  expectRoundedResult(*y, ref, DataType::kHalf);
}

// --layer-precisions names: a fused layer is named by its own name or by the names it joins; an
// INT8 build keeps the named layers (and the names a fused name joins) out of INT8 only under
// prefer / obey, and "*" takes nothing out of INT8.
TEST(Precision, LayerNamesAndInt8Exclusion) {
  EXPECT_TRUE(layerNameMatches("conv1", "conv1"));
  EXPECT_TRUE(layerNameMatches("conv1 + bn1 + relu1", "conv1"));
  EXPECT_TRUE(layerNameMatches("conv1 + bn1 + relu1", "conv1 + bn1"));
  EXPECT_TRUE(layerNameMatches("conv1 + bn1 + relu1", "relu1"));
  EXPECT_FALSE(layerNameMatches("conv1 + bn1", "conv1 + bn1 + relu1"));
  EXPECT_FALSE(layerNameMatches("conv10 + relu10", "conv1"));
  EXPECT_FALSE(layerNameMatches("conv1", "conv"));

  BuilderConfig none;
  none.setLayerPrecision("conv1 + bn1", Precision::kFP32);
  EXPECT_TRUE(layersKeptOutOfInt8(none).empty()) << "without constraints INT8 stays allowed";
  BuilderConfig prefer = none;
  prefer.setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
  prefer.setLayerPrecision("*", Precision::kFP16);
  prefer.setLayerPrecision("fc", Precision::kFP16);
  EXPECT_EQ(layersKeptOutOfInt8(prefer), (std::set<std::string>{"conv1 + bn1", "conv1", "bn1", "fc"}));
}

TEST(Precision, ConstraintErrors) {
  ConvCase c;
  BuilderConfig unknown = obeyAll(Precision::kFP16);
  unknown.setLayerPrecision("no_such_layer", Precision::kFP32);
  auto e1 = c.model().build(nullptr, unknown);
  ASSERT_FALSE(e1.ok());
  EXPECT_NE(e1.status().message().find("'no_such_layer'"), std::string::npos) << e1.status().message();

  // An integer layer has nothing to run in fp16: obey fails naming it, prefer warns and builds.
  OneNode add("Add");
  add.input(test::randomIntTensor("A", {4}, DataType::kInt32, -5, 5, 1))
      .input(test::randomIntTensor("B", {4}, DataType::kInt32, -5, 5, 2))
      .outputType(DataType::kInt32);
  BuilderConfig obey;
  obey.setLayerPrecision("node", Precision::kFP16);
  obey.setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  auto e2 = add.build(nullptr, obey);
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.status().message().find("'node'"), std::string::npos) << e2.status().message();
  EXPECT_NE(e2.status().message().find("no floating-point values"), std::string::npos) << e2.status().message();
  BuilderConfig prefer;
  prefer.setLayerPrecision("node", Precision::kFP16);
  prefer.setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
  auto e3 = add.build(nullptr, prefer);
  ASSERT_TRUE(e3.ok()) << e3.status().message();
}

// --fp16 / --bf16 without constraints: the layer says why it kept fp32, or what it timed.
TEST(Precision, FlagsRecordReasonsAndTimings) {
  ConvCase c;
  BuilderConfig fp16;
  fp16.setFlag(BuilderFlag::kFP16);
  auto e16 = c.model().build(nullptr, fp16);
  ASSERT_TRUE(e16.ok()) << e16.status().message();
  const auto l16_layers = (*e16)->layers();
  const LayerInfo* l16 = layerNamed(l16_layers, "node");
  ASSERT_TRUE(l16);
  EXPECT_EQ(l16->precision, "fp32");
  if (!cpu::hasNativeFp16())
    EXPECT_EQ(l16->reason, "fp16 allowed; this CPU has no FP16 arithmetic: fp32 kernel kept");

  BuilderConfig bf16;
  bf16.setFlag(BuilderFlag::kBF16);
  auto eb = c.model().build(nullptr, bf16);
  ASSERT_TRUE(eb.ok()) << eb.status().message();
  const auto lb_layers = (*eb)->layers();
  const LayerInfo* lb = layerNamed(lb_layers, "node");
  ASSERT_TRUE(lb);
  if (cpu::hasNativeBf16()) {
    ASSERT_EQ(lb->timings_ms.size(), 2u) << lb->reason;
    EXPECT_EQ(lb->timings_ms[0].first, "cpu fp32");
    EXPECT_EQ(lb->timings_ms[1].first, "cpu bf16");
    // The faster kernel, unless its gain did not pay for the Casts around it (then it says so).
    // bf16 is taken only when at least 10% faster than fp32 (precision.cpp, kMinLowPrecisionGain).
    const bool bf16_won = lb->timings_ms[1].second <= 0.9 * lb->timings_ms[0].second;
    const bool reverted = lb->reason.find("reverted to fp32") != std::string::npos;
    EXPECT_EQ(lb->precision, bf16_won && !reverted ? "bf16" : "fp32") << lb->reason;
    EXPECT_TRUE(!reverted || bf16_won) << lb->reason;
    EXPECT_NE(lb->reason.find("timed cpu fp32"), std::string::npos) << lb->reason;
  } else {
    EXPECT_EQ(lb->precision, "fp32");
    EXPECT_NE(lb->reason.find("this CPU has no BF16 arithmetic"), std::string::npos) << lb->reason;
  }
  // The result is right either way (bf16 tolerance covers both).
  auto y = runY(**eb, c.model().feeds());
  ASSERT_TRUE(y.ok()) << y.status().message();
  auto ref = convRef(c.x, c.w, c.b, DataType::kBFloat16);
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR((*y)[i], ref[i], 0.02 * std::abs(ref[i]) + 0.05) << i;
}

}  // namespace
}  // namespace qrt
