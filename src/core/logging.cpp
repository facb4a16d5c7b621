#include "core/logging.h"

#include <cstdio>
#include <mutex>

namespace qrt {

namespace {
struct LogState {
  std::mutex m;
  LogSeverity max = LogSeverity::kWarning;
  std::function<void(LogSeverity, const std::string&)> sink;
};
LogState& state() {
  static LogState s;
  return s;
}
const char* prefix(LogSeverity s) {
  switch (s) {
    case LogSeverity::kError: return "error";
    case LogSeverity::kWarning: return "warning";
    case LogSeverity::kInfo: return "info";
    case LogSeverity::kVerbose: return "verbose";
  }
  return "info";
}
}  // namespace

void setLogSeverity(LogSeverity max_severity) {
  std::lock_guard<std::mutex> lk(state().m);
  state().max = max_severity;
}

void setLogCallback(std::function<void(LogSeverity, const std::string&)> sink) {
  std::lock_guard<std::mutex> lk(state().m);
  state().sink = std::move(sink);
}

void logMessage(LogSeverity severity, const std::string& message) {
  std::lock_guard<std::mutex> lk(state().m);
  if (static_cast<int>(severity) > static_cast<int>(state().max)) return;
  if (state().sink) state().sink(severity, message);
  else std::fprintf(stderr, "qrt: %s: %s\n", prefix(severity), message.c_str());
}

}  // namespace qrt
