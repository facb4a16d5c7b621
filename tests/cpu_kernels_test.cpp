// The cpu backend (oneDNN) against the reference backend, the oracle: every case builds a
// one-node model twice, once with QRT_BACKEND=reference and once with the cpu backend, runs both
// on the same random inputs (outputs poisoned with NaN first) and compares. FP32 must agree to
// |cpu - ref| <= 1e-5 * (|ref| + 1): oneDNN's direct convolutions and GEMMs sum in another order
// than the reference's loops, which moves results by a few ulps of the partial sums, far inside
// that bound for the sizes here (K up to a few hundred terms of magnitude <= 1).
//
// Cases cover kernel sizes 1, 3, 5, 7; strides; dilations; symmetric and asymmetric pads;
// groups 1, 2 and depthwise; batch 1 and 3; 1-D and 3-D; Gemm's transposes, alpha, beta and C
// shapes; MatMul's batch broadcasting; the pools with ceil_mode and count_include_pad. Each case
// also checks that the builder chose the cpu backend and whether oneDNN (not the reference
// fallback inside the cpu kernel) ran it. The cases live in tests/kernel_cases.cpp, shared with
// the micro-benchmarks (bench/micro).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/status_macros.h"
#include "kernel_cases.h"
#include "qrt/qrt.h"

#ifdef QRT_HAVE_DNNL
#include "backends/cpu/dnnl_util.h"
#endif

namespace qrt {
namespace {

#ifndef QRT_HAVE_DNNL
TEST(CpuKernels, NotBuilt) { GTEST_SKIP() << "qrt was built without oneDNN: no cpu backend"; }
#else

using test::BoundIO;
using test::ConvCase;
using test::Expect;
using test::KernelCase;
using test::OneNode;
using test::randomTensor;
using test::Tensor;

struct RunResult {
  std::vector<float> y;
  Dims dims;
  std::string op;          // the case's layer in the engine (FusedConv when the chain was fused)
  std::vector<std::string> ops;  // every layer's op
  std::string backend;     // what the builder chose for it
  bool fell_back = false;  // the cpu kernel ran the reference kernel inside
};

// Runs a new execution context of `engine` (built from `m`) once on m's feeds; `keep` (when set)
// keeps the context alive.
Result<RunResult> run(const OneNode& m, const std::shared_ptr<Engine>& engine,
                      std::unique_ptr<ExecutionContext>* keep = nullptr) {
  RunResult r;
  // The case's own layer: the layout pass (passes/cpu_layout) may put Identity layout changes
  // (NCHW <-> NHWC) around it, and no case has an Identity of its own.
  std::vector<LayerInfo> layers = engine->layers();
  auto it = std::find_if(layers.begin(), layers.end(), [](const LayerInfo& l) { return l.op != "Identity"; });
  if (it == layers.end()) return internalError("the engine has only Identity layers");
  r.op = it->op;
  r.backend = it->backend;
  for (const LayerInfo& l : layers) r.ops.push_back(l.op);
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine->createExecutionContext());
  int64_t fallbacks = cpu::fallbackCount();  // kernels reshape in tensorShape or enqueue
  QRT_ASSIGN_OR_RETURN(BoundIO io, test::bindFeeds(*engine, *ctx, m.feeds()));  // Y poisoned with NaN
  if (io.y_type != DataType::kFloat) return internalError("output Y is not FP32");
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  r.fell_back = cpu::fallbackCount() != fallbacks;
  r.dims = io.y_dims;
  r.y.resize(io.y.size() / sizeof(float));
  std::memcpy(r.y.data(), io.y.data(), io.y.size());
  if (keep) *keep = std::move(ctx);
  return r;
}

// Builds `m` with QRT_BACKEND=backend (nullptr: the builder's choice) and runs it once.
Result<RunResult> run(const OneNode& m, const char* backend, const BuilderConfig& config = BuilderConfig{}) {
  QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, m.build(backend, config));
  return run(m, engine);
}

