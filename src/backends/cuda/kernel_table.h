// The CUDA backend's explicit kernel table, one family per file; kernel_table.cpp lists them.
#pragma once

#include <span>

#include "backends/cuda/cuda_kernel.h"

namespace qrt::cuda {

std::span<const CudaKernelEntry> elementwiseKernels();  // elementwise.cpp
std::span<const CudaKernelEntry> movementKernels();     // movement.cpp
std::span<const CudaKernelEntry> nnKernels();           // nn.cpp: pools, softmax, batch norm, resize
std::span<const CudaKernelEntry> convKernels();         // conv.cpp (cuDNN)
std::span<const CudaKernelEntry> gemmKernels();         // gemm.cpp (cuBLASLt)
std::span<const CudaKernelEntry> quantizeKernels();     // quantize_ops.cpp: QuantizeLinear, DequantizeLinear, int8 MaxPool
std::span<const CudaKernelEntry> qgemmKernels();        // qgemm.cpp: QGemm, QMatMul (cuBLASLt INT8)

// The entry for a node (ONNX domain only), or nullptr.
const CudaKernelEntry* findKernel(const ir::Node& node);
// Creates the node's kernel on `dev` (nullptr: validation only, see cuda_kernel.h).
Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node, DeviceContext* dev);

}  // namespace qrt::cuda
