// The explicit table of supported ONNX operators. Each family file (src/ops/<family>.cpp) keeps
// its own table of OpDef lines; op_table.cpp lists the families.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ops/op.h"

namespace qrt {

// Family tables (one per file in src/ops/).
std::span<const OpDef> elementwiseOps();   // unary, binary, compare, logical, Where, Cast, Clip, activations
std::span<const OpDef> nnOps();            // Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, pools
std::span<const OpDef> tensorOps();        // shape and data-movement ops
std::span<const OpDef> reduceOps();        // Reduce*, Softmax, LogSoftmax, LayerNormalization
std::span<const OpDef> resizeOps();        // Resize
std::span<const OpDef> quantizeOps();      // QuantizeLinear, DequantizeLinear
std::span<const OpDef> qrtOps();           // integer ops: ONNX's QLinearConv/QLinearMatMul/ConvInteger/
                                           // MatMulInteger, and qrt-domain QConv/QGemm/QMatMul
std::span<const OpDef> fusedOps();         // qrt-domain FusedConv, FusedGemm (fused.cpp)
std::span<const OpDef> int8FusedOps();     // qrt-domain AddQuantize, MaxPoolQuantize (int8_fused.cpp; CUDA builder step)

// The OpDef for an op in a domain ("" or "ai.onnx": the default ONNX domain), or nullptr.
const OpDef* findOp(const std::string& domain, const std::string& op_type);
// The OpDef for an op in the default ONNX domain, or nullptr when unsupported.
const OpDef* findOp(const std::string& op_type);
// Sorted names of all supported default-domain ops (for error messages and `qrt --version`).
std::vector<std::string> supportedOps();

}  // namespace qrt
