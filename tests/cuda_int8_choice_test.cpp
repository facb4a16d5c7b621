// The CUDA builder's per-layer INT8 / FP16 choice (builder/int8_choice.h) on a squeeze-excite
// block at batch 1, calibrated from random data (ctest label gpu; skips without a GPU):
//  - with --int8 --fp16 the engine records what it chose ("int8_choice"), the number of
//    convolutions it moved from INT8 to FP16 matches that record, and its output agrees with the
//    reference backend's FP32 engine as closely as the all-INT8 engine's does (or better);
//  - QRT_CUDA_INT8_CHOICE=off builds the all-INT8 engine: every convolution an integer layer;
//  - a dynamic-batch engine without opt shapes cannot be timed: all INT8, and the record says why.
// Which layers win is the GPU's business (no timing is asserted); the cost model itself is
// tested without a GPU in int8_choice_test.cpp.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaInt8Choice, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <set>

#include "builder/precision.h"
#include "cuda_test_util.h"
#include "model_builder.h"
#include "test_util.h"

namespace qrt {
namespace {

using test::attrInts;
using test::randomValues;

const Dims kX = {1, 16, 24, 24};

// X -> Conv 3x3 (32) -> Relu -> R; R -> GlobalAveragePool -> Conv 1x1 (8) -> Relu -> Conv 1x1 (32)
// -> HardSigmoid -> S; R * S -> Conv 1x1 (32) -> Y. PP-OCRv4's detector is made of such blocks.
test::FloatModel seBlock(bool dynamic_batch) {
  test::FloatModel m;
  m.input(kX);
  if (dynamic_batch)
    m.m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  m.constantData("W0", {32, 16, 3, 3}, randomValues(32 * 16 * 9, -0.1f, 0.1f));
  m.constantData("B0", {32}, randomValues(32, -0.1f, 0.1f));
  m.constantData("W1", {8, 32, 1, 1}, randomValues(8 * 32, -0.3f, 0.3f));
  m.constantData("B1", {8}, randomValues(8, -0.1f, 0.1f));
  m.constantData("W2", {32, 8, 1, 1}, randomValues(32 * 8, -0.5f, 0.5f));
  m.constantData("B2", {32}, randomValues(32, -0.1f, 0.1f));
  m.constantData("W3", {32, 32, 1, 1}, randomValues(32 * 32, -0.2f, 0.2f));
  m.constantData("B3", {32}, randomValues(32, -0.1f, 0.1f));
  attrInts(m.node("Conv", {"X", "W0", "B0"}, "C0"), "pads", {1, 1, 1, 1});
  m.node("Relu", {"C0"}, "R");
  m.node("GlobalAveragePool", {"R"}, "P");
  m.node("Conv", {"P", "W1", "B1"}, "C1");
  m.node("Relu", {"C1"}, "R1");
  m.node("Conv", {"R1", "W2", "B2"}, "C2");
  m.node("HardSigmoid", {"C2"}, "S");
  m.node("Mul", {"R", "S"}, "M");
  m.node("Conv", {"M", "W3", "B3"}, "Y");
  m.output();
  return m;
}

// Eight random single-image batches.
class RandomCalibrator : public Calibrator {
 public:
  CalibrationAlgo algorithm() const override { return CalibrationAlgo::kEntropy2; }
  Result<bool> getBatch(CalibrationBatch& b) override {
    if (pos_ == 8) return false;
    b.inputs.clear();
    auto& t = b.inputs["X"];
    t.dims = kX;
    t.data = randomValues(volume(kX), -1.f, 1.f);
    b.samples = 1;
    ++pos_;
    return true;
  }
  Status reset() override {
    pos_ = 0;
    return Status::Ok();
  }

