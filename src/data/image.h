// Decoded 8-bit images (JPEG, PNG) for calibration and evaluation.
//
// Colour images come out in BGR order, as OpenCV's cv2.imread(path) (IMREAD_COLOR) gives them,
// so preprocessing specs written for OpenCV pipelines mean the same thing here; grayscale files
// stay one channel (imread would replicate them into three identical channels, which the
// preprocessing does when a spec asks for colour). Alpha is dropped, 16-bit samples keep their
// high byte, palettes are expanded, and a JPEG's EXIF orientation is applied, all as imread does.
// The pixels agree with imread's exactly, except for CMYK JPEGs (rare), where ink converts as
// value * K / 255 and imread's integer shortcut can be one level higher. PNG EXIF orientation is
// not applied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qrt/status.h"

namespace qrt {

struct Image {
  int height = 0, width = 0;
  int channels = 0;           // 1 (gray) or 3 (BGR)
  std::vector<uint8_t> data;  // HWC, rows packed (width * channels bytes each)

  uint8_t at(int y, int x, int c) const {
    return data[(static_cast<size_t>(y) * width + x) * channels + c];
  }
};

// Decodes a JPEG or PNG held in memory; the format is found from the magic bytes, never from a
// file name. `name` only labels error messages ("<name>: corrupt JPEG: ...").
Result<Image> decodeImage(const uint8_t* data, size_t size, const std::string& name);
// Reads and decodes an image file. Unreadable, corrupt, truncated or unknown-format files give a
// Status naming the file.
Result<Image> readImage(const std::string& path);

}  // namespace qrt
