// Creates the kernel for a node from the backend the builder chose for it (node.backend).
#pragma once

#include <memory>

#include "backends/kernel.h"

namespace qrt {

inline constexpr const char* kBackendReference = "reference";
inline constexpr const char* kBackendHost = "host";  // shape computations evaluated at reshape time

Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node);

}  // namespace qrt
