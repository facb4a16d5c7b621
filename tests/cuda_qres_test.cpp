// INT8 residual blocks on the GPU: a QDQ model whose residual branch is quantized too (NVIDIA's
// placement for TensorRT) folds into one QConv with an int8 residual z per block
// (passes/fuse_qconv_residual.h, backends/cuda/conv_int8.cpp), against the reference backend
// running the unfused QDQ graph (QRT_BACKEND=reference; the CPU build does not fuse the
// residual). Identity blocks (z = the block input's own Q), downsample blocks (z = a 1x1 QConv's
// int8 output), ReLU or none, int8 or float output, 1x1 and 3x3, strides, an odd input channel
// count; fresh random inputs, poisoned outputs; tuned and heuristic (untuned) plans. Outputs
// are compared after the final DequantizeLinear: within one step of y_scale, and at most 1% of
// them off by that step.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaQres, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <cmath>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "cuda_test_util.h"
#include "model_builder.h"
#include "backends/cuda/qconv_igemm_launch.h"
#include "runtime/engine_impl.h"

namespace qrt {
namespace {

using test::randomValues;

// test::FloatModel with the residual blocks' building blocks.
struct Model : test::FloatModel {
  int convs = 0;
  // x (float, dequantized) -> Conv with per-channel int8 weights and a bias -> returns its output.
  std::string conv(const std::string& x, int64_t c, int64_t m_out, int64_t k, int64_t stride) {
    const std::string id = std::to_string(++convs);
    int8Constant("W" + id, {m_out, c, k, k}, -127, 127);
    constant("sw" + id, {m_out}, 0.4f / (127 * std::sqrt(float(c * k * k))), 1.2f / (127 * std::sqrt(float(c * k * k))));
    int8Constant("zw" + id, {m_out}, 0, 0);
    constant("b" + id, {m_out}, -0.3f, 0.3f);
    test::attrInt(node("DequantizeLinear", {"W" + id, "sw" + id, "zw" + id}, "Wd" + id), "axis", 0);
    auto& n = node("Conv", {x, "Wd" + id, "b" + id}, "C" + id);
    test::attrInts(n, "strides", {stride, stride});
    test::attrInts(n, "pads", {k / 2, k / 2, k / 2, k / 2});
    return "C" + id;
  }
  // v -> Q(scale) -> DQ; returns the dequantized value.
  std::string qdq(const std::string& v, float scale) {
    constant("s_" + v, {}, scale, scale);
    int8Constant("z_" + v, {}, 0, 0);
    node("QuantizeLinear", {v, "s_" + v, "z_" + v}, v + "_q");
    node("DequantizeLinear", {v + "_q", "s_" + v, "z_" + v}, v + "_d");
    return v + "_d";
  }
  void output(const std::string& v) {
    node("Identity", {v}, "Y");
    FloatModel::output("Y");
  }
};

struct Block {
  std::string name;
  Dims x;
  int64_t m, k, stride;
  bool downsample;  // z from a 1x1 QConv (stride `stride`) of the input; else z is the input
  bool relu;
  bool int8_out;    // the block's output goes through Q/DQ
  bool residual = true;  // false: a plain QConv, no Add
  float clip_hi = 0.f;   // > 0 (with relu): Clip(0, clip_hi), MobileNet's ReLU6, instead of Relu
  // > 0: ResNet's bottleneck, the main branch a 3x3 convolution of `stride` to this many channels
  // (ReLU, int8) then the 1x1 to m (k is unused): the residual QConv reads another tensor, of other
  // channels and size, than its downsample.
  int64_t bottleneck_mid = 0;
};

constexpr float kYScale = 0.04f;

// Skips the test unless the GPU runs the wgmma tiles (compute capability 9.0).
#define QRT_REQUIRE_WGMMA_GPU()                                                                     \
  do {                                                                                              \
    QRT_REQUIRE_GPU();                                                                              \
    cudaDeviceProp prop{};                                                                          \
    ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);                                      \
    if (prop.major * 10 + prop.minor != qrt::cuda::launch::kIgemmWgmmaSm)                           \
      GTEST_SKIP() << "the wgmma tiles run on compute capability 9.0; this GPU is " << prop.major   \
                   << "." << prop.minor;                                                            \
  } while (0)

// Blocks several tests run.
const Block kIdentity1x1C256 = {"identity 1x1 C=K=256, 4 slices", {4, 256, 7, 7}, 256, 1, 1, false, true, true};
const Block kDownsample3x3S2 = {"downsample 3x3 stride 2, C=32 -> 128", {2, 32, 15, 15}, 128, 3, 2, true, true, true};
const Block kIdentity3x3Clip =
    {"identity 3x3 C=K=64 (9 slices), clip(0, 3) int8", {2, 64, 9, 9}, 64, 3, 1, false, true, true, true, 3.f};
const Block kIdentity1x1C64 = {"identity 1x1 C=64, 297 pixels", {3, 64, 9, 11}, 64, 1, 1, false, true, true};
const Block kIdentity1x1FloatOut = {"identity 1x1 C=K=256, float out", {4, 256, 7, 7}, 256, 1, 1, false, false, false};
const Block kPlain1x1C192 = {"plain 1x1 C=192 -> 96 (3 slices, partial channel tile), relu int8", {2, 192, 10, 10}, 96, 1,
                             1, false, true, true, false};
// ResNet's bottleneck (the residual QConv reads another tensor than its downsample).
const Block kBottleneckDs3x3S2 = {"bottleneck 3x3 stride 2 to 64, 1x1 to 256; downsample C=128 stride 2",
                                  {2, 128, 16, 16}, 256, 1, 2, true, true, true, true, 0.f, 64};
const Block kPlain3x3Large = {"plain 3x3 C=64, 56x56, relu int8", {2, 64, 56, 56}, 64, 3, 1, false, true, true, false};
const Block kPlain1x1S2 =
    {"plain 1x1 stride 2 C=128 -> 256 int8", {2, 128, 14, 14}, 256, 1, 2, false, false, true, false};
const Block kPlain1x1PartialSlice =
    {"plain 1x1 C=48 -> 32 (partial slice), float out", {3, 48, 7, 9}, 32, 1, 1, false, false, false, false};
const Block kDownsample1x1S2 = {"downsample 1x1 stride 2 relu int8", {2, 32, 8, 8}, 64, 1, 2, true, true, true};
// Layers of many pixel tiles: 1x1 identity blocks at ResNet's layer1 size (batch 48: ~18 tiles a CTA
// of the persistent and ping-pong tiles on an H100).
const Block kIdentity1x1Batch12 = {"identity 1x1 C=64, batch 12 at 56x56, relu int8", {12, 64, 56, 56}, 64, 1, 1, false,
                                   true, true};
const Block kIdentity1x1Batch48 = {"identity 1x1 C=64, batch 48 at 56x56, relu int8", {48, 64, 56, 56}, 64, 1, 1, false,
                                   true, true};
const Block kDownsampleLayer1 =
    {"downsample 1x1 stride 1, C=64 -> 256 (ResNet's layer1.0)", {2, 64, 14, 14}, 256, 1, 1, true, true, true};

Model blockModel(const Block& b) {
  Model md;
  md.input(b.x);
  const std::string xd = md.qdq("X", 1.f / 127);
  std::string main;
  if (b.bottleneck_mid > 0) {
    md.node("Relu", {md.conv(xd, b.x[1], b.bottleneck_mid, 3, b.stride)}, "H");
    main = md.conv(md.qdq("H", kYScale), b.bottleneck_mid, b.m, 1, 1);
  } else {
    main = md.conv(xd, b.x[1], b.m, b.k, b.stride);
  }
  std::string z = xd;  // identity: the block input's own Q/DQ pair, as ResNet's
  if (b.downsample) z = md.qdq(md.conv(xd, b.x[1], b.m, 1, b.stride), 0.03f);
  std::string cur = main;
  if (b.residual) {
    md.node("Add", {main, z}, "A");
    cur = "A";
  }
  if (b.relu && b.clip_hi > 0.f) {
    md.constant("clip_lo", {}, 0.f, 0.f);
    md.constant("clip_hi", {}, b.clip_hi, b.clip_hi);
    md.node("Clip", {cur, "clip_lo", "clip_hi"}, "R");
    cur = "R";
  } else if (b.relu) {
    md.node("Relu", {cur}, "R");
    cur = "R";
  }
  if (b.int8_out) cur = md.qdq(cur, kYScale);
  md.output(cur);
  return md;
}

// The CPU engine on the reference backend (the oracle), the GPU engine as the builder chooses.
Result<std::shared_ptr<Engine>> build(const Model& m, bool gpu) {
  BuilderConfig c;
  if (gpu) c.setDevice(DeviceType::kCUDA);
  return test::buildModel(m.m, gpu ? nullptr : "reference", c);
}

// One block, built with `tactics`: "tuned" (the builder's timing), "heuristic" (no timing:
// QRT_CUDA_TACTICS=heuristic), "igemm" (timing with QRT_CUDA_IGEMM=on: qrt's implicit-GEMM kernel
// wins wherever it computes the layer, C and K multiples of 16), "wgmma" (the same with only the
// wgmma tiles timed: QRT_CUDA_IGEMM_WGMMA=only; Hopper), "qlt" (timing with
// QRT_CUDA_QCONV_LT=on: the cuBLASLt int8 path wins every 1x1 stride-1 layer with int8 output,
// its algorithm checked against cuDNN by the tuner) or "tile<t>" (no timing; the
// kernel with tile shape t wherever it takes the layer, for the build and the run), against the
// reference backend.
void checkBlock(const Block& b, const std::string& tactics) {
  SCOPED_TRACE(b.name + " " + tactics);
  std::vector<std::unique_ptr<test::ScopedEnv>> tile_env;
  // The modes that are not about the downsample fusion keep z a tensor the kernel reads.
  const bool one_tile = tactics.rfind("tuned-ig", 0) == 0;
  // "pdl": the implicit-GEMM kernels (launched with programmatic dependent launch on compute
  // capability 9.0, the default) taking every layer they can, the run replaying a CUDA graph.
  const bool pdl = tactics == "pdl";
  if (pdl) tile_env.push_back(std::make_unique<test::ScopedEnv>("QRT_CUDA_IGEMM", "on"));
  if (tactics != "dsfuse" && tactics != "dstimed" && tactics != "wgmma" && !one_tile)
    tile_env.push_back(std::make_unique<test::ScopedEnv>("QRT_CUDA_DS_FUSE", "off"));
  if (tactics.rfind("tile", 0) == 0) {
    tile_env.push_back(std::make_unique<test::ScopedEnv>("QRT_CUDA_TACTICS", "heuristic"));
    tile_env.push_back(std::make_unique<test::ScopedEnv>("QRT_CUDA_IGEMM", "on"));
    tile_env.push_back(std::make_unique<test::ScopedEnv>("QRT_CUDA_IGEMM_TILE", tactics.c_str() + 4));
  }
  Model m = blockModel(b);
  auto cpu = build(m, false);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  Result<std::shared_ptr<Engine>> gpu = [&] {
    if (tactics == "heuristic") {
      test::ScopedEnv e("QRT_CUDA_TACTICS", "heuristic");
      return build(m, true);
    }
    if (tactics == "igemm") {
      test::ScopedEnv e("QRT_CUDA_IGEMM", "on");
      return build(m, true);
    }
    if (tactics == "dsfuse") {
      test::ScopedEnv e("QRT_CUDA_IGEMM", "on");
      test::ScopedEnv plain("QRT_CUDA_IGEMM_PERSISTENT", "off");
      test::ScopedEnv no_lt("QRT_CUDA_QCONV_LT", "off");  // the implicit GEMM for both nodes
      test::ScopedEnv fuse("QRT_CUDA_DS_FUSE", "always");  // untimed: small test layers could go either way
      return build(m, true);
    }
    if (tactics == "dstimed") {  // the fusion timed against the two kernels (QRT_CUDA_DS_FUSE=on), wgmma tiles too
      test::ScopedEnv e("QRT_CUDA_IGEMM", "on");
      test::ScopedEnv wg("QRT_CUDA_IGEMM_WGMMA", "on");
      test::ScopedEnv fuse("QRT_CUDA_DS_FUSE", "on");
      return build(m, true);
    }
    if (tactics.rfind("tuned-ig", 0) == 0) {  // the tuned path with one tile (QRT_CUDA_IGEMM_TILE), fusion untimed
      test::ScopedEnv e("QRT_CUDA_IGEMM", "on");
      test::ScopedEnv one("QRT_CUDA_IGEMM_TILE", tactics.c_str() + 8);
      test::ScopedEnv no_lt("QRT_CUDA_QCONV_LT", "off");
      test::ScopedEnv fuse("QRT_CUDA_DS_FUSE", "always");
      return build(m, true);
    }
    if (tactics == "wgmma") {
      test::ScopedEnv e("QRT_CUDA_IGEMM", "on");
      test::ScopedEnv only("QRT_CUDA_IGEMM_WGMMA", "only");
      test::ScopedEnv no_lt("QRT_CUDA_QCONV_LT", "off");
      test::ScopedEnv fuse("QRT_CUDA_DS_FUSE", "always");  // downsample blocks: the wgmma kernel computes z too
      return build(m, true);
    }
    if (tactics == "qlt") {
      test::ScopedEnv e("QRT_CUDA_QCONV_LT", "on");
      return build(m, true);
    }
    return build(m, true);  // "tuned", and the tile modes (their environment is set above)
  }();
  ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
  int with_z = 0, adds = 0, computed_z = 0;
  for (const auto& n : (*gpu)->impl().graph->nodes()) {
    if (n->op_type == "QConv") {
      with_z += n->hasInput(6) || n->hasInput(8);
      computed_z += n->hasInput(8);
      const std::string tactic = n->attrString("qrt_tactic", "(none)");
      std::printf("  %s: %s -> %s, tactic %s\n", b.name.c_str(), n->name.c_str(), dataTypeName(n->outputs[0]->dtype),
                  tactic.c_str());
      const bool fits = n->inputs[1]->dims[0] % 16 == 0 && n->inputs[1]->dims[1] % 16 == 0;
      if (tactics == "igemm" && fits) EXPECT_NE(tactic.find("|ig"), std::string::npos) << n->name << ": " << tactic;
      if (one_tile && fits) {  // the forced tile, not a fallback: else the test would check another kernel
        const size_t bar = tactic.rfind('|');
        EXPECT_EQ(bar == std::string::npos ? tactic : tactic.substr(bar + 1), "ig" + tactics.substr(8)) << n->name;
      }
      if (tactics == "wgmma" && fits) {
        const size_t bar = tactic.rfind('|');
        const int tile = bar == std::string::npos ? -1 : qrt::cuda::launch::igemmTileOf(tactic.substr(bar + 1));
        EXPECT_TRUE(tile >= 0 && qrt::cuda::launch::kIgemmTiles[tile].wgmma)
            << n->name << ": " << tactic << " (a wgmma tile expected)";
      }
      const Dims& w = n->inputs[1]->dims;
      const bool pointwise = b.stride == 1 && w[2] == 1 && w[3] == 1 && n->outputs[0]->dtype == DataType::kInt8;
      if (tactics == "qlt" && pointwise) EXPECT_NE(tactic.find("|lt:"), std::string::npos) << n->name << ": " << tactic;
    }
    adds += n->op_type == "Add" || n->op_type == "AddQuantize";
  }
  EXPECT_EQ(with_z, b.residual ? 1 : 0) << "the block should fold into one QConv with an int8 residual";
  std::printf("  %s (%s): downsample %s\n", b.name.c_str(), tactics.c_str(),
              computed_z ? "in the residual kernel" : "apart");
  EXPECT_EQ(adds, 0);
  // The downsample inside the residual QConv (both on the implicit GEMM).
  if (tactics == "dsfuse" || tactics == "wgmma" || one_tile) {
    const bool fits = b.x[1] % 16 == 0 && b.m % 16 == 0;
    // A persistent tile (7-9, 21-23) never computes the downsample (downsample_fuse.cpp): forced
    // alone, it leaves the downsample a node of its own.
    const bool tile_fuses = !one_tile || !qrt::cuda::launch::kIgemmTiles[std::stoi(tactics.substr(8))].persistent;
    EXPECT_EQ(computed_z, b.downsample && fits && b.int8_out && tile_fuses ? 1 : 0) << "downsample fusion";
  } else if (tactics != "dstimed") {  // timed: fused or not, as the clock says
    EXPECT_EQ(computed_z, 0);
  }
  const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
  auto want = test::runXY(**cpu, x, m.x, false);
  auto got = test::runXY(**gpu, x, m.x, true, pdl);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  ASSERT_TRUE(got.ok()) << got.status().toString();
  ASSERT_EQ(got->size(), want->size());
  double worst = 0, num = 0, den = 0;
  size_t off = 0, nonzero = 0;
  for (size_t i = 0; i < got->size(); ++i) {
    const double d = std::fabs(double((*got)[i]) - (*want)[i]);
    worst = std::max(worst, d);
    off += d > 0;
    nonzero += (*want)[i] != 0;
    num += d * d;
    den += double((*want)[i]) * (*want)[i];
  }
  EXPECT_GT(nonzero, got->size() / 4) << "degenerate case: the outputs are mostly zero";
  if (b.int8_out) {
    EXPECT_LE(worst, kYScale * 1.001) << "more than one quantization step off";
    EXPECT_LE(off, got->size() / 100 + 1) << off << " of " << got->size() << " elements differ by a step";
  } else {
    // Float output: the graph's chain rounds (acc * mult/zs + bias/zs + z) * zs, a few fp32
    // roundings of the terms.
    EXPECT_LE(std::sqrt(num / std::max(den, 1e-30)), 1e-5);
  }
}

TEST(CudaQres, ResidualBlocksWithinOneQuantizationStep) {
  QRT_REQUIRE_GPU();
  const Block blocks[] = {
      {"identity 3x3 relu int8", {2, 16, 10, 10}, 16, 3, 1, false, true, true},
      {"identity 1x1 no relu int8", {2, 32, 7, 7}, 32, 1, 1, false, false, true},
      kDownsample1x1S2,
      {"downsample 3x3, 13 input channels, no relu int8", {1, 13, 9, 9}, 24, 3, 1, true, false, true},
      {"identity 3x3 relu float out", {2, 16, 6, 6}, 16, 3, 1, false, true, false},
  };
  for (const Block& b : blocks)
    for (const char* tactics : {"tuned", "heuristic"}) checkBlock(b, tactics);
}

// qrt's implicit-GEMM kernel (qconv_igemm.cu): pixel counts that are no tile multiple, channel
// counts that leave part of a 64-deep slice or of a 64/128-wide channel tile empty, depths of one
// to many slices, strides and padding, residual or not, ReLU or none, int8 or float out.
TEST(CudaQres, ImplicitGemmKernelWithinOneQuantizationStep) {
  QRT_REQUIRE_GPU();
  const Block blocks[] = {
      kIdentity1x1C64,
      kDownsample3x3S2,
      {"identity 3x3 C=K=80 (partial slice and channel tile)", {2, 80, 8, 8}, 80, 3, 1, false, true, true},
      kIdentity1x1C256,
      {"plain 3x3 C=144 -> 48, no relu, float out", {2, 144, 6, 6}, 48, 3, 1, false, false, false, false},
      kPlain3x3Large,
      kPlain1x1S2,
  };
  for (const Block& b : blocks) checkBlock(b, "igemm");
}

// A residual block's downsample computed inside its residual QConv (downsample_fuse.cpp, the
// implicit GEMM with IgemmEpilogue::ds_x): 1x1 and 3x3 main convolutions, downsample strides 1
// and 2, partial pixel and channel tiles, ReLU or none; where it does not apply (13 channels,
// float output) the blocks run as before. Against the reference backend, which runs both QConvs.
TEST(CudaQres, DownsampleInTheResidualKernel) {
  QRT_REQUIRE_GPU();
  const Block blocks[] = {
      kDownsampleLayer1,
      kDownsample1x1S2,
      kDownsample3x3S2,
      {"downsample 1x1, 297 pixels, C=48 -> 80, no relu", {3, 48, 9, 11}, 80, 1, 1, true, false, true},
      {"downsample 3x3, 13 input channels (not fused)", {1, 13, 9, 9}, 24, 3, 1, true, false, true},
      {"downsample 1x1, float out (not fused)", {2, 32, 6, 6}, 32, 1, 1, true, true, false},
      {"bottleneck 3x3 stride 2 to 32, 1x1 to 128; downsample C=64 stride 2 (ResNet's layer2.0)", {2, 64, 16, 16}, 128,
       1, 2, true, true, true, true, 0.f, 32},
  };
  for (const Block& b : blocks) checkBlock(b, "dsfuse");
  // Timed against the two kernels (the builder's way, on scratch data), at ResNet-50's layer1.0 size.
  const Block timed[] = {
      {"downsample 1x1 stride 1, C=64 -> 256, batch 4 at 56x56", {4, 64, 56, 56}, 256, 1, 1, true, true, true},
      {"bottleneck 3x3 stride 2 to 128, 1x1 to 512; downsample C=256 stride 2, batch 2 at 56x56", {2, 256, 56, 56}, 512,
       1, 2, true, true, true, true, 0.f, 128},
  };
  for (const Block& b : timed) checkBlock(b, "dstimed");
}

// The wgmma tiles of the implicit GEMM (sm90a/qconv_wgmma.cu; compute capability 9.0), chosen by
// the tuner among themselves and checked by it against cuDNN, then against the reference backend:
// 1 to 9 slices, 1x1 and 3x3, strides, partial pixel and channel tiles, residual or not (read, or
// computed by the downsample in the kernel), ReLU or Clip, int8 or float out.
TEST(CudaQres, WgmmaTilesWithinOneQuantizationStep) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block blocks[] = {
      kIdentity1x1C64,
      kDownsample3x3S2,
      kIdentity1x1C256,
      kPlain1x1C192,
      kPlain1x1PartialSlice,
      kIdentity3x3Clip,
      kPlain3x3Large,
      kDownsampleLayer1,
      {"downsample 1x1 stride 1, C=64 -> 256, batch 4 at 56x56 (ResNet's layer1.0)", {4, 64, 56, 56}, 256, 1, 1, true,
       true, true},
      {"bottleneck 3x3 stride 2 to 32, 1x1 to 128; downsample C=64 stride 2, computed in the kernel", {2, 64, 16, 16},
       128, 1, 2, true, true, true, true, 0.f, 32},
  };
  for (const Block& b : blocks) checkBlock(b, "wgmma");
}

