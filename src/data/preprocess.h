// Image preprocessing as data: a small spec (colour order, resize, scale, mean/std, layout)
// that lives in a JSON file or in an engine's "preprocess" metadata, so the numbers a model was
// trained with travel with it instead of living in code.
//
// The pipeline, per image (an Image from readImage: BGR or gray, uint8):
//   1. colour: to gray with OpenCV's cvtColor(BGR2GRAY) fixed-point weights when the spec is gray
//      and the image is colour (before resizing, as a pipeline that converts then resizes does);
//   2. resize: bilinear on uint8, matching cv2.resize(INTER_LINEAR) (half-pixel centres, 11-bit
//      fixed-point weights) to within one level;
//   3. channel order: BGR kept, or swapped to RGB; a gray image is replicated into three channels
//      when the spec asks for colour;
//   4. out[c] = (pixel * scale - mean[c]) / std[c], written CHW or HWC as float.
// The equivalent OpenCV/NumPy code:
//   img = cv2.imread(path)                                   # BGR
//   img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)              # if color == "gray"
//   img = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR)
//   img = img[..., ::-1]                                     # if color == "rgb"
//   x = (img.astype(np.float32) * scale - mean) / std        # then .transpose(2, 0, 1) for nchw
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"
#include "qrt/status.h"

namespace qrt {

enum class ColorOrder { kRGB, kBGR, kGray };
enum class TensorLayout { kNCHW, kNHWC };

struct PreprocessSpec {
  ColorOrder color = ColorOrder::kRGB;
  int resize_height = 0, resize_width = 0;  // 0, 0: keep the image's size
  float scale = 1.0f / 255.0f;
  std::vector<float> mean = {0.0f};  // one value for all channels, or one per channel
  std::vector<float> std = {1.0f};
  TensorLayout layout = TensorLayout::kNCHW;

  int channels() const { return color == ColorOrder::kGray ? 1 : 3; }
  bool operator==(const PreprocessSpec&) const = default;
};

const char* colorOrderName(ColorOrder c);    // "rgb", "bgr", "gray"
const char* tensorLayoutName(TensorLayout l);  // "nchw", "nhwc"
Result<ColorOrder> parseColorOrder(const std::string& s);
Result<TensorLayout> parseTensorLayout(const std::string& s);
// "224x224" -> (224, 224).
Status parseResize(const std::string& s, int* height, int* width);

// Checks mean/std sizes (1 or channels()), std != 0, finite values, resize both set or both 0.
Status validatePreprocess(const PreprocessSpec& spec);

// Parses the JSON form:
//   {"color": "rgb", "resize": "224x224", "scale": 0.00392156862745098,
//    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "nchw"}
// Every key is optional (defaults above); "resize" may also be [H, W]; "mean"/"std" may be a
// single number. Unknown keys are errors (a misspelt "means" must not silently mean 0). Errors
// give line:column.
Result<PreprocessSpec> parsePreprocessJson(const std::string& text);
// Reads and parses a spec file; errors name the file.
Result<PreprocessSpec> readPreprocessFile(const std::string& path);
// The JSON form; parsePreprocessJson(toJson(s)) == s.
std::string toJson(const PreprocessSpec& spec);

// Step 1 alone: BGR -> gray as cv2.cvtColor(COLOR_BGR2GRAY) does for uint8 (bit-exact).
Image bgrToGray(const Image& bgr);
// Step 2 alone: cv2.resize(src, (width, height), interpolation=INTER_LINEAR) on uint8.
Image resizeBilinear(const Image& src, int height, int width);

// The whole pipeline for one image. `out` holds channels() * H * W floats, where H x W is the
// resize (or the image's size when the spec keeps it).
Status preprocess(const Image& image, const PreprocessSpec& spec, float* out);

}  // namespace qrt
