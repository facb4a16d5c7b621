// Per-layer timing. Two halves:
//  - LayerTimes: what an execution context uses inside enqueue. It records (layer, ms) pairs into
//    storage reserved when the context is made (so enqueue still allocates nothing) and hands
//    them to the user's Profiler after the run, so the user's code never runs inside a timed
//    region and a failed run reports nothing.
//  - LayerTimeTable: a Profiler that sums the reports over many runs (what `qrt bench --profile`
//    prints, like trtexec's --dumpProfile).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "qrt/engine.h"

namespace qrt {

namespace internal {

class LayerTimes {
 public:
  using Clock = std::chrono::steady_clock;

  // Room for one run's worth of layers; record() never allocates below this.
  void reserve(size_t layers) { times_.reserve(layers); }
  void clear() { times_.clear(); }
  // The layer that started at `start` has just finished.
  void record(const char* layer, Clock::time_point start) {
    times_.emplace_back(layer, std::chrono::duration<float, std::milli>(Clock::now() - start).count());
  }
  // Reports this run's layers in run order, then forgets them.
  void report(Profiler& profiler);

 private:
  std::vector<std::pair<const char*, float>> times_;
};

}  // namespace internal

class LayerTimeTable : public Profiler {
 public:
  struct Row {
    std::string layer;
    double total_ms = 0;
    int64_t count = 0;  // how many times the layer was reported (runs it ran in)
  };

  void reportLayerTime(const char* layer_name, float ms) override;

  // One row per layer, in the order the layers first ran.
  const std::vector<Row>& rows() const { return rows_; }
  // Sum of all layers' times.
  double totalMs() const;
  // Runs seen: the largest per-layer count (every layer runs once per enqueue).
  int64_t runs() const;
  void reset();

 private:
  std::vector<Row> rows_;
  std::unordered_map<std::string, size_t> index_;
  // Layers come in the same order every run: checking the row after the last one first skips
  // the hash lookup (and its string) in the common case.
  size_t next_ = 0;
};

}  // namespace qrt