 private:
  int pos_ = 0;
};

BuilderConfig int8Fp16Config() {
  BuilderConfig c;
  c.setDevice(DeviceType::kCUDA);
  c.setFlag(BuilderFlag::kINT8);
  c.setFlag(BuilderFlag::kFP16);
  c.setInt8Calibrator(std::make_shared<RandomCalibrator>());
  return c;
}

// The model's Conv nodes an engine runs on integer layers (QConv names join the nodes it fused).
std::set<std::string> integerConvs(const Engine& e) {
  std::set<std::string> r;
  for (const LayerInfo& l : e.layers()) {
    if (l.op != "QConv") continue;
    for (const std::string& part : layerNameParts(l.name))
      if (part.rfind("Conv_", 0) == 0) r.insert(part);
  }
  return r;
}

// How many INT8 layers the record says run FP16: "<k> of <n> INT8 layers run FP16, ..."; 0 otherwise.
int movedToFp16(const std::string& record) {
  if (record.find(" INT8 layers run FP16") == std::string::npos) return 0;
  return std::atoi(record.c_str());
}

TEST(CudaInt8Choice, ChoosesPerLayerAndStaysAccurate) {
  QRT_REQUIRE_GPU();
  // Fewer cuDNN plans to build (the runtime-compiled ones take seconds each): the choice, not the
  // tactics, is under test. Built with all of them, this test took 60 s on an H200.
  test::ScopedEnv rtc("QRT_CUDA_CONV_RTC", "off");
  test::ScopedEnv candidates("QRT_CUDA_CONV_CANDIDATES", "4");
  const test::FloatModel m = seBlock(false);
  auto ref = test::buildModel(m.m, "reference", BuilderConfig{});
  ASSERT_TRUE(ref.ok()) << ref.status().message();

  std::shared_ptr<Engine> all_int8;
  {
    test::ScopedEnv off("QRT_CUDA_INT8_CHOICE", "off");
    auto e = test::buildModel(m.m, nullptr, int8Fp16Config());
    ASSERT_TRUE(e.ok()) << e.status().message();
    all_int8 = *e;
  }
  EXPECT_EQ(all_int8->metadata("int8_choice"), "");
  const std::set<std::string> int8_convs = integerConvs(*all_int8);
  EXPECT_EQ(int8_convs.size(), 4u) << "every convolution INT8 with the choice off";

  auto chosen = test::buildModel(m.m, nullptr, int8Fp16Config());
  ASSERT_TRUE(chosen.ok()) << chosen.status().message();
  const std::string record = (*chosen)->metadata("int8_choice");
  ASSERT_FALSE(record.empty());
  std::printf("int8_choice: %s\n", record.c_str());
  const std::set<std::string> still_int8 = integerConvs(**chosen);
  for (const std::string& c : still_int8) EXPECT_TRUE(int8_convs.count(c)) << c;
  EXPECT_EQ(static_cast<int>(int8_convs.size() - still_int8.size()), movedToFp16(record)) << record;

  for (int run = 0; run < 2; ++run) {
    const std::vector<float> x = randomValues(volume(kX), -1.f, 1.f);
    auto want = test::runXY(**ref, x, kX, false);
    auto got8 = test::runXY(*all_int8, x, kX, true);
    auto got = test::runXY(**chosen, x, kX, true, /*cuda_graph=*/run == 1);
    ASSERT_TRUE(want.ok() && got8.ok() && got.ok());
    const double e8 = test::relativeL2(*got8, *want), e = test::relativeL2(*got, *want);
    EXPECT_LT(e8, 0.05);
    // FP16 layers are at least as accurate as INT8 ones: the mixed engine's error stays within
    // the all-INT8 engine's (plus room for one layer's rounding).
    EXPECT_LT(e, e8 + 0.01) << "mixed " << e << ", all-INT8 " << e8;
  }
}

TEST(CudaInt8Choice, DynamicShapesWithoutOptShapesStayInt8) {
  QRT_REQUIRE_GPU();
  const test::FloatModel m = seBlock(true);
  auto e = test::buildModel(m.m, nullptr, int8Fp16Config());
  ASSERT_TRUE(e.ok()) << e.status().message();
  const std::string record = (*e)->metadata("int8_choice");
  EXPECT_NE(record.find("dynamic dims"), std::string::npos) << record;
  EXPECT_EQ(integerConvs(**e).size(), 4u);
}

}  // namespace
}  // namespace qrt

#endif
