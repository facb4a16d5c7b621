// QConv's INT8 depthwise kernel (src/backends/cuda/qdepthwise.*) against the reference backend
// (the oracle, QRT_BACKEND=reference for the CPU engine): Q/DQ around a depthwise Conv folds
// into one QConv; 3x3 stride 1/2, 5x5, dilation 2, a 3x5 kernel, C = 16/32/96/144 (16-channel
// vectors), 24 (4-channel vectors) and 27 (one channel per thread), ReLU / clip / none, int8
// and fp32 outputs, batch 1 and 2. Each case runs as the tuner stores it with
// QRT_CUDA_DEPTHWISE=on (the tactic must be "dw") and without any tactic
// (QRT_CUDA_TACTICS=heuristic: the default path). The kernel's epilogue is the reference's,
// operation for operation, so the outputs must be within one quantization step and in practice
// equal. Fresh random inputs every run; the GPU output is poisoned before the run. Skips where
// no GPU can be used (CI).
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaQDepthwise, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_memory.h"
#include "core/status_macros.h"
#include "runtime/engine_impl.h"
#include "cuda_test_util.h"
#include "model_builder.h"

namespace qrt {
namespace {

using test::attrInt;
using test::attrInts;
using test::rng;
using test::runXY;
using Model = test::FloatModel;

struct Case {
  std::string name;
  Dims x;                 // [N, C, H, W]
  int64_t kh, kw;
  std::vector<int64_t> strides, pads, dilations;
  std::string act;  // "", "Relu", "Clip"
  bool requantize;  // Q/DQ after the convolution: int8 output
};

constexpr float kYScale = 0.02f;

// DQ(Q(X)) and DQ(Wq) -> depthwise Conv (+ bias) [-> act] [-> Q -> DQ] -> Y.
Model depthwiseModel(const Case& c) {
  const int64_t ch = c.x[1];
  Model m;
  m.input("X", c.x);
  m.constant("sx", {}, 2.f / 255, 2.f / 255);
  m.int8Constant("z", {}, 0, 0);
  m.int8Constant("Wq", {ch, 1, c.kh, c.kw}, -127, 127);
  m.constant("sw", {ch}, 0.002f, 0.01f);
  m.int8Constant("zw", {ch}, 0, 0);
  m.constant("bias", {ch}, -0.3f, 0.3f);
  m.node("QuantizeLinear", {"X", "sx", "z"}, "Xq");
  m.node("DequantizeLinear", {"Xq", "sx", "z"}, "Xd");
  attrInt(m.node("DequantizeLinear", {"Wq", "sw", "zw"}, "Wd"), "axis", 0);
  std::string cur = c.act.empty() && !c.requantize ? "Y" : "C";
  auto& conv = m.node("Conv", {"Xd", "Wd", "bias"}, cur);
  attrInt(conv, "group", ch);
  if (!c.strides.empty()) attrInts(conv, "strides", c.strides);
  if (!c.pads.empty()) attrInts(conv, "pads", c.pads);
  if (!c.dilations.empty()) attrInts(conv, "dilations", c.dilations);
  if (!c.act.empty()) {
    const std::string out = c.requantize ? "A" : "Y";
    if (c.act == "Clip") {  // ReLU6 as MobileNetV2 has it, scaled to this model's values
      m.constant("lo", {}, 0.f, 0.f);
      m.constant("hi", {}, 0.6f, 0.6f);
      m.node("Clip", {cur, "lo", "hi"}, out);
    } else {
      m.node(c.act, {cur}, out);
    }
    cur = out;
  }
  if (c.requantize) {
    m.constant("sy", {}, kYScale, kYScale);
    m.node("QuantizeLinear", {cur, "sy", "z"}, "Yq");
    m.node("DequantizeLinear", {"Yq", "sy", "z"}, "Y");
  }
  m.output("Y");
  return m;
}

// The GPU engine, or the reference backend's (the oracle).
Result<std::shared_ptr<Engine>> build(const Model& m, bool gpu) {
  BuilderConfig c;
  if (gpu) c.setDevice(DeviceType::kCUDA);
  return test::buildModel(m.m, gpu ? nullptr : "reference", c);
}

TEST(CudaQDepthwise, WithinOneQuantizationStepOfTheReference) {
  QRT_REQUIRE_GPU();
  const Case cases[] = {
      {"3x3 s1 C=32 relu int8 out batch 2", {2, 32, 14, 14}, 3, 3, {}, {1, 1, 1, 1}, {}, "Relu", true},
      {"3x3 s2 C=96 relu6 int8 out", {1, 96, 15, 15}, 3, 3, {2, 2}, {1, 1, 1, 1}, {}, "Clip", true},
      {"3x3 s1 C=144 relu6 int8 out batch 2", {2, 144, 9, 9}, 3, 3, {}, {1, 1, 1, 1}, {}, "Clip", true},
      {"5x5 s1 C=16 no act int8 out", {1, 16, 11, 11}, 5, 5, {}, {2, 2, 2, 2}, {}, "", true},
      {"5x5 s2 C=32 relu int8 out batch 2", {2, 32, 12, 12}, 5, 5, {2, 2}, {2, 2, 2, 2}, {}, "Relu", true},
      {"3x3 dilation 2 C=16 int8 out", {1, 16, 10, 10}, 3, 3, {}, {2, 2, 2, 2}, {2, 2}, "Relu", true},
      {"3x5 C=32 asymmetric pads int8 out", {1, 32, 9, 11}, 3, 5, {}, {1, 2, 0, 1}, {}, "Relu", true},
      {"3x3 C=24 (4-channel vectors) relu6", {2, 24, 8, 8}, 3, 3, {}, {1, 1, 1, 1}, {}, "Clip", true},
      {"3x3 s2 C=27 (scalar) relu int8 out", {2, 27, 13, 13}, 3, 3, {2, 2}, {1, 1, 1, 1}, {}, "Relu", true},
      {"3x3 C=16 relu float out", {2, 16, 10, 10}, 3, 3, {}, {1, 1, 1, 1}, {}, "Relu", false},
      {"3x3 C=27 no act float out", {1, 27, 7, 7}, 3, 3, {}, {1, 1, 1, 1}, {}, "", false},
      {"3x3 s2 C=96 relu6 float out", {2, 96, 9, 9}, 3, 3, {2, 2}, {1, 1, 1, 1}, {}, "Clip", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Model m = depthwiseModel(c);
    auto cpu = build(m, false);
    ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> x(static_cast<size_t>(volume(m.x)));
    for (float& v : x) v = u(rng());
    auto want = runXY(**cpu, x, m.x, false);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    for (const char* mode : {"tuned", "default"}) {
      SCOPED_TRACE(mode);
      const bool tuned = std::string(mode) == "tuned";
      Result<std::shared_ptr<Engine>> gpu = [&] {
        test::ScopedEnv e(tuned ? "QRT_CUDA_DEPTHWISE" : "QRT_CUDA_TACTICS", tuned ? "on" : "heuristic");
        return build(m, true);
      }();
      ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
      int qconvs = 0;
      for (const auto& n : (*gpu)->impl().graph->nodes()) {
        if (n->op_type != "QConv") continue;
        ++qconvs;
        const std::string tactic = n->attrString(cuda::kAttrTactic, "");
        if (tuned) EXPECT_TRUE(tactic.size() > 3 && tactic.substr(tactic.size() - 3) == "|dw") << tactic;
        else EXPECT_EQ(tactic, "");
      }
      EXPECT_EQ(qconvs, 1) << "the Q/DQ pattern should fold into one QConv";
      auto got = runXY(**gpu, x, m.x, true);
      ASSERT_TRUE(got.ok()) << got.status().toString();
      ASSERT_EQ(got->size(), want->size());
      double worst = 0, scale = 0;
      size_t off = 0;
      for (size_t i = 0; i < got->size(); ++i) {
        worst = std::max(worst, std::fabs(double((*got)[i]) - (*want)[i]));
        scale = std::max(scale, std::fabs(double((*want)[i])));
        off += (*got)[i] != (*want)[i];
      }
      if (c.requantize) {
        EXPECT_LE(worst, kYScale * 1.001) << "more than one quantization step off";
        EXPECT_LE(off, got->size() / 100 + 1) << off << " of " << got->size() << " elements differ by a step";
      } else {
        EXPECT_LE(worst, 1e-5 * std::max(1.0, scale)) << "float output";
      }
      // Float output: the reference's epilogue, operation by operation. int8 output: the folded
      // epilogue (one FFMA, qdepthwise_launch.h) may round a value within an ulp of a
      // midpoint the other way: a step, on at most 1% of the elements (above).
      if (!c.requantize) EXPECT_EQ(off, 0u) << "the float epilogue is the reference's: expected identical outputs";
    }
  }
}

}  // namespace
}  // namespace qrt

#endif
