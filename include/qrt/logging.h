// qrt public API: where the library's messages go (warnings such as "calibration cache does not
// match", build notes). By default warnings and errors go to stderr, info is dropped.
#pragma once

#include <functional>
#include <string>

namespace qrt {

enum class LogSeverity { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

// Messages at or above this severity (lower value = more severe) are passed on.
void setLogSeverity(LogSeverity max_severity);
// Replaces the sink (nullptr restores stderr).
void setLogCallback(std::function<void(LogSeverity, const std::string&)> sink);

}  // namespace qrt