// Each wgmma tile alone through the tuned path (QRT_CUDA_IGEMM_TILE), the opt-in ones (pipelined,
// register epilogue, persistent) with the others: a 9-slice 3x3 layer with Clip, the downsample in
// the kernel (its product and the layer's through one pipeline), a bottleneck. Every tile's
// product and int8 / float epilogue alone: CudaIgemmKernel (cuda_igemm_kernel_test.cpp).
TEST(CudaQres, EachWgmmaTileWithinOneQuantizationStep) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block blocks[] = {
      kIdentity3x3Clip,
      kDownsampleLayer1,
      kBottleneckDs3x3S2,
  };
  for (int tile = 0; tile < qrt::cuda::launch::kIgemmTileCount; ++tile) {
    const auto& t = qrt::cuda::launch::kIgemmTiles[tile];
    // The TMA tiles take 1x1 layers only, im2col the others, the halo tile padded 3x3s of <= 64 channels
    // without a residual: below.
    if (!t.wgmma || t.tma || t.im2col || t.halo) continue;
    for (const Block& b : blocks) checkBlock(b, "tuned-ig" + std::to_string(tile));
  }
}

// Every block through the tuned path with each of `tiles` alone.
template <size_t N>
void checkEachTile(const Block (&blocks)[N], std::initializer_list<int> tiles) {
  for (const int tile : tiles)
    for (const Block& b : blocks) checkBlock(b, "tuned-ig" + std::to_string(tile));
}

