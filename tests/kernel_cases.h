// The kernel cases the tests and the micro-benchmarks share. One case is one small model (one
// node, or a chain the fusion pass turns into one layer) with its inputs; tests/cpu_kernels_test
// runs each on the cpu and the reference backend and compares, bench/micro times each on both.
//
// Cases come in lists (CaseList), one or more per op family. A case has a short name, stable and
// unique within its family: "<family>/<name>" names its benchmarks and selects them
// (--benchmark_filter). To add cases: append to a list in kernel_cases.cpp, or write a new list
// function and add one line for it to caseLists() (INT8 and BF16 lists go there the same way;
// a list whose models need builder flags sets KernelCase::config).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model_builder.h"

namespace qrt::test {

// Whether the cpu kernel must run on oneDNN, must hand the shape to the reference kernel inside
// it, or may do either.
enum class Expect { kOneDnn, kFallback, kEither };

struct KernelCase {
  std::string family;              // the op family: "Conv", "Gemm", "Pool", "FusedConv", ...
  std::string name;                // short and stable, unique in the family: "k3_g2_s1_d1_psym_n1"
  std::string label;               // the long description test failures print
  std::function<OneNode()> model;  // builds the model and its feeds
  BuilderConfig config;            // builder flags (precisions) the case is built with
  bool reference_fp32 = false;     // the reference backend builds without `config` (FP32 oracle)
  Expect expect = Expect::kOneDnn;
  std::string layer_op;            // the op the engine's first layer must be ("FusedConv"); "" any
  double tolerance = 1e-5;         // |cpu - ref| <= tolerance * (|ref| + 1)
  // FLOPs of one run: flops_fixed + flops_per_output * volume(Y). A multiply-add counts 2, a
  // pooling window element 1; fused epilogues (bias, activation, residual) are not counted.
  double flops_fixed = 0, flops_per_output = 0;

  std::string id() const { return family + "/" + name; }
  double flops(const Dims& y) const { return flops_fixed + flops_per_output * static_cast<double>(volume(y)); }
};

struct CaseList {
  const char* name;                       // the test of this list is CpuKernels.<name>
  std::vector<KernelCase> (*cases)();
};

// A convolution (or, built with transpose, a ConvTranspose: then c is its input channels and m
// its output channels).
struct ConvCase {
  int64_t n = 1, c = 4, m = 8, group = 1;
  Dims spatial{11, 9};
  std::vector<int64_t> kernel{3, 3}, strides, dilations, pads;
  bool bias = true;
  bool weights_constant = true;
  std::string auto_pad;
  // Weights uniform in [-weight_scale, weight_scale). Real layers keep their sums of order 1
  // with 1/sqrt(fan-in) (He-style), which keeps FP32 rounding inside 1e-5 at K in the thousands.
  float weight_scale = 1.f;

  std::string label() const;
  // Multiply-adds x 2 per output element (Conv), or in all (ConvTranspose: per input element).
  double convFlopsPerOutput() const;
  double transposeFlops() const;
};

// X [n, c, spatial...], W, optional B; attributes from the case. Inputs from `seed` on.
OneNode convModel(const ConvCase& c, bool transpose, uint32_t seed);

// The FP32 lists (the oneDNN kernels of docs/cpu_backend.md).
std::vector<KernelCase> conv2dMatrixCases();
std::vector<KernelCase> convVariantCases();
std::vector<KernelCase> convTransposeMatrixCases();
std::vector<KernelCase> convTransposeVariantCases();
std::vector<KernelCase> gemmMatrixCases();
std::vector<KernelCase> gemmShapeCases();
std::vector<KernelCase> matMulCases();
std::vector<KernelCase> poolCases();
std::vector<KernelCase> globalPoolCases();
std::vector<KernelCase> fusedConvCases();
std::vector<KernelCase> fusedGemmCases();
// Layers of real networks (ResNet-50, MobileNetV2, their classifiers) at their sizes: what the
// micro-benchmarks are most worth reading on.
std::vector<KernelCase> networkLayerCases();
// The same layers in INT8: QDQ models (Q -> DQ -> Conv/Gemm with DQ'd per-channel int8 weights
// [-> Relu] -> Q) that the builder folds into QConv / QGemm, int8 in and out.
std::vector<KernelCase> int8NetworkLayerCases();
// The FP32 network layers' Conv/FusedConv/Gemm/MatMul cases in BF16 (every layer bf16, obeyed),
// on inputs and weights rounded to bf16: the reference runs them in FP32 as the oracle.
std::vector<KernelCase> bf16NetworkLayerCases();
// Softmax and LogSoftmax (opset 11's 2-D coercion and 13's single axis; tails, large rows, the
// PP-OCRv4 recognizer's shapes), LayerNormalization (axes, broadcast Scale/B, no B), Cast of
// fp16/bf16/int8/uint8/int32/int64 to fp32 (exact).
std::vector<KernelCase> softmaxCases();
std::vector<KernelCase> layerNormCases();
std::vector<KernelCase> castToFloatCases();

// Every list, in order: the micro-benchmarks register all of them.
const std::vector<CaseList>& caseLists();

}  // namespace qrt::test