// Runs the model on both backends and compares; `label` names the case in failures.
void compareBackends(const OneNode& m, const std::string& label, Expect expect = Expect::kOneDnn, double tol = 1e-5,
                     const std::string& op = "", const BuilderConfig& config = BuilderConfig{}) {
  SCOPED_TRACE(label);
  auto ref = run(m, "reference", config);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto cpu = run(m, nullptr, config);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  EXPECT_EQ(ref->backend, "reference");
  EXPECT_EQ(cpu->backend, "cpu");
  // `op`: the layer the case is about (a fused layer, or the last op of a chain).
  if (!op.empty())
    EXPECT_NE(std::find(cpu->ops.begin(), cpu->ops.end(), op), cpu->ops.end())
        << "no " << op << " layer: the fusion pass did not fuse the chain";
  if (expect != Expect::kEither) EXPECT_EQ(cpu->fell_back, expect == Expect::kFallback);
  ASSERT_EQ(cpu->dims, ref->dims);
  int bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < ref->y.size(); ++i) {
    double a = cpu->y[i], b = ref->y[i];
    if (!(std::fabs(a - b) <= tol * (std::fabs(b) + 1))) {
      if (bad++ == 0) first = i;
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << ref->y.size() << " differ; first at " << first << ": cpu " << cpu->y[first]
                    << ", reference " << ref->y[first];
}

// Compares every case of a list (tests/kernel_cases.cpp).
void compareCases(const std::vector<KernelCase>& cases) {
  ASSERT_FALSE(cases.empty());
  for (const KernelCase& k : cases)
    compareBackends(k.model(), k.id() + " (" + k.label + ")", k.expect, k.tolerance, k.layer_op, k.config);
}

// The case matrices: kernel 1, 3, 5, 7; strides; dilations; pads; groups; batch; 1-D and 3-D;
// Gemm's transposes, alpha, beta and C shapes; MatMul's broadcasting; the pools' modes; fused
// chains; real network layers. What each list holds is in tests/kernel_cases.cpp.
TEST(CpuKernels, Conv2dMatrix) { compareCases(test::conv2dMatrixCases()); }
TEST(CpuKernels, ConvVariants) { compareCases(test::convVariantCases()); }
TEST(CpuKernels, ConvTransposeMatrix) { compareCases(test::convTransposeMatrixCases()); }
TEST(CpuKernels, ConvTransposeVariants) { compareCases(test::convTransposeVariantCases()); }
TEST(CpuKernels, GemmMatrix) { compareCases(test::gemmMatrixCases()); }
TEST(CpuKernels, GemmShapes) { compareCases(test::gemmShapeCases()); }
TEST(CpuKernels, MatMulMatrix) { compareCases(test::matMulCases()); }
TEST(CpuKernels, Pools) { compareCases(test::poolCases()); }
TEST(CpuKernels, GlobalPools) { compareCases(test::globalPoolCases()); }
TEST(CpuKernels, FusedConv) { compareCases(test::fusedConvCases()); }
TEST(CpuKernels, FusedGemm) { compareCases(test::fusedGemmCases()); }
TEST(CpuKernels, NetworkLayers) { compareCases(test::networkLayerCases()); }

// INT8 cases (int8 in and out): the integer layer runs on the cpu backend in int8, and its
// outputs are within one quantization step of the reference's, at least 99% of them equal. The
// two compute the same requantized value rounded differently, so they can differ only where
// y / y_scale lies within a few ulps of a rounding tie (tests/cpu_int8_test.cpp has the bound).
void compareInt8Cases(const std::vector<KernelCase>& cases) {
  ASSERT_FALSE(cases.empty());
  for (const KernelCase& k : cases) {
    SCOPED_TRACE(k.id() + " (" + k.label + ")");
    OneNode m = k.model();
    auto ref_e = m.build("reference", k.config);
    ASSERT_TRUE(ref_e.ok()) << ref_e.status().toString();
    auto cpu_e = m.build(nullptr, k.config);
    ASSERT_TRUE(cpu_e.ok()) << cpu_e.status().toString();
    int found = 0;
    for (const LayerInfo& l : (*cpu_e)->layers())
      if (l.op == k.layer_op) {
        ++found;
        EXPECT_EQ(l.backend, "cpu") << l.name;
        EXPECT_EQ(l.precision, "int8") << l.name;
      }
    ASSERT_EQ(found, 1) << "the builder did not fold the pattern into " << k.layer_op;
    std::vector<int8_t> y[2];
    Dims dims[2];
    for (int b = 0; b < 2; ++b) {
      const std::shared_ptr<Engine>& e = b == 0 ? *ref_e : *cpu_e;
      auto ctx = e->createExecutionContext();
      ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
      int64_t fallbacks = cpu::fallbackCount();
      auto io = test::bindFeeds(*e, **ctx, m.feeds());  // Y poisoned with 0xFF (-1)
      ASSERT_TRUE(io.ok()) << io.status().toString();
      ASSERT_EQ(io->y_type, DataType::kInt8);
      std::memset(io->y.data(), b == 0 ? 0x5a : 0xa5, io->y.size());  // another poison per backend
      Status s = (*ctx)->enqueue();
      ASSERT_TRUE(s.ok()) << s.toString();
      if (b == 1) EXPECT_EQ(cpu::fallbackCount() != fallbacks, k.expect == Expect::kFallback);
      y[b].resize(io->y.size());
      std::memcpy(y[b].data(), io->y.data(), io->y.size());
      dims[b] = io->y_dims;
    }
    ASSERT_EQ(dims[0], dims[1]);
    size_t off = 0, bad = 0;
    for (size_t i = 0; i < y[0].size(); ++i) {
      int d = std::abs(int(y[0][i]) - int(y[1][i]));
      off += d != 0;
      bad += d > 1;
    }
    EXPECT_EQ(bad, 0u) << bad << " of " << y[0].size() << " int8 outputs more than one step apart";
    EXPECT_LE(off, y[0].size() / 100) << off << " of " << y[0].size() << " int8 outputs one step off";
  }
}

TEST(CpuKernels, Int8NetworkLayers) { compareInt8Cases(test::int8NetworkLayerCases()); }

// BF16 cases: inputs and weights are bf16 values, so the reference's FP32 result on them is the
// exact-operand oracle; the cpu engine (every layer bf16, obeyed) computes the same products,
// accumulates in f32 and rounds its output to bf16: every output must be a bf16 value within
// one rounding (2^-8 relative) of the oracle, plus 1e-4 for the f32 accumulation order.
void compareBf16Cases(const std::vector<KernelCase>& cases) {
  ASSERT_FALSE(cases.empty());
  for (const KernelCase& k : cases) {
    SCOPED_TRACE(k.id() + " (" + k.label + ")");
    OneNode m = k.model();
    auto ref = run(m, "reference", k.reference_fp32 ? BuilderConfig{} : k.config);
    ASSERT_TRUE(ref.ok()) << ref.status().toString();
    auto cpu_e = m.build(nullptr, k.config);
    ASSERT_TRUE(cpu_e.ok()) << cpu_e.status().toString();
    int found = 0;
    for (const LayerInfo& l : (*cpu_e)->layers())
      if (l.op != "Identity" && l.op != "Cast") {
        ++found;
        EXPECT_EQ(l.backend, "cpu") << l.name << " " << l.op;
        EXPECT_EQ(l.precision, "bf16") << l.name << " " << l.op;
      }
    EXPECT_GE(found, 1);
    auto cpu = run(m, *cpu_e);
    ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
    EXPECT_FALSE(cpu->fell_back);
    ASSERT_EQ(cpu->dims, ref->dims);
    size_t bad = 0, not_bf16 = 0, first = 0;
    for (size_t i = 0; i < ref->y.size(); ++i) {
      float a = cpu->y[i];
      double b = ref->y[i];
      uint32_t bits;
      std::memcpy(&bits, &a, sizeof bits);
      not_bf16 += (bits & 0xFFFF) != 0;
      if (!(std::fabs(a - b) <= k.tolerance * std::fabs(b) + 1e-4) && bad++ == 0) first = i;
    }
    EXPECT_EQ(not_bf16, 0u) << not_bf16 << " outputs are not bf16 values";
    EXPECT_EQ(bad, 0u) << bad << " of " << ref->y.size() << " differ; first at " << first << ": cpu " << cpu->y[first]
                       << ", reference " << ref->y[first];
  }
}

// (Without AVX512_BF16 oneDNN emulates bf16: the results are the same, only slower.)
TEST(CpuKernels, Bf16NetworkLayers) { compareBf16Cases(test::bf16NetworkLayerCases()); }
TEST(CpuKernels, Softmax) { compareCases(test::softmaxCases()); }
TEST(CpuKernels, LayerNorm) { compareCases(test::layerNormCases()); }
TEST(CpuKernels, CastToFloat) { compareCases(test::castToFloatCases()); }

// Every case id (family/name) is unique across the lists, a benchmark name can carry it, and the
// FP32 lists hold the cases they held when they lived in this file (624) plus the network layers.
TEST(CpuKernels, CaseNamesUnique) {
  std::set<std::string> ids;
  size_t count = 0, fp32 = 0;
  for (const test::CaseList& list : test::caseLists())
    for (const KernelCase& k : list.cases()) {
      ++count;
      if (std::string(list.name).find("NetworkLayers") == std::string::npos) ++fp32;  // the first 11 lists
      EXPECT_TRUE(ids.insert(k.id()).second) << "duplicate case " << k.id() << " in " << list.name;
      EXPECT_FALSE(k.name.empty()) << list.name;
      for (char ch : k.name)
        EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.') << k.id();
      EXPECT_TRUE(k.model) << k.id();
    }
  EXPECT_EQ(ids.size(), count);
  EXPECT_GE(fp32, 624u);
}

// ---- backend choice and weight sharing ----

TEST(CpuKernels, BackendChoice) {
  // MaxPool with its Indices output has no cpu kernel: the builder keeps it on the reference.
  OneNode m("MaxPool", 12);
  m.input(randomTensor("X", {1, 2, 6, 6}, 1)).ints("kernel_shape", {2, 2}).output("I", DataType::kInt64);
  auto e = m.build(nullptr);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  EXPECT_EQ((*e)->layers().at(0).backend, "reference");
  // A bad QRT_BACKEND is an error naming the variable.
  auto bad = test::convModel(ConvCase{}, false, 1).build("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("QRT_BACKEND"), std::string::npos) << bad.status().toString();
}

// Runs `ctx` on input X (output Y): the context reshapes when X's shape changed.
Result<std::vector<float>> runContext(ExecutionContext& ctx, const Tensor& x) {
  QRT_RETURN_IF_ERROR(ctx.setInputShape("X", x.dims));
  QRT_RETURN_IF_ERROR(ctx.setTensorAddress("X", const_cast<float*>(x.values.data())));
  QRT_ASSIGN_OR_RETURN(Dims dims, ctx.tensorShape("Y"));
  std::vector<float> y(static_cast<size_t>(volume(dims)), std::numeric_limits<float>::quiet_NaN());
  QRT_RETURN_IF_ERROR(ctx.setTensorAddress("Y", y.data()));
  QRT_RETURN_IF_ERROR(ctx.enqueue());
  return y;
}

// The number of elements outside |cpu - ref| <= 1e-5 (|ref| + 1) (a size mismatch: all).
size_t countDiffering(const std::vector<float>& cpu, const std::vector<float>& ref) {
  if (cpu.size() != ref.size()) return std::max(cpu.size(), ref.size());
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(cpu[i] - ref[i]) <= 1e-5 * (std::fabs(ref[i]) + 1))) ++bad;
  return bad;
}