// The TMA tiles (24-25 and 38-40: x and w slices by the Tensor Memory Accelerator; 1x1 stride-1 layers) through
// the tuned path alone: one and several slices, a partial channel tile (rows and channels past the
// tensor read as zeros), residual or not, int8 or float out, many pixel tiles.
TEST(CudaQres, TmaWgmmaTilesOnPointwiseLayers) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block blocks[] = {
      kIdentity1x1C64,
      kIdentity1x1C256,
      kPlain1x1C192,
      kIdentity1x1FloatOut,
      kIdentity1x1Batch12,
  };
  checkEachTile(blocks, {24, 25, 38, 39, 40});
}

// The halo tile (43: 3x3 / stride 1 / pad 1, at most 64 channels, int8 y, no residual) and the
// resident-weight tiles (44-47: 1x1 stride 1, at most 256 channels, int8 y, residual or not) through
// the tuned path alone, on blocks they take: layer1's 3x3 at 56x56 (many tiles a CTA), a Clip and two
// channel blocks, one partial; the pointwise blocks of one to four slices, with and without z, a
// partial channel block, many pixel tiles. Written in session 15 (their kernels exact in
// CudaIgemmKernel on an H200); not yet run.
TEST(CudaQres, HaloAndResidentTilesThroughTheTunedPath) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block halo_blocks[] = {
      kPlain3x3Large,
      {"plain 3x3 C=48 -> 80 (two channel blocks), 3 images of 7 x 30, clip(0, 6) int8", {3, 48, 7, 30}, 80, 3, 1,
       false, true, true, false, 6.f},
  };
  checkEachTile(halo_blocks, {43});
  const Block resident_blocks[] = {
      kIdentity1x1C64,
      kIdentity1x1C256,
      kPlain1x1C192,
      kIdentity1x1Batch12,
  };
  checkEachTile(resident_blocks, {44, 45, 46, 47});
}

