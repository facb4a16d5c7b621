// File helpers: whole-file reads and atomic writes (temporary file in the same folder, fsync,
// rename), so a failed write (full disk, permission) never leaves a half-written file behind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qrt/status.h"

namespace qrt {

Result<std::vector<uint8_t>> readFileBytes(const std::string& path);
Status writeFileAtomic(const std::string& path, const void* data, size_t size);
// Writes several pieces in order, atomically.
Status writeFileAtomic(const std::string& path, const std::vector<std::pair<const void*, size_t>>& pieces);

}  // namespace qrt
