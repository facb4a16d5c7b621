// Factories of the reference nn kernels, declared for the family table in nn.cpp.
#pragma once

#include "backends/kernel.h"

namespace qrt::reference {

Result<std::unique_ptr<Kernel>> createConv(const ir::Node& node);                // conv.cpp
Result<std::unique_ptr<Kernel>> createConvTranspose(const ir::Node& node);       // conv.cpp
Result<std::unique_ptr<Kernel>> createGemm(const ir::Node& node);                // gemm.cpp
Result<std::unique_ptr<Kernel>> createMatMul(const ir::Node& node);              // gemm.cpp
Result<std::unique_ptr<Kernel>> createMaxPool(const ir::Node& node);             // pool.cpp
Result<std::unique_ptr<Kernel>> createAveragePool(const ir::Node& node);         // pool.cpp
Result<std::unique_ptr<Kernel>> createGlobalAveragePool(const ir::Node& node);   // pool.cpp
Result<std::unique_ptr<Kernel>> createGlobalMaxPool(const ir::Node& node);       // pool.cpp

}  // namespace qrt::reference
