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
  const size_t n = uses.size();
  plan.offsets.assign(n, 0);
  plan.shared.assign(n, -1);
  // Merge in-place pairs into groups (a chain a -> b -> c is one group): each group is one
  // buffer living from its first write to its last read. root[i] names i's group.
  std::vector<size_t> root(n);
  std::iota(root.begin(), root.end(), 0);
  std::vector<bool> taken(n, false);
  // Visit in order of first write so that a chain's earlier links are merged first.
  std::vector<size_t> by_first(n);
  std::iota(by_first.begin(), by_first.end(), 0);
  std::stable_sort(by_first.begin(), by_first.end(), [&](size_t a, size_t b) { return uses[a].first < uses[b].first; });
  std::vector<BufferUse> group(uses);  // per root: the group's byte size and lifetime
  for (size_t i : by_first) {
    int s = uses[i].share;
    if (s < 0 || static_cast<size_t>(s) >= n || static_cast<size_t>(s) == i || taken[s]) continue;
    const BufferUse& u = uses[i];
    const BufferUse& v = uses[s];
    if (u.bytes != v.bytes || v.last != u.first || v.first >= u.first) continue;
    size_t r = root[s];
    taken[s] = true;
    plan.shared[i] = s;
    root[i] = r;
    group[r].first = std::min(group[r].first, u.first);
    group[r].last = std::max(group[r].last, u.last);
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i)
    if (root[i] == i) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return group[a].bytes > group[b].bytes; });
  std::vector<size_t> placed;
  for (size_t i : order) {
    const BufferUse& u = group[i];
    size_t size = alignUp(std::max<size_t>(u.bytes, 1));
    // Intervals [offset, offset+size) of placed buffers alive at the same time, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j : placed) {
      const BufferUse& v = group[j];
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
  for (size_t i = 0; i < n; ++i) plan.offsets[i] = plan.offsets[root[i]];
  return plan;
}

}  // namespace qrt
