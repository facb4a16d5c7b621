// The stored forms of the CUDA convolution tactics, free of CUDA headers (tests and tools use
// them): a tactic string as kept in the engine (node attribute kAttrTactic) and in the timing
// cache file. conv_graph.h builds plans from them; conv_tactics.h chooses them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "qrt/status.h"

namespace qrt::cuda {

// The epilogue parts the graph carries: everything (kFull), or the convolution alone with qrt's
// epilogue kernel after it (kConvOnly).
enum class Fusion { kFull = 0, kConvOnly = 1 };

// A storable plan choice: "f<fusion>:c<padded input channels, 0: none>:e<global index>:k<type>=<value>,...".
// Padding copies x into a zero-filled buffer of more channels (NHWC, group 1) with zero weights
// there: cuDNN has no fast kernel for C = 3 (conv1) and INT8 needs C a multiple of 4.
struct Tactic {
  Fusion fusion = Fusion::kFull;
  int64_t pad_c = 0;
  int64_t engine = -1;
  std::vector<std::pair<int64_t, int64_t>> knobs;
  // The engine compiles its kernel at plan build (cuDNN's runtime-fusion engines, NVRTC); set by
  // ConvGraph::candidates, not part of str().
  bool compiled = false;
  std::string str() const;
  static bool parse(const std::string& s, Tactic* t);
};

// The node attribute that stores a tactic chosen at build time: "<signature>|<tactic>".
inline constexpr const char kAttrTactic[] = "qrt_tactic";

// One timing cache entry: the tactic (Tactic::str() or "legacy") and its median time.
struct TimingEntry {
  std::string tactic;
  double us = 0;
};

// The file: "# qrt timing cache v1", then one "<key>\t<tactic>\t<microseconds>" per line.
// A file that is not a timing cache is an error; a malformed line a warning (it is dropped).
Status readTimingCache(const std::string& path, std::map<std::string, TimingEntry>* entries);
Status writeTimingCache(const std::string& path, const std::map<std::string, TimingEntry>& entries);

}  // namespace qrt::cuda
