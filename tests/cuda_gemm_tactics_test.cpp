// Build-time tactics of the CUDA matrix products on cuBLASLt (src/backends/cuda/gemm_tactics.*,
// lt_gemm.*): tuned engines (FP32, TF32, FP16 MLPs of Gemm, FusedGemm and MatMul; INT8 QGemm
// and QMatMul) agree with the reference backend on fresh random inputs with poisoned outputs;
// every product holds a cuBLASLt tactic that survives save/load (same attributes, bit-identical
// outputs); a stored tactic that no longer rebuilds falls back to the heuristic and still
// computes the right thing; the timing cache makes a rebuild time nothing. Skips without a GPU.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaGemmTactics, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_memory.h"
#include "backends/lt_tactic.h"
#include "core/status_macros.h"
#include "runtime/engine_impl.h"
#include "cuda_test_util.h"
#include "model_builder.h"
#include "test_util.h"

namespace qrt {
namespace {

using test::relativeL2;

using test::attrInt;
using test::randomValues;
using test::rng;
using test::runXY;
using test::tactics;
// One float input X, constants, one float output Y.
using Model = test::FloatModel;

// X [batch, 256] -> Gemm(transB, bias) -> Relu -> Gemm(bias) -> Relu -> MatMul -> Y [batch, 64].
Model mlp(int64_t batch) {
  Model m;
  m.input({batch, 256});
  m.constantData("W1", {512, 256}, randomValues(512 * 256, -0.06f, 0.06f));
  m.constantData("B1", {512}, randomValues(512, -0.1f, 0.1f));
  m.constantData("W2", {512, 256}, randomValues(512 * 256, -0.06f, 0.06f));
  m.constantData("B2", {256}, randomValues(256, -0.1f, 0.1f));
  m.constantData("W3", {256, 64}, randomValues(256 * 64, -0.1f, 0.1f));
  attrInt(m.node("Gemm", {"X", "W1", "B1"}, "G1"), "transB", 1);
  m.node("Relu", {"G1"}, "R1");
  m.node("Gemm", {"R1", "W2", "B2"}, "G2");
  m.node("Relu", {"G2"}, "R2");
  m.node("MatMul", {"R2", "W3"}, "Y");
  m.output();
  return m;
}

// X [m, k] -> Q/DQ -> Gemm(DQ(int8 W [n, k]) per channel, transB, bias) -> Relu -> Q/DQ (y_scale): a
// QGemm with an int8 output; then a QMatMul of its output with DQ(int8 V [n, 48]) -> Q/DQ -> Y.
Model int8Model(int64_t m, int64_t k, int64_t n, float y_scale) {
  Model g;
  g.input({m, k});
  g.constantData("sx", {}, {4.f / 255});
  g.constantData("sy", {}, {y_scale});
  g.constantData("sv", {}, {0.01f});
  auto* z = g.m.mutable_graph()->add_initializer();
  z->set_name("z");
  z->set_data_type(onnx::TensorProto::INT8);
  z->set_raw_data(std::string(1, '\0'));
  g.int8Constant("Wq", {n, k}, -127, 127);
  g.constantData("sw", {n}, randomValues(n, 0.0005f, 0.002f));
  auto* zw = g.m.mutable_graph()->add_initializer();
  zw->set_name("zw");
  zw->set_data_type(onnx::TensorProto::INT8);
  zw->add_dims(n);
  zw->set_raw_data(std::string(static_cast<size_t>(n), '\0'));
  g.constantData("bias", {n}, randomValues(n, -0.5f, 0.5f));
  g.int8Constant("Vq", {n, 48}, -127, 127);
  g.node("QuantizeLinear", {"X", "sx", "z"}, "Xq");
  g.node("DequantizeLinear", {"Xq", "sx", "z"}, "Xd");
  attrInt(g.node("DequantizeLinear", {"Wq", "sw", "zw"}, "Wd"), "axis", 0);
  attrInt(g.node("Gemm", {"Xd", "Wd", "bias"}, "G"), "transB", 1);
  g.node("Relu", {"G"}, "A");
  g.node("QuantizeLinear", {"A", "sy", "z"}, "Aq");
  g.node("DequantizeLinear", {"Aq", "sy", "z"}, "Ad");
  g.node("DequantizeLinear", {"Vq", "sv", "z"}, "Vd");
  g.node("MatMul", {"Ad", "Vd"}, "M");
  g.node("QuantizeLinear", {"M", "sy", "z"}, "Mq");
  g.node("DequantizeLinear", {"Mq", "sy", "z"}, "Y");
  g.output();
  return g;
}

enum class Target { kReference, kFp32, kTf32, kFp16 };

Result<std::shared_ptr<Engine>> build(const Model& m, Target t, const std::string& timing_cache = "") {
  BuilderConfig c;
  if (t != Target::kReference) c.setDevice(DeviceType::kCUDA);
  if (t == Target::kTf32) c.setFlag(BuilderFlag::kTF32);
  if (t == Target::kFp16) c.setFlag(BuilderFlag::kFP16);
  if (!timing_cache.empty()) c.setTimingCachePath(timing_cache);
  return test::buildModel(m.m, t == Target::kReference ? "reference" : nullptr, c);
}

// Every tactic is a cuBLASLt one, chosen for its problem, and parses.
void expectLtTactics(const Engine& e, size_t count) {
  const auto tac = tactics(e);
  EXPECT_EQ(tac.size(), count);
  for (const auto& [node, a] : tac) {
    const size_t bar = a.find('|');
    ASSERT_NE(bar, std::string::npos) << node << ": " << a;
    EXPECT_EQ(a.rfind("lt ", 0), 0u) << node << ": " << a;
    cuda::LtTactic t;
    EXPECT_TRUE(cuda::LtTactic::parse(a.substr(bar + 1), &t)) << node << ": " << a;
  }
}

TEST(CudaGemmTactics, TunedMlpAgreesWithTheReference) {
  QRT_REQUIRE_GPU();
  for (int64_t batch : {8, 256}) {
    Model m = mlp(batch);
    auto ref = build(m, Target::kReference);
    ASSERT_TRUE(ref.ok()) << ref.status().toString();
    for (Target t : {Target::kFp32, Target::kTf32, Target::kFp16}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + " target " + std::to_string(static_cast<int>(t)));
      auto gpu = build(m, t);
      ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
      expectLtTactics(**gpu, 3);
      EXPECT_EQ((*gpu)->metadata("cuda_gemm_tactics"), "3 matrix products, 3 timed, 0 cached");
      for (int r = 0; r < 2; ++r) {
        const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
        auto want = runXY(**ref, x, m.x, false);
        auto got = runXY(**gpu, x, m.x, true);
        ASSERT_TRUE(want.ok() && got.ok()) << got.status().toString();
        const double tol = t == Target::kFp32 ? 1e-5 : t == Target::kTf32 ? 1e-3 : 1e-2;
        EXPECT_LE(relativeL2(*got, *want), tol);
      }
    }
  }
}

// QGemm (int8 out) -> QMatMul: every element within one output quantization step of the
// reference backend, and few off at all.
TEST(CudaGemmTactics, TunedInt8AgreesWithTheReference) {
  QRT_REQUIRE_GPU();
  const float y_scale = 0.05f;
  Model m = int8Model(256, 512, 384, y_scale);
  auto ref = build(m, Target::kReference);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto gpu = build(m, Target::kFp32);
  ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
  expectLtTactics(**gpu, 2);
  int int8_products = 0;
  for (const auto& [node, a] : tactics(**gpu)) int8_products += a.find("32I i8>i32") != std::string::npos;
  EXPECT_GE(int8_products, 1) << "the QGemm should run on cuBLASLt's INT8 kernels with a stored tactic";
  for (int r = 0; r < 2; ++r) {
    const std::vector<float> x = randomValues(volume(m.x), -2.f, 2.f);
    auto want = runXY(**ref, x, m.x, false);
    auto got = runXY(**gpu, x, m.x, true);
    ASSERT_TRUE(want.ok() && got.ok()) << got.status().toString();
    size_t off = 0;
    for (size_t i = 0; i < got->size(); ++i) {
      const double e = std::fabs(double((*got)[i]) - (*want)[i]);
      ASSERT_LE(e, y_scale * 1.0001) << "element " << i << " got " << (*got)[i] << " want " << (*want)[i];
      if (e > 1e-6) ++off;
    }
    EXPECT_LE(off, got->size() / 20 + 1);
  }
}

// The stored tactics are what runs after save/load: same attributes, bit-identical outputs; a
// stored tactic cuBLASLt rejects falls back to its heuristic (with a warning) and stays correct.
TEST(CudaGemmTactics, StoredTacticSurvivesSaveAndLoad) {
  QRT_REQUIRE_GPU();
  Model m = mlp(64);
  auto ref = build(m, Target::kReference);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  for (Target t : {Target::kFp32, Target::kFp16}) {
    SCOPED_TRACE(static_cast<int>(t));
    auto e = build(m, t);
    ASSERT_TRUE(e.ok()) << e.status().toString();
    const std::string dir = test::makeTempDir("cuda_gemm_tactic");
    ASSERT_TRUE((*e)->save(dir + "/e.qrt").ok());
    auto loaded = Engine::load(dir + "/e.qrt");
    ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
    EXPECT_EQ(tactics(**e), tactics(**loaded));
    expectLtTactics(**loaded, 3);
    const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
    auto a = runXY(**e, x, m.x, true);
    auto b = runXY(**loaded, x, m.x, true);
    auto c = runXY(**loaded, x, m.x, true);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_EQ(0, std::memcmp(a->data(), b->data(), a->size() * 4)) << "the loaded engine computes differently";
    EXPECT_EQ(0, std::memcmp(b->data(), c->data(), b->size() * 4)) << "two runs differ";

    for (const auto& n : (*loaded)->impl().graph->nodes()) {
      if (!n->hasAttr(cuda::kAttrTactic)) continue;
      std::string s = n->attrString(cuda::kAttrTactic, "");
      n->attrs[cuda::kAttrTactic].s = s.substr(0, s.find('|') + 1) + "lt:a99999:t0:s0:k1:r0:w0:c0:i0:g0";
    }
    auto want = runXY(**ref, x, m.x, false);
    auto fallback = runXY(**loaded, x, m.x, true);
    ASSERT_TRUE(want.ok() && fallback.ok()) << fallback.status().toString();
    EXPECT_LE(relativeL2(*fallback, *want), t == Target::kFp32 ? 1e-5 : 1e-2);
  }
}

// A second build with the timing cache times nothing and stores the same tactics; cached
// tactics that no longer rebuild are timed again.
TEST(CudaGemmTactics, TimingCacheRoundTrip) {
  QRT_REQUIRE_GPU();
  const std::string dir = test::makeTempDir("cuda_gemm_cache");
  const std::string path = dir + "/timing.cache";
  Model m = mlp(128);
  auto first = build(m, Target::kFp16, path);
  ASSERT_TRUE(first.ok()) << first.status().toString();
  EXPECT_EQ((*first)->metadata("cuda_gemm_tactics"), "3 matrix products, 3 timed, 0 cached");
  std::map<std::string, cuda::TimingEntry> entries;
  ASSERT_TRUE(cuda::readTimingCache(path, &entries).ok());
  EXPECT_EQ(entries.size(), 3u);
  for (const auto& [key, e] : entries) {
    EXPECT_NE(key.find(" lt "), std::string::npos) << key;
    EXPECT_NE(key.find("sm_"), std::string::npos) << key;
    EXPECT_NE(key.find("cublasLt"), std::string::npos) << key;
    EXPECT_EQ(e.tactic.rfind("lt:", 0), 0u) << key;
    EXPECT_GT(e.us, 0) << key;
  }
  auto second = build(m, Target::kFp16, path);
  ASSERT_TRUE(second.ok()) << second.status().toString();
  EXPECT_EQ(tactics(**first), tactics(**second));
  EXPECT_EQ((*second)->metadata("cuda_gemm_tactics"), "3 matrix products, 0 timed, 3 cached");
  const std::vector<float> x = randomValues(volume(m.x), -1.f, 1.f);
  auto a = runXY(**first, x, m.x, true);
  auto b = runXY(**second, x, m.x, true);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(0, std::memcmp(a->data(), b->data(), a->size() * 4));

  std::map<std::string, cuda::TimingEntry> bad = entries;
  for (auto& [key, e] : bad) e.tactic = "lt:a99999:t0:s0:k1:r0:w0:c0:i0:g0";
  ASSERT_TRUE(cuda::writeTimingCache(path, bad).ok());
  auto third = build(m, Target::kFp16, path);
  ASSERT_TRUE(third.ok()) << third.status().toString();
  EXPECT_EQ((*third)->metadata("cuda_gemm_tactics"), "3 matrix products, 3 timed, 0 cached");
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
