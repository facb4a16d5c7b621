#include "runtime/profiler.h"

#include <algorithm>
#include <cstring>

namespace qrt {

void internal::LayerTimes::report(Profiler& profiler) {
  for (const auto& [layer, ms] : times_) profiler.reportLayerTime(layer, ms);
  times_.clear();
}

void LayerTimeTable::reportLayerTime(const char* layer_name, float ms) {
  size_t i = next_;
  if (i >= rows_.size() || std::strcmp(rows_[i].layer.c_str(), layer_name) != 0) {
    auto [it, added] = index_.try_emplace(layer_name, rows_.size());
    if (added) rows_.push_back(Row{layer_name, 0.0, 0});
    i = it->second;
  }
  rows_[i].total_ms += ms;
  rows_[i].count += 1;
  next_ = i + 1 < rows_.size() ? i + 1 : 0;
}

double LayerTimeTable::totalMs() const {
  double sum = 0;
  for (const Row& r : rows_) sum += r.total_ms;
  return sum;
}

int64_t LayerTimeTable::runs() const {
  int64_t n = 0;
  for (const Row& r : rows_) n = std::max(n, r.count);
  return n;
}

void LayerTimeTable::reset() {
  rows_.clear();
  index_.clear();
  next_ = 0;
}

}  // namespace qrt
