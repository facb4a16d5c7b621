// Internal logging calls (see include/qrt/logging.h for the sink and level).
#pragma once

#include <string>

#include "core/status_macros.h"
#include "qrt/logging.h"

namespace qrt {

void logMessage(LogSeverity severity, const std::string& message);

template <typename... Args>
void logWarning(const Args&... args) { logMessage(LogSeverity::kWarning, strCat(args...)); }
template <typename... Args>
void logInfo(const Args&... args) { logMessage(LogSeverity::kInfo, strCat(args...)); }

}  // namespace qrt
