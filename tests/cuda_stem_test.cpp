// qrt's stem convolution (src/backends/cuda/stem_conv.cu: C <= 4 input channels, implicit GEMM
// on the tensor cores) and the input fusion that lets it read the engine's fp32 NCHW input
// (stem_input.cpp), against the reference backend: FP16 engines (1e-2 relative L2), fresh
// random inputs and weights, poisoned outputs. The stem kernel must be the stored tactic where
// QRT_CUDA_STEM=on and it applies, and the input fusion must fire exactly where it is the
// kernel of a FusedConv. GPU tests skip where no GPU can be used (CI).
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaStem, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_memory.h"
#include "core/status_macros.h"
#include "cuda_test_util.h"
#include "test_util.h"
#include "model_builder.h"
#include "runtime/engine_impl.h"

namespace qrt {
namespace {

using test::relativeL2;

uint32_t freshSeed() { return static_cast<uint32_t>(test::rng()()); }

// The reference engine's output for the model's feeds.
Result<std::vector<float>> runReference(const test::OneNode& m) {
  QRT_ASSIGN_OR_RETURN(auto e, m.build("reference"));
  QRT_ASSIGN_OR_RETURN(auto ctx, e->createExecutionContext());
  QRT_ASSIGN_OR_RETURN(test::BoundIO io, test::bindFeeds(*e, *ctx, m.feeds()));
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  std::vector<float> y(io.y.size() / 4);
  std::memcpy(y.data(), io.y.data(), io.y.size());
  return y;
}

Result<std::shared_ptr<Engine>> buildFp16(const test::OneNode& m) {
  BuilderConfig c;
  c.setDevice(DeviceType::kCUDA);
  c.setFlag(BuilderFlag::kFP16);
  return m.build(nullptr, c);
}

// Runs the GPU engine on device copies of the feeds, the output poisoned (0x7B: 1.3e36).
Result<std::vector<float>> runGpu(Engine& e, const test::OneNode& m) {
  QRT_ASSIGN_OR_RETURN(auto ctx, e.createExecutionContext());
  std::vector<std::shared_ptr<void>> keep;
  for (const test::Tensor& t : m.feeds()) {
    QRT_RETURN_IF_ERROR(ctx->setInputShape(t.name, t.dims));
    QRT_ASSIGN_OR_RETURN(auto d, cuda::deviceAlloc(t.bytes()));
    QRT_RETURN_IF_ERROR(cuda::copyToDevice(d.get(), t.data(), t.bytes()));
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress(t.name, d.get()));
    keep.push_back(d);
  }
  QRT_ASSIGN_OR_RETURN(Dims yd, ctx->tensorShape("Y"));
  std::vector<float> y(static_cast<size_t>(volume(yd)));
  QRT_ASSIGN_OR_RETURN(auto dy, cuda::deviceAlloc(y.size() * 4));
  QRT_RETURN_IF_ERROR(cuda::fillDevice(dy.get(), 0x7B, y.size() * 4));
  QRT_RETURN_IF_ERROR(ctx->setTensorAddress("Y", dy.get()));
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  QRT_RETURN_IF_ERROR(cuda::copyToHost(y.data(), dy.get(), y.size() * 4));
  for (float v : y)
    if (!(std::fabs(v) < 1e35f)) return internalError("the GPU left output elements unwritten (or NaN)");
  return y;
}

// Builds the FP16 GPU engine, compares it with the reference on the same feeds; returns it.
std::shared_ptr<Engine> checkFp16(const test::OneNode& m) {
  auto want = runReference(m);
  EXPECT_TRUE(want.ok()) << want.status().toString();
  auto e = buildFp16(m);
  EXPECT_TRUE(e.ok()) << e.status().toString();
  if (!want.ok() || !e.ok()) return nullptr;
  auto got = runGpu(**e, m);
  EXPECT_TRUE(got.ok()) << got.status().toString();
  if (got.ok()) {
    EXPECT_EQ(got->size(), want->size());
    if (got->size() == want->size()) EXPECT_LE(relativeL2(*got, *want), 1e-2);
  }
  return *e;
}

// The engine's convolution over <= 4 input channels.
const ir::Node* stemNode(const Engine& e) {
  for (const auto& n : e.impl().graph->nodes())
    if ((n->op_type == "Conv" || n->op_type == "FusedConv") && n->hasInput(1) && n->inputs[1]->dims.size() == 4 &&
        n->inputs[1]->dims[1] <= 4)
      return n.get();
  return nullptr;
}

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

struct StemCase {
  std::string name;
  Dims x, w;
  std::vector<int64_t> strides, pads;
  std::string act;  // "", "Relu" or "Clip"
  bool bias = true;
};

test::OneNode stemModel(const StemCase& c) {
  test::OneNode m("Conv");
  m.input(test::randomTensor("X", c.x, freshSeed()));
  m.constant(test::randomTensor("W", c.w, freshSeed()));
  if (c.bias) m.constant(test::randomTensor("B", {c.w[0]}, freshSeed()));
  if (!c.strides.empty()) m.ints("strides", c.strides);
  if (!c.pads.empty()) m.ints("pads", c.pads);
  if (c.act == "Clip") {
    m.then("Clip");
    m.constant(test::scalarTensor("lo", DataType::kFloat, -0.25));
    m.constant(test::scalarTensor("hi", DataType::kFloat, 0.5));
  } else if (!c.act.empty()) {
    m.then(c.act);
  }
  return m;
}

TEST(CudaStem, MatrixAgainstReference) {
  QRT_REQUIRE_GPU();
  const StemCase cases[] = {
      {"ResNet conv1 7x7 stride 2", {2, 3, 224, 224}, {64, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, "Relu"},
      {"ResNet conv1 without activation", {1, 3, 224, 224}, {64, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, ""},
      {"3x3 stride 1 C=3 M=16 odd H/W", {2, 3, 17, 19}, {16, 3, 3, 3}, {}, {1, 1, 1, 1}, "Relu"},
      {"3x3 stride 1 C=3 M=16 odd H/W, plain Conv", {2, 3, 17, 19}, {16, 3, 3, 3}, {}, {1, 1, 1, 1}, ""},
      {"3x3 stride 2 C=3 M=32 clip", {1, 3, 15, 16}, {32, 3, 3, 3}, {2, 2}, {1, 1, 1, 1}, "Clip"},
      {"MobileNetV2's stem: 3x3 stride 2 C=3 M=32 clip, 3 images", {3, 3, 40, 36}, {32, 3, 3, 3}, {2, 2},
       {1, 1, 1, 1}, "Clip"},
      {"3x3 stride 2 C=3 M=64 (two threads a pixel in the direct kernel)", {2, 3, 19, 18}, {64, 3, 3, 3}, {2, 2},
       {1, 1, 1, 1}, "Relu"},
      {"5x5 C=1 M=32", {2, 1, 20, 21}, {32, 1, 5, 5}, {}, {2, 2, 2, 2}, "Relu"},
      {"3x3 C=4 M=64", {1, 4, 13, 11}, {64, 4, 3, 3}, {}, {1, 1, 1, 1}, "Relu"},
      {"3x3 stride 2 M=128 (two channel blocks)", {1, 3, 16, 16}, {128, 3, 3, 3}, {2, 2}, {1, 1, 1, 1}, "Relu"},
      {"3x3 M=72 W=300 (three column chunks, a partial channel block)", {2, 3, 21, 300}, {72, 3, 3, 3}, {},
       {1, 1, 1, 1}, "Relu"},
      {"7x7 stride 2 H=70 (a partial band of rows)", {3, 3, 70, 38}, {64, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, "Relu"},
      {"3x3 M=24 no bias", {3, 3, 9, 9}, {24, 3, 3, 3}, {}, {1, 1, 1, 1}, "Relu", false},
      {"4x4 stride 2 asymmetric pads", {1, 3, 10, 11}, {16, 3, 4, 4}, {2, 2}, {1, 0, 2, 1}, ""},
      {"11x11 stride 4 (K = 363 > 256: not the stem kernel)", {1, 3, 31, 31}, {16, 3, 11, 11}, {4, 4}, {}, "Relu"},
      {"M=12 (no multiple of 8: not the stem kernel)", {1, 3, 12, 12}, {12, 3, 3, 3}, {}, {1, 1, 1, 1}, "Relu"},
  };
  // "on": the stem kernel runs wherever it applies and wins every tactic timing. Each of its
  // kernels: the row-tile kernel (the default where the input is NCHW and the direct kernel does not
  // apply), with its tap pairs (the default where the stride is even: the ResNet, 3x3 stride 2 and
  // 4x4 stride 2 cases) and without, the gather kernel, and the direct kernel (stem_direct.cu: asked
  // for here, fp16 y; the default only for quantizing stems of at most 32 taps and 64 channels; on
  // the other cases "direct" runs the row-tile kernel).
  setenv("QRT_CUDA_STEM", "on", 1);
  const std::pair<const char*, const char*> kernels[] = {
      {"rows", "on"}, {"rows", "off"}, {"gather", "on"}, {"direct", "off"}};
  for (const auto& [kernel, pairs] : kernels)
  for (const StemCase& c : cases) {
    setenv("QRT_CUDA_STEM_KERNEL", kernel, 1);
    test::ScopedEnv pairs_env("QRT_CUDA_STEM_PAIRS", pairs);
    SCOPED_TRACE(std::string(kernel) + " (tap pairs " + pairs + "): " + c.name);
    const bool applies = c.w[1] * c.w[2] * c.w[3] <= 256 && c.w[0] % 8 == 0;
    std::shared_ptr<Engine> e = checkFp16(stemModel(c));
    ASSERT_NE(e, nullptr);
    const ir::Node* n = stemNode(*e);
    ASSERT_NE(n, nullptr);
    const std::string tactic = n->attrString(cuda::kAttrTactic, "");
    EXPECT_EQ(endsWith(tactic, "|stem"), applies) << tactic;
    // With an activation the node is a FusedConv, whose fp32 NCHW input the stem kernel reads.
    EXPECT_EQ(n->attrInt("qrt_x_nchw", 0), applies && !c.act.empty() ? 1 : 0);
  }
  unsetenv("QRT_CUDA_STEM");
  unsetenv("QRT_CUDA_STEM_KERNEL");
}

// A small network (stem 7x7/2 + ReLU, max pool, 3x3 conv + ReLU) whose stem reads the fp32 NCHW
// input directly: no Cast and no layout change before it. With QRT_CUDA_STEM=off the chain
// stays; both agree with the reference.
TEST(CudaStem, InputFusionInAModel) {
  QRT_REQUIRE_GPU();
  for (const char* mode : {"on", "off"}) {
    SCOPED_TRACE(mode);
    setenv("QRT_CUDA_STEM", mode, 1);
    test::OneNode m("Conv");
    m.input(test::randomTensor("X", {2, 3, 64, 48}, freshSeed()));
    m.constant(test::randomTensor("W1", {32, 3, 7, 7}, freshSeed()));
    m.constant(test::randomTensor("B1", {32}, freshSeed()));
    m.ints("strides", {2, 2}).ints("pads", {3, 3, 3, 3});
    m.then("Relu");
    m.then("MaxPool").ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("pads", {1, 1, 1, 1});
    m.then("Conv");
    m.constant(test::randomTensor("W2", {16, 32, 3, 3}, freshSeed()));
    m.constant(test::randomTensor("B2", {16}, freshSeed()));
    m.ints("pads", {1, 1, 1, 1});
    m.then("Relu");
    std::shared_ptr<Engine> e = checkFp16(m);
    ASSERT_NE(e, nullptr);
    const ir::Node* n = stemNode(*e);
    ASSERT_NE(n, nullptr);
    const bool on = std::string(mode) == "on";
    EXPECT_EQ(n->attrInt("qrt_x_nchw", 0), on ? 1 : 0);
    EXPECT_EQ(n->inputs[0]->dtype, on ? DataType::kFloat : DataType::kHalf);
    int to_nhwc = 0, casts = 0;
    for (const auto& k : e->impl().graph->nodes()) {
      to_nhwc += k->op_type == "Identity" && k->attrInt("qrt_to_nhwc", 0) == 1;
      casts += k->op_type == "Cast" && k->outputs[0]->dtype == DataType::kHalf;
    }
    EXPECT_EQ(to_nhwc, on ? 0 : 1);
    EXPECT_EQ(casts, on ? 0 : 1);
  }
  unsetenv("QRT_CUDA_STEM");
}

// The stem kernel with its max pooling (stem_pool.cu, stem_pool.cpp; forced by QRT_CUDA_STEM_POOL):
// stem 7x7/2 + ReLU + MaxPool 3x3/2/1 as one FusedConv (qrt_pool, no MaxPool node left), against
// the reference, and bit for bit the chain's output (the pool takes the max of the fp16 values the
// stem would have stored). Shapes: segments of pooled rows with their halo row and several staged
// windows a segment (64x64, 2 images), odd pooled extents and a partial channel block (50x46, 72
// channels), ResNet's conv1 at batch 1 (224x224, 64 channels); with and without tap pairs.
TEST(CudaStem, PoolInTheStemKernel) {
  QRT_REQUIRE_GPU();
  test::ScopedEnv stem("QRT_CUDA_STEM", "on");
  const std::vector<std::pair<Dims, int64_t>> shapes = {{{2, 3, 64, 64}, 64}, {{3, 3, 50, 46}, 72}, {{1, 3, 224, 224}, 64}};
  for (const char* pairs : {"on", "off"})
  for (const auto& [x, m_out] : shapes) {
    test::ScopedEnv pairs_env("QRT_CUDA_STEM_PAIRS", pairs);
    SCOPED_TRACE(dimsToString(x) + " -> " + std::to_string(m_out) + ", tap pairs " + pairs);
    test::OneNode m("Conv");
    m.input(test::randomTensor("X", x, freshSeed()));
    m.constant(test::randomTensor("W", {m_out, 3, 7, 7}, freshSeed()));
    m.constant(test::randomTensor("B", {m_out}, freshSeed()));
    m.ints("strides", {2, 2}).ints("pads", {3, 3, 3, 3});
    m.then("Relu");
    m.then("MaxPool").ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("pads", {1, 1, 1, 1});
    std::vector<float> outs[2];
    for (const bool pool : {false, true}) {
      SCOPED_TRACE(pool ? "pooled in the stem" : "MaxPool apart");
      test::ScopedEnv env("QRT_CUDA_STEM_POOL", pool ? "on" : "off");
      std::shared_ptr<Engine> e = checkFp16(m);
      ASSERT_NE(e, nullptr);
      const ir::Node* n = stemNode(*e);
      ASSERT_NE(n, nullptr);
      EXPECT_EQ(n->attrInt("qrt_pool", 0), pool ? 1 : 0);
      int pools = 0;
      for (const auto& k : e->impl().graph->nodes()) pools += k->op_type == "MaxPool";
      EXPECT_EQ(pools, pool ? 0 : 1);
      auto y = runGpu(*e, m);
      ASSERT_TRUE(y.ok()) << y.status().toString();
      outs[pool] = *y;
    }
    ASSERT_EQ(outs[0].size(), outs[1].size());
    size_t differ = 0;
    for (size_t i = 0; i < outs[0].size(); ++i) differ += outs[0][i] != outs[1][i];
    EXPECT_EQ(differ, 0u) << "of " << outs[0].size() << " pooled outputs";
  }
}

}  // namespace
}  // namespace qrt

#endif