// The TMA im2col tiles (34-35: x by TMA's im2col mode; the layers 24-25 do not take) through the tuned
// path alone: 3x3 with padding (9 slices, Clip; and a 56x56 layer of many pixel tiles, each spanning
// rows), 3x3 stride 2 with its 1x1 stride-2 downsample computed in the kernel (the cp.async form of the
// tile), a 1x1 stride-2 layer alone (its pixels read a strided window of x) and a 3x3 stride-2 layer of
// two channel slices a tap whose pixel tiles span images.
TEST(CudaQres, TmaIm2colTilesOnWindowedLayers) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block blocks[] = {
      kIdentity3x3Clip,
      kPlain3x3Large,
      kDownsample3x3S2,
      kPlain1x1S2,
      {"plain 3x3 stride 2 C=128 -> 128 (18 slices), 3 images, relu int8", {3, 128, 13, 11}, 128, 3, 2, false, true,
       true, false},
  };
  checkEachTile(blocks, {34, 35});
}

// The wide-epilogue tiles (36-37: 28-29 with epilogueWide, sixteen channels a thread and the clamp a
// saturating FMA) through the tuned path alone: a residual 1x1 block and one of many pixel tiles, the
// downsample computed in the kernel (its z then the wide epilogue's), a 3x3 block with Clip and a 1x1
// one whose Clip bound lies between two of y's steps (74.75: rounded to 75 as the clamp's bound), a
// partial channel tile without a residual, float y (their staged form).
TEST(CudaQres, WideEpilogueTilesWithinOneQuantizationStep) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block blocks[] = {
      kIdentity1x1C64,
      kIdentity1x1Batch12,
      kDownsampleLayer1,
      kIdentity3x3Clip,
      {"identity 1x1 C=64, clip(0, 2.99) int8", {2, 64, 9, 9}, 64, 1, 1, false, true, true, true, 2.99f},
      kPlain1x1C192,
      kIdentity1x1FloatOut,
  };
  checkEachTile(blocks, {36, 37});
}

