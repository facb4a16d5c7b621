#include "backends/cpu/kernel_table.h"

#include "ops/op.h"

namespace qrt::cpu {

namespace {

constexpr DTypeSet kF32{DataType::kFloat};
// bf16 layers exist where the builder chose bf16 (src/builder/precision.cpp).
constexpr DTypeSet kF32Bf16{DataType::kFloat, DataType::kBFloat16};
constexpr DTypeSet kS8{DataType::kInt8};
constexpr DTypeSet kS8U8{DataType::kInt8, DataType::kUInt8};
constexpr DTypeSet kCastFrom{DataType::kFloat, DataType::kHalf,  DataType::kBFloat16, DataType::kInt8,
                             DataType::kUInt8, DataType::kInt32, DataType::kInt64,    DataType::kBool};

const KernelEntry kKernels[] = {
    {"Conv", kF32Bf16, &createConv},
    {"ConvTranspose", kF32, &createConvTranspose},
    {"Gemm", kF32Bf16, &createGemm},
    {"MatMul", kF32Bf16, &createMatMul},
    {"MaxPool", kF32Bf16, &createMaxPool},
    {"MaxPool", kS8U8, &createMaxPool},  // INT8 graphs (passes/quantize_before_maxpool.h)
    {"AveragePool", kF32Bf16, &createAveragePool},
    {"GlobalAveragePool", kF32Bf16, &createGlobalAveragePool},
    {"GlobalMaxPool", kF32Bf16, &createGlobalMaxPool},
    {"Identity", kF32Bf16, &createLayoutChange},  // only the layout changes of passes/cpu_layout.cpp
    {"Identity", kS8U8, &createLayoutChange},  // the same in INT8 regions
    // Element-wise ops and Concat: only inside NHWC regions (passes/cpu_layout.cpp moves them).
    {"Add", kF32, &createBinary},
    {"Sub", kF32, &createBinary},
    {"Mul", kF32, &createBinary},
    {"Div", kF32, &createBinary},
    {"Relu", kF32, &createUnary},
    {"LeakyRelu", kF32, &createUnary},
    {"Sigmoid", kF32, &createUnary},
    {"Tanh", kF32, &createUnary},
    {"HardSwish", kF32, &createUnary},
    {"Clip", kF32, &createUnary},
    {"Concat", kF32, &createConcat},
    {"Resize", kF32, &createResize},
    {"FusedConv", kF32Bf16, &createFusedConv, 0, kQrtDomain},
    {"FusedGemm", kF32Bf16, &createFusedGemm, 0, kQrtDomain},
    {"QConv", kS8, &createQConv, 0, kQrtDomain},
    {"QGemm", kS8, &createQGemm, 0, kQrtDomain},
    {"QMatMul", kS8, &createQMatMul, 0, kQrtDomain},
    {"QuantizeLinear", kF32, &createQuantizeLinear},
    {"DequantizeLinear", kS8U8, &createDequantizeLinear},
    {"AddQuantize", kF32, &createAddQuantize, 0, kQrtDomain},
    // FP32 only: oneDNN 2.6's bf16 softmax rounds twice (exp, then the scaling), 1.3 ulp off.
    {"Softmax", kF32, &createSoftmax},
    {"LogSoftmax", kF32, &createLogSoftmax},
    {"LayerNormalization", kF32, &createLayerNorm},
    // The factory takes the pairs it converts (cast.cpp) and refuses the rest.
    {"Cast", kCastFrom, &createCast},
};

// The node's domain is the entry's ("ai.onnx" is the default domain "").
bool sameDomain(const std::string& node_domain, const char* entry_domain) {
  return node_domain == "ai.onnx" ? *entry_domain == '\0' : node_domain == entry_domain;
}

}  // namespace

const KernelEntry* findKernel(const ir::Node& node) {
  for (const KernelEntry& e : kKernels) {
    if (node.op_type != e.op_type || !sameDomain(node.domain, e.domain)) continue;
    DataType t =
        node.hasInput(static_cast<size_t>(e.type_input)) ? node.inputs[e.type_input]->dtype : DataType::kUndefined;
    if (e.dtypes.contains(t)) return &e;
  }
  return nullptr;
}

}  // namespace qrt::cpu
