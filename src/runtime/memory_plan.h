// Activation memory planning: assigns each buffer an offset in one arena so that buffers whose
// lifetimes overlap never share bytes. Greedy by size (largest first, lowest fitting offset),
// which is what TFLite's and ONNX Runtime's arena planners do in spirit.
//
// In-place outputs. A buffer may name another one it can share (`share`): a kernel's output that
// it is able to compute over one of its inputs (Kernel::inplaceInput; FusedConv's residual, which
// oneDNN's sum post-op accumulates into the destination). The planner gives the two one offset
// exactly when it is safe: the same byte size, the shared buffer's last reader is the step that
// first writes this one (`uses[share].last == first`: nobody reads it afterwards), and no other
// buffer has already taken it. Otherwise the buffer is placed on its own, as without `share`.
// The caller decides what may be shared at all: only planned activations take part (graph inputs
// and outputs, constants and host values are not planned), and it must not offer an input that
// the same step also reads through another argument (execution_context.cpp does both).
#pragma once

#include <cstddef>
#include <vector>

namespace qrt {

struct BufferUse {
  size_t bytes = 0;
  int first = 0;   // first step that writes it
  int last = 0;    // last step that reads it (inclusive)
  int share = -1;  // index of a buffer whose bytes this one may take over (see above); -1: none
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // one per BufferUse, 64-byte aligned
  size_t total = 0;
  std::vector<int> shared;      // per BufferUse: the index it took the bytes of, or -1
};

MemoryPlan planMemory(const std::vector<BufferUse>& uses);

}  // namespace qrt
