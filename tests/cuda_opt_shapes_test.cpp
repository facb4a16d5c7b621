// Opt shapes on the CUDA backend (BuilderConfig::setOptShape; conv_tactics.cpp, gemm_tactics.cpp):
// a dynamic-batch model (Conv + Relu, a Gemm after it) built without opt shapes holds no tactics;
// with an opt shape its convolution and Gemm are timed there and hold tactics keyed by the opt
// shape's signature (the metadata counts them), and the engine agrees with the reference backend
// at the opt batch (the tuned plan) and at another batch (the heuristic fallback), on fresh random
// inputs with poisoned outputs. Skips without a GPU.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaOptShapes, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <cmath>

#include "cuda_test_util.h"
#include "model_builder.h"
#include "test_util.h"

namespace qrt {
namespace {

using test::relativeL2;

using test::attrInt;
using test::attrInts;
using test::randomValues;

// X [N, 16, 12, 12] -> Conv 3x3 pad 1 (32) -> Relu -> Reshape [N, 4608] -> Gemm (transB, 64) -> Y.
test::FloatModel model() {
  test::FloatModel m;
  m.input({1, 16, 12, 12});
  m.m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param(
      "N");
  m.constantData("W", {32, 16, 3, 3}, randomValues(32 * 16 * 9, -0.1f, 0.1f));
  m.constantData("B", {32}, randomValues(32, -0.1f, 0.1f));
  m.constantData("shape", {2}, {0, 0});  // replaced below by int64 [-1, 4608]
  m.constantData("W2", {64, 4608}, randomValues(64 * 4608, -0.02f, 0.02f));
  m.constantData("B2", {64}, randomValues(64, -0.1f, 0.1f));
  for (auto& init : *m.m.mutable_graph()->mutable_initializer()) {
    if (init.name() != "shape") continue;
    init.Clear();
    init.set_name("shape");
    init.set_data_type(onnx::TensorProto::INT64);
    init.add_dims(2);
    init.add_int64_data(-1);
    init.add_int64_data(4608);
  }
  attrInts(m.node("Conv", {"X", "W", "B"}, "C"), "pads", {1, 1, 1, 1});
  m.node("Relu", {"C"}, "R");
  m.node("Reshape", {"R", "shape"}, "F");
  attrInt(m.node("Gemm", {"F", "W2", "B2"}, "Y"), "transB", 1);
  m.output();
  return m;
}

TEST(CudaOptShapes, TunedAtTheOptShapeRightAtEveryBatch) {
  QRT_REQUIRE_GPU();
  const test::FloatModel m = model();
  auto ref = test::buildModel(m.m, "reference", BuilderConfig{});
  ASSERT_TRUE(ref.ok()) << ref.status().message();

  BuilderConfig plain;
  plain.setDevice(DeviceType::kCUDA);
  auto untuned = test::buildModel(m.m, nullptr, plain);
  ASSERT_TRUE(untuned.ok()) << untuned.status().message();
  EXPECT_TRUE(test::tactics(**untuned).empty()) << "a dynamic-batch engine without opt shapes is not timed";

  BuilderConfig opt = plain;
  opt.setOptShape("X", {8, 16, 12, 12});
  auto tuned = test::buildModel(m.m, nullptr, opt);
  ASSERT_TRUE(tuned.ok()) << tuned.status().message();
  EXPECT_EQ((*tuned)->metadata("opt_shapes"), "X:8x16x12x12");
  EXPECT_NE((*tuned)->metadata("cuda_tactics").find("1 at the opt shapes"), std::string::npos)
      << (*tuned)->metadata("cuda_tactics");
  EXPECT_NE((*tuned)->metadata("cuda_gemm_tactics").find("1 at the opt shapes"), std::string::npos)
      << (*tuned)->metadata("cuda_gemm_tactics");
  const auto held = test::tactics(**tuned);
  EXPECT_EQ(held.size(), 2u);
  for (const auto& [node, tactic] : held) EXPECT_NE(tactic.find('|'), std::string::npos) << node << ": " << tactic;
  EXPECT_EQ((*tuned)->inputs()[0].dims, (Dims{-1, 16, 12, 12}));

  for (int64_t n : {8, 3, 8}) {
    const Dims xd = {n, 16, 12, 12};
    const std::vector<float> x = randomValues(volume(xd), -1.f, 1.f);
    auto want = test::runXY(**ref, x, xd, false);
    ASSERT_TRUE(want.ok()) << want.status().message();
    for (auto* e : {&*tuned, &*untuned}) {
      auto got = test::runXY(**e, x, xd, true);
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ(got->size(), want->size());
      EXPECT_LT(relativeL2(*got, *want), 1e-5) << "batch " << n << (e == &*tuned ? " (tuned)" : " (untuned)");
    }
  }
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