// The warp-specialized ping-pong tiles (26-27: a TMA producer warpgroup, two consumer warpgroups taking
// the CTA's 64 x 128 (64 x 64) tiles in turn; int8 y, 1x1 stride-1 layers) through the tuned path alone: a CTA
// of one tile (the second consumer idle), several slices and channel tiles, a partial channel tile
// without a residual, a float-y block (it runs tile 24), a layer of ~18 tiles a CTA on an H100 (both
// consumers' z / y tiles reloaded many times), and 16-slice layers whose slices wrap the ring (6 or 8
// stages) within a tile, with and without the residual.
TEST(CudaQres, PingPongTileTakesTurns) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block blocks[] = {
      kIdentity1x1C64,
      kIdentity1x1C256,
      kPlain1x1C192,
      kIdentity1x1FloatOut,
      kIdentity1x1Batch48,
      {"identity 1x1 C=K=1024 (16 slices), batch 4 at 14x14, relu int8", {4, 1024, 14, 14}, 1024, 1, 1, false, true,
       true},
      {"plain 1x1 C=1024 -> 256 (16 slices), batch 8 at 14x14, relu int8", {8, 1024, 14, 14}, 256, 1, 1, false, true,
       true, false},
  };
  checkEachTile(blocks, {26, 27});
}

