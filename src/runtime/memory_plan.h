// Activation memory planning: assigns each buffer an offset in one arena so that buffers whose
// lifetimes overlap never share bytes. Greedy by size (largest first, lowest fitting offset),
// which is what TFLite's and ONNX Runtime's arena planners do in spirit.
#pragma once

#include <cstddef>
#include <vector>

namespace qrt {

struct BufferUse {
  size_t bytes = 0;
  int first = 0;  // first step that writes it
  int last = 0;   // last step that reads it (inclusive)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // one per BufferUse, 64-byte aligned
  size_t total = 0;
};

MemoryPlan planMemory(const std::vector<BufferUse>& uses);

}  // namespace qrt
