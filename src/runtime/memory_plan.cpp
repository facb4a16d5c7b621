#include "runtime/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace qrt {

namespace {
constexpr size_t kAlign = 64;
size_t alignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

MemoryPlan planMemory(const std::vector<BufferUse>& uses) {
  MemoryPlan plan;
  plan.offsets.assign(uses.size(), 0);
  std::vector<size_t> order(uses.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return uses[a].bytes > uses[b].bytes; });
  std::vector<size_t> placed;
  for (size_t i : order) {
    const BufferUse& u = uses[i];
    size_t size = alignUp(std::max<size_t>(u.bytes, 1));
    // Intervals [offset, offset+size) of placed buffers alive at the same time, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j : placed) {
      const BufferUse& v = uses[j];
      if (v.last < u.first || u.last < v.first) continue;
      busy.emplace_back(plan.offsets[j], plan.offsets[j] + alignUp(std::max<size_t>(v.bytes, 1)));
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + size <= b) break;
      offset = std::max(offset, e);
    }
    plan.offsets[i] = offset;
    plan.total = std::max(plan.total, offset + size);
    placed.push_back(i);
  }
  return plan;
}

}  // namespace qrt
