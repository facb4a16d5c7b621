// The reference backend: plain, obviously correct kernels; the oracle that fast kernels are
// tested against. Each family file keeps its own explicit table; kernel_table.cpp lists them.
#pragma once

#include <span>
#include <string>

#include "backends/kernel.h"

namespace qrt::reference {

std::span<const KernelEntry> elementwiseKernels();
std::span<const KernelEntry> nnKernels();
std::span<const KernelEntry> tensorKernels();
std::span<const KernelEntry> reduceKernels();
std::span<const KernelEntry> resizeKernels();
std::span<const KernelEntry> quantizeKernels();
std::span<const KernelEntry> qopsKernels();  // QConv/QGemm/QMatMul, QLinear*, *Integer
std::span<const KernelEntry> fusedKernels();  // FusedConv, FusedGemm (fused.cpp)

// The entry for a node (domain, op, and the dtype of the entry's type input), or nullptr.
const KernelEntry* findKernel(const ir::Node& node);
// True when the backend has any kernel for the op (default ONNX domain).
bool hasOp(const std::string& op_type);

}  // namespace qrt::reference