// The persistent wgmma tiles (21-23: a wave of CTAs streaming their tiles, a ring of kStages int8
// tiles holding each tile's residual and then its y) on a layer of more tiles than a CTA's ring
// holds (1,176 tiles of 128 pixels over at most 264 CTAs on an H100: 4-5 a CTA), so every ring
// slot is reloaded while other tiles are in flight; and a float-y block (they run the tiled kernel).
TEST(CudaQres, PersistentWgmmaTilesReuseTheirRing) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block blocks[] = {
      kIdentity1x1Batch48,
      kIdentity1x1FloatOut,
  };
  checkEachTile(blocks, {21, 22, 23});
}

// The streaming TMA tiles (41-42: a wave of CTAs each walking its tiles as one stream of TMA slices,
// each tile's residual by TMA into one of two buffers a tile ahead) through the tuned path alone: many
// tiles a CTA (1,176 tiles of 128 pixels over at most 264 CTAs: every stage's and z buffer's barrier
// completes several times), four slices a tile with several tiles a CTA (stages reused across tile
// boundaries), a partial channel tile, float y (the staged epilogue's float form) and no residual.
TEST(CudaQres, TmaStreamTilesWalkTheirTiles) {
  QRT_REQUIRE_WGMMA_GPU();
  const Block kFourSlicesManyTiles = {"identity 1x1 C=K=256 (4 slices), batch 16 at 28x28, relu int8", {16, 256, 28, 28},
                                      256, 1, 1, false, true, true};
  const Block blocks[] = {
      kIdentity1x1Batch48, kFourSlicesManyTiles, kIdentity1x1C256, kPlain1x1C192, kIdentity1x1FloatOut,
  };
  checkEachTile(blocks, {41, 42});
}

