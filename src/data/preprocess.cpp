#include "data/preprocess.h"

#include <algorithm>
#include <cmath>

#include "core/file_util.h"
#include "core/json_reader.h"
#include "core/json_writer.h"
#include "core/status_macros.h"

namespace qrt {

// ---------------------------------------------------------------- names and validation

const char* colorOrderName(ColorOrder c) {
  switch (c) {
    case ColorOrder::kRGB: return "rgb";
    case ColorOrder::kBGR: return "bgr";
    case ColorOrder::kGray: return "gray";
  }
  return "?";
}

const char* tensorLayoutName(TensorLayout l) { return l == TensorLayout::kNHWC ? "nhwc" : "nchw"; }

Result<ColorOrder> parseColorOrder(const std::string& s) {
  if (s == "rgb") return ColorOrder::kRGB;
  if (s == "bgr") return ColorOrder::kBGR;
  if (s == "gray" || s == "grey") return ColorOrder::kGray;
  return invalidArgument("color must be rgb, bgr or gray, got '", s, "'");
}

Result<TensorLayout> parseTensorLayout(const std::string& s) {
  if (s == "nchw") return TensorLayout::kNCHW;
  if (s == "nhwc") return TensorLayout::kNHWC;
  return invalidArgument("layout must be nchw or nhwc, got '", s, "'");
}

Status parseResize(const std::string& s, int* height, int* width) {
  auto x = s.find('x');
  auto number = [](const std::string& t, int* v) {
    if (t.empty() || t.size() > 6 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    *v = std::stoi(t);
    return *v > 0;
  };
  if (x == std::string::npos || !number(s.substr(0, x), height) || !number(s.substr(x + 1), width))
    return invalidArgument("resize must be HxW with positive sizes, e.g. 224x224, got '", s, "'");
  return Status::Ok();
}

Status validatePreprocess(const PreprocessSpec& spec) {
  const int C = spec.channels();
  if ((spec.resize_height == 0) != (spec.resize_width == 0) || spec.resize_height < 0 || spec.resize_width < 0)
    return invalidArgument("resize must give both height and width, got ", spec.resize_height, "x", spec.resize_width);
  if (!std::isfinite(spec.scale) || spec.scale == 0) return invalidArgument("scale must be finite and non-zero");
  for (const auto* v : {&spec.mean, &spec.std}) {
    const char* what = v == &spec.mean ? "mean" : "std";
    if (v->size() != 1 && static_cast<int>(v->size()) != C)
      return invalidArgument(what, " has ", v->size(), " values; color ", colorOrderName(spec.color), " needs ",
                             C == 1 ? "1" : "1 or " + std::to_string(C));
    for (float f : *v)
      if (!std::isfinite(f)) return invalidArgument(what, " values must be finite");
  }
  for (float s : spec.std)
    if (s == 0) return invalidArgument("std values must be non-zero");
  return Status::Ok();
}

// ---------------------------------------------------------------- JSON

namespace {

Status typeError(const JsonValue& v, const std::string& key, const char* expected) {
  return invalidArgument("line ", v.line(), ", column ", v.column(), ": \"", key, "\" must be ", expected, ", not ",
                         JsonValue::kindName(v.kind()));
}

Result<std::vector<float>> floatList(const JsonValue& v, const std::string& key) {
  std::vector<float> out;
  if (v.isNumber()) return std::vector<float>{static_cast<float>(v.asNumber())};
  if (!v.isArray() || v.items().empty()) return typeError(v, key, "a number or a non-empty array of numbers");
  for (const JsonValue& item : v.items()) {
    if (!item.isNumber()) return typeError(item, key + "[]", "a number");
    out.push_back(static_cast<float>(item.asNumber()));
  }
  return out;
}

// Adds the value's position to a semantic error.
Status at(const JsonValue& v, const Status& s) {
  return Status(s.code(), "line " + std::to_string(v.line()) + ", column " + std::to_string(v.column()) + ": " +
                              s.message());
}

Status parseResizeValue(const JsonValue& v, PreprocessSpec* spec) {
  if (v.isNull()) {
    spec->resize_height = spec->resize_width = 0;
    return Status::Ok();
  }
  if (v.isString()) {
    Status s = parseResize(v.asString(), &spec->resize_height, &spec->resize_width);
    return s.ok() ? s : at(v, s);
  }
  if (v.isArray() && v.items().size() == 2) {
    int dims[2];
    for (int i = 0; i < 2; ++i) {
      const JsonValue& d = v.items()[i];
      double x = d.isNumber() ? d.asNumber() : -1;
      if (x < 1 || x > 1e6 || x != std::floor(x)) return typeError(d, "resize[]", "a positive integer");
      dims[i] = static_cast<int>(x);
    }
    spec->resize_height = dims[0];
    spec->resize_width = dims[1];
    return Status::Ok();
  }
  return typeError(v, "resize", "\"HxW\", [H, W] or null");
}

}  // namespace

Result<PreprocessSpec> parsePreprocessJson(const std::string& text) {
  QRT_ASSIGN_OR_RETURN(JsonValue root, parseJson(text));
  if (!root.isObject()) return invalidArgument("line 1, column 1: a preprocessing spec must be a JSON object");
  PreprocessSpec spec;
  for (const auto& [key, v] : root.members()) {
    if (key == "color") {
      if (!v.isString()) return typeError(v, key, "a string");
      auto c = parseColorOrder(v.asString());
      if (!c.ok()) return at(v, c.status());
      spec.color = *c;
    } else if (key == "layout") {
      if (!v.isString()) return typeError(v, key, "a string");
      auto l = parseTensorLayout(v.asString());
      if (!l.ok()) return at(v, l.status());
      spec.layout = *l;
    } else if (key == "resize") {
      QRT_RETURN_IF_ERROR(parseResizeValue(v, &spec));
    } else if (key == "scale") {
      if (!v.isNumber()) return typeError(v, key, "a number");
      spec.scale = static_cast<float>(v.asNumber());
    } else if (key == "mean" || key == "std") {
      QRT_ASSIGN_OR_RETURN(std::vector<float> values, floatList(v, key));
      (key == "mean" ? spec.mean : spec.std) = std::move(values);
    } else {
      return invalidArgument("line ", v.line(), ", column ", v.column(), ": unknown key \"", key,
                             "\" (known: color, resize, scale, mean, std, layout)");
    }
  }
  QRT_RETURN_IF_ERROR(validatePreprocess(spec));
  return spec;
}

Result<PreprocessSpec> readPreprocessFile(const std::string& path) {
  QRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  auto spec = parsePreprocessJson(std::string(bytes.begin(), bytes.end()));
  if (!spec.ok()) return spec.status().withContext(path);
  return spec;
}

std::string toJson(const PreprocessSpec& spec) {
  // Floats print with 9 significant digits (JsonWriter), enough to read back the same float.
  JsonWriter j;
  j.beginObject();
  j.key("color").value(colorOrderName(spec.color));
  if (spec.resize_height > 0)
    j.key("resize").value(std::to_string(spec.resize_height) + "x" + std::to_string(spec.resize_width));
  j.key("scale").value(spec.scale);
  j.key("mean").array(spec.mean);
  j.key("std").array(spec.std);
  j.key("layout").value(tensorLayoutName(spec.layout));
  j.endObject();
  return j.str();
}

// ---------------------------------------------------------------- pixels

Image bgrToGray(const Image& bgr) {
  if (bgr.channels == 1) return bgr;
  // cvtColor's uint8 weights: round(0.114, 0.587, 0.299 * 2^15), rounding half up. Checked bit
  // for bit against OpenCV 4.6 over all 2^24 colours.
  constexpr int kB = 3735, kG = 19235, kR = 9798, kShift = 15;
  Image gray;
  gray.height = bgr.height;
  gray.width = bgr.width;
  gray.channels = 1;
  gray.data.resize(static_cast<size_t>(bgr.height) * bgr.width);
  const uint8_t* s = bgr.data.data();
  for (size_t i = 0; i < gray.data.size(); ++i, s += 3)
    gray.data[i] = static_cast<uint8_t>((s[0] * kB + s[1] * kG + s[2] * kR + (1 << (kShift - 1))) >> kShift);
  return gray;
}

namespace {

// cv2.resize's fixed point: weights scaled by 2^11 (INTER_RESIZE_COEF_BITS); the horizontal pass
// keeps 2^11-scaled ints, the vertical pass multiplies by another 2^11 and scales back by 2^22.
constexpr int kCoefBits = 11;
constexpr int kCoefScale = 1 << kCoefBits;

// For each destination coordinate: the first source index, the second (clamped), and the two
// weights. The arithmetic mirrors OpenCV's: double scale from the inverse ratio, then the
// position in float, floor, and each weight rounded to nearest-even on its own.
struct Taps {
  std::vector<int> i0, i1;
  std::vector<int> w0, w1;
};

// `zero_outside`: OpenCV zeroes the fraction when the position falls before the first or after
// the last source sample horizontally; vertically it keeps it and clamps both rows instead, which
// only matters through how the weights round.
Taps computeTaps(int src_size, int dst_size, bool zero_outside) {
  Taps t;
  t.i0.resize(dst_size);
  t.i1.resize(dst_size);
  t.w0.resize(dst_size);
  t.w1.resize(dst_size);
  double scale = 1.0 / (static_cast<double>(dst_size) / src_size);
  for (int d = 0; d < dst_size; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (zero_outside && s < 0) f = 0, s = 0;
    if (zero_outside && s >= src_size - 1) f = 0, s = src_size - 1;
    t.i0[d] = std::clamp(s, 0, src_size - 1);
    t.i1[d] = std::clamp(s + 1, 0, src_size - 1);
    t.w0[d] = static_cast<int>(std::lrintf((1.0f - f) * kCoefScale));
    t.w1[d] = static_cast<int>(std::lrintf(f * kCoefScale));
  }
  return t;
}

}  // namespace

Image resizeBilinear(const Image& src, int height, int width) {
  if (height == src.height && width == src.width) return src;
  const int C = src.channels;
  Taps tx = computeTaps(src.width, width, /*zero_outside=*/true);
  Taps ty = computeTaps(src.height, height, /*zero_outside=*/false);
  Image dst;
  dst.height = height;
  dst.width = width;
  dst.channels = C;
  dst.data.resize(static_cast<size_t>(height) * width * C);
  // Horizontal pass of one source row into 2^11-scaled ints.
  auto hpass = [&](int sy, std::vector<int>* row) {
    const uint8_t* s = &src.data[static_cast<size_t>(sy) * src.width * C];
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < C; ++c)
        (*row)[x * C + c] = s[tx.i0[x] * C + c] * tx.w0[x] + s[tx.i1[x] * C + c] * tx.w1[x];
  };
  std::vector<int> row0(static_cast<size_t>(width) * C), row1(row0.size());
  int have0 = -1, have1 = -1;  // source rows currently in row0 / row1
  for (int y = 0; y < height; ++y) {
    int sy0 = ty.i0[y], sy1 = ty.i1[y];
    if (have0 != sy0) {
      if (have1 == sy0) {
        std::swap(row0, row1);
        std::swap(have0, have1);
      } else {
        hpass(sy0, &row0);
        have0 = sy0;
      }
    }
    if (have1 != sy1) {
      hpass(sy1, &row1);
      have1 = sy1;
    }
    uint8_t* d = &dst.data[static_cast<size_t>(y) * width * C];
    const int b0 = ty.w0[y], b1 = ty.w1[y];
    // The exact rounding would be (row0 * b0 + row1 * b1 + 2^21) >> 22. OpenCV's vectorized
    // vertical pass (the one cv2.resize runs on x86) works in 16-bit lanes instead: it drops 4
    // bits of each row, keeps the high half of each product, then rounds off the last 2 bits.
    // Doing the same gives OpenCV's pixels exactly rather than within one level.
    for (size_t i = 0; i < row0.size(); ++i) {
      int v = (((b0 * (row0[i] >> 4)) >> 16) + ((b1 * (row1[i] >> 4)) >> 16) + 2) >> 2;
      d[i] = static_cast<uint8_t>(std::clamp(v, 0, 255));
    }
  }
  return dst;
}

Status preprocess(const Image& image, const PreprocessSpec& spec, float* out) {
  if (image.channels != 1 && image.channels != 3)
    return invalidArgument("preprocess: images must have 1 or 3 channels, got ", image.channels);
  QRT_RETURN_IF_ERROR(validatePreprocess(spec));
  // Gray conversion happens at the source size; the BGR->RGB swap and gray->colour replication
  // commute with resizing, so they happen for free while writing the output.
  const bool to_gray = spec.color == ColorOrder::kGray && image.channels == 3;
  Image converted, resized;
  const Image* px = &image;
  if (to_gray) {
    converted = bgrToGray(*px);
    px = &converted;
  }
  const int H = spec.resize_height > 0 ? spec.resize_height : image.height;
  const int W = spec.resize_width > 0 ? spec.resize_width : image.width;
  if (H != px->height || W != px->width) {
    resized = resizeBilinear(*px, H, W);
    px = &resized;
  }

  const int C = spec.channels();
  // Output channel -> channel of px (BGR or gray).
  int source_channel[3] = {0, 0, 0};
  if (px->channels == 3 && spec.color == ColorOrder::kRGB) source_channel[0] = 2, source_channel[1] = 1;
  if (px->channels == 3 && spec.color == ColorOrder::kBGR) source_channel[1] = 1, source_channel[2] = 2;
  // Pixels are bytes, so each channel's normalization is a 256-entry table computed once with the
  // documented formula, in float.
  float table[3][256];
  for (int c = 0; c < C; ++c) {
    float mean = spec.mean.size() == 1 ? spec.mean[0] : spec.mean[c];
    float stdv = spec.std.size() == 1 ? spec.std[0] : spec.std[c];
    for (int v = 0; v < 256; ++v) table[c][v] = (static_cast<float>(v) * spec.scale - mean) / stdv;
  }
  const size_t plane = static_cast<size_t>(H) * W;
  for (size_t p = 0; p < plane; ++p) {
    const uint8_t* pixel = &px->data[p * px->channels];
    for (int c = 0; c < C; ++c) {
      float v = table[c][pixel[source_channel[c]]];
      if (spec.layout == TensorLayout::kNCHW) out[c * plane + p] = v;
      else out[p * C + c] = v;
    }
  }
  return Status::Ok();
}

}  // namespace qrt