TEST(CpuKernels, ReshapeBetweenRunsAndConcurrentContexts) {
  ConvCase c;
  c.c = 32, c.m = 32, c.spatial = {14, 14}, c.pads = {1, 1, 1, 1};
  OneNode m = test::convModel(c, false, 77);
  m.dynamicBatch();
  auto cpu = m.build(nullptr);
  auto ref = m.build("reference");
  ASSERT_TRUE(cpu.ok() && ref.ok()) << cpu.status().toString() << " / " << ref.status().toString();
  auto cpu_ctx = (*cpu)->createExecutionContext();
  auto ref_ctx = (*ref)->createExecutionContext();
  ASSERT_TRUE(cpu_ctx.ok() && ref_ctx.ok());
  // One context through batch 1, 3, 2, 3: its primitives are rebuilt at each reshape.
  std::vector<Tensor> inputs;
  for (int64_t n : {1, 3, 2, 3}) inputs.push_back(randomTensor("X", {n, c.c, 14, 14}, 100 + static_cast<uint32_t>(n)));
  std::vector<std::vector<float>> expected;
  for (const Tensor& x : inputs) {
    auto want = runContext(**ref_ctx, x);
    auto got = runContext(**cpu_ctx, x);
    ASSERT_TRUE(want.ok() && got.ok()) << want.status().toString() << " / " << got.status().toString();
    EXPECT_EQ(countDiffering(*got, *want), 0u) << "batch " << x.dims[0];
    expected.push_back(*want);
  }
  // Two contexts of the engine running at once on two threads (each with its own OpenMP team).
  size_t bad[2] = {0, 0};
  std::string errors[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      auto ctx = (*cpu)->createExecutionContext();
      if (!ctx.ok()) {
        errors[t] = ctx.status().toString();
        return;
      }
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < inputs.size(); ++i) {
          auto got = runContext(**ctx, inputs[i]);
          if (!got.ok()) errors[t] = got.status().toString();
          else bad[t] += countDiffering(*got, expected[i]);
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    EXPECT_EQ(bad[t], 0u) << "thread " << t;
  }
}

TEST(CpuKernels, WeightsPackedOncePerEngine) {
  ConvCase c;
  c.c = 32, c.m = 32, c.spatial = {14, 14}, c.pads = {1, 1, 1, 1};
  OneNode m = test::convModel(c, false, 42);
  auto engine = m.build(nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  // Three live execution contexts of one engine: the weights are reordered once, and the
  // outputs agree. (The cache holds packed weights weakly: they go with the last context.)
  int64_t before = cpu::packCount();
  std::vector<std::unique_ptr<ExecutionContext>> contexts(3);
  std::vector<float> first;
  for (int i = 0; i < 3; ++i) {
    auto r = run(m, *engine, &contexts[i]);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    ASSERT_FALSE(r->fell_back);
    if (i == 0)
      first = r->y;
    else
      EXPECT_EQ(r->y, first);
  }
  EXPECT_EQ(cpu::packCount(), before + 1);
}

#endif  // QRT_HAVE_DNNL

}  // namespace
}  // namespace qrt