// Programmatic dependent launch of the implicit-GEMM kernels (qconv_igemm_device.cuh: pdlStart,
// launchKernel; compute capability 9.0 and up): chains of two and three kernels (a bottleneck with
// its downsample fused or not, a 3x3 identity block after its input's quantize), the run a CUDA graph
// replay. Each kernel must see its predecessor's output. PDL is on by default (QRT_CUDA_PDL=off, read
// once per process, turns it off), so every other GPU test runs with it too.
TEST(CudaQres, ProgrammaticDependentLaunch) {
  QRT_REQUIRE_GPU();
  const Block blocks[] = {
      kIdentity3x3Clip,
      kDownsampleLayer1,
      kBottleneckDs3x3S2,
  };
  for (const Block& b : blocks) checkBlock(b, "pdl");
}

// The pointwise int8 layers as one cuBLASLt GEMM with QConv's epilogue in cuBLASLt's (qconv_lt.cpp):
// per-channel alpha vector, bias, the int8 residual as C with beta = z_scale / y_scale, ReLU.
TEST(CudaQres, PointwiseOnCublasLtWithinOneQuantizationStep) {
  QRT_REQUIRE_GPU();
  const Block blocks[] = {
      {"identity 1x1 C=64, 297 pixels, relu", {3, 64, 9, 11}, 64, 1, 1, false, true, true},
      {"identity 1x1 C=K=256, no relu", {4, 256, 7, 7}, 256, 1, 1, false, false, true},
      kDownsampleLayer1,
      kPlain1x1C192,
      {"plain 1x1 C=36 -> 20 (channels multiples of 4), no relu", {2, 36, 5, 7}, 20, 1, 1, false, false, true, false},
  };
  for (const Block& b : blocks) checkBlock(b, "qlt");
}

// Every tile shape of the kernel without timing: partial pixel and channel tiles, 1 to 4 slices
// and deeper (the int8 epilogue converts accumulators on the FP32 pipe up to 4 slices of a 1x1
// layer, by I2F beyond), residual or not, ReLU or Clip, int8 or float out.
TEST(CudaQres, EveryImplicitGemmTileWithinOneQuantizationStep) {
  QRT_REQUIRE_GPU();
  const Block blocks[] = {
      kIdentity1x1C64,
      kDownsample3x3S2,
      kIdentity1x1C256,
      kPlain1x1S2,
      kPlain1x1C192,
      kPlain1x1PartialSlice,
      {"identity 1x1 C=64, batch 12 at 56x56 (several pixel tiles a CTA)", {12, 64, 56, 56}, 64, 1, 1, false, true,
       true},
      {"plain 1x1 C=64 -> 96, clip(0, 3) int8", {2, 64, 10, 10}, 96, 1, 1, false, true, true, false, 3.f},
      kIdentity3x3Clip,
  };
  for (int t = 0; t < qrt::cuda::launch::kIgemmTileCount; ++t)
    for (const Block& b : blocks) checkBlock(b, "tile" + std::to_string(t));
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
