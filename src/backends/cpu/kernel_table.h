// The cpu backend: oneDNN kernels for the compute-heavy ops (FP32 for now). Each family file
// keeps its factories; kernel_table.cpp lists them, one line per (op, dtypes). A factory that
// returns an error means "not this node" (an attribute or rank it does not handle): the builder
// then gives the node to the reference backend. Shapes that turn out unsupported at reshape run
// on the node's reference kernel inside the cpu kernel (see DnnlKernel in dnnl_util.h).
#pragma once

#include "backends/kernel.h"

namespace qrt::cpu {

// The entry for a node (domain, op, and the dtype of the entry's type input), or nullptr.
const KernelEntry* findKernel(const ir::Node& node);

Result<std::unique_ptr<Kernel>> createConv(const ir::Node& node);               // conv.cpp
Result<std::unique_ptr<Kernel>> createConvTranspose(const ir::Node& node);      // conv.cpp
Result<std::unique_ptr<Kernel>> createGemm(const ir::Node& node);               // gemm.cpp
Result<std::unique_ptr<Kernel>> createMatMul(const ir::Node& node);             // gemm.cpp
Result<std::unique_ptr<Kernel>> createMaxPool(const ir::Node& node);            // pool.cpp
Result<std::unique_ptr<Kernel>> createAveragePool(const ir::Node& node);        // pool.cpp
Result<std::unique_ptr<Kernel>> createGlobalAveragePool(const ir::Node& node);  // pool.cpp
Result<std::unique_ptr<Kernel>> createGlobalMaxPool(const ir::Node& node);      // pool.cpp
Result<std::unique_ptr<Kernel>> createFusedConv(const ir::Node& node);          // fused.cpp
Result<std::unique_ptr<Kernel>> createFusedGemm(const ir::Node& node);          // fused.cpp
Result<std::unique_ptr<Kernel>> createLayoutChange(const ir::Node& node);       // layout_change.cpp
Result<std::unique_ptr<Kernel>> createBinary(const ir::Node& node);             // eltwise.cpp
Result<std::unique_ptr<Kernel>> createUnary(const ir::Node& node);              // eltwise.cpp
Result<std::unique_ptr<Kernel>> createConcat(const ir::Node& node);             // eltwise.cpp
Result<std::unique_ptr<Kernel>> createResize(const ir::Node& node);             // resize.cpp
Result<std::unique_ptr<Kernel>> createQConv(const ir::Node& node);              // qconv.cpp
Result<std::unique_ptr<Kernel>> createQGemm(const ir::Node& node);              // qgemm.cpp
Result<std::unique_ptr<Kernel>> createQMatMul(const ir::Node& node);            // qgemm.cpp
Result<std::unique_ptr<Kernel>> createQuantizeLinear(const ir::Node& node);     // qquantize.cpp
Result<std::unique_ptr<Kernel>> createDequantizeLinear(const ir::Node& node);   // qquantize.cpp
Result<std::unique_ptr<Kernel>> createAddQuantize(const ir::Node& node);        // qquantize.cpp
Result<std::unique_ptr<Kernel>> createSoftmax(const ir::Node& node);            // softmax.cpp
Result<std::unique_ptr<Kernel>> createLogSoftmax(const ir::Node& node);         // softmax.cpp
Result<std::unique_ptr<Kernel>> createLayerNorm(const ir::Node& node);          // layer_norm.cpp
Result<std::unique_ptr<Kernel>> createCast(const ir::Node& node);               // cast.cpp

}  // namespace qrt::cpu
