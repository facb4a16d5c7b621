// Preprocessing against OpenCV (cv2.cvtColor, cv2.resize INTER_LINEAR) on real photos from
// Debian's opencv-doc; the preprocessing spec's JSON form; and the strict JSON reader under it.
//
// Expected arrays come from Debian's python3-opencv: the test writes a Python script into a
// temporary folder, runs it with /usr/bin/python3 and reads back the .npy files. Without
// python3-opencv or opencv-doc those comparisons are skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "data/image.h"
#include "data/preprocess.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace qrt {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPhotos = "/usr/share/doc/opencv-doc/examples/data";

// (photo, H x W) pairs: down- and upscaling, exact 2x (OpenCV switches to INTER_AREA there),
// one axis only, odd ratios, 1 x 1, and the same size.
struct ResizeCase {
  const char* name;
  const char* file;
  int height, width;
};
const ResizeCase kResizeCases[] = {
    {"baboon", "baboon.jpg", 224, 224}, {"baboon", "baboon.jpg", 256, 256}, {"baboon", "baboon.jpg", 100, 37},
    {"baboon", "baboon.jpg", 700, 513}, {"baboon", "baboon.jpg", 512, 300}, {"baboon", "baboon.jpg", 1, 1},
    {"box", "box.png", 224, 224},       {"box", "box.png", 500, 700},       {"box", "box.png", 28, 28},
    {"box", "box.png", 223, 324},       {"fruits", "fruits.jpg", 333, 777}, {"fruits", "fruits.jpg", 7, 5},
};

const char* kScript = R"PY(
import sys, os
import numpy as np, cv2
data, out, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
def save(name, a): np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(a))
for case in cases:
    name, f, h, w = case.split(":"); h, w = int(h), int(w)
    img = cv2.imread(os.path.join(data, f))
    save("resize_%s_%dx%d" % (name, h, w), cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR))
for name, f in (("baboon", "baboon.jpg"), ("fruits", "fruits.jpg")):
    img = cv2.imread(os.path.join(data, f))
    save("gray_" + name, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
# Whole pipelines, as preprocess.h documents them (scale 1, mean 0, std 1: pixel values).
img = cv2.imread(os.path.join(data, "baboon.jpg"))
save("pipe_rgb_nchw", cv2.resize(img, (224, 224), interpolation=cv2.INTER_LINEAR)[..., ::-1].transpose(2, 0, 1))
img = cv2.imread(os.path.join(data, "fruits.jpg"))
save("pipe_gray_nchw", cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (28, 28), interpolation=cv2.INTER_LINEAR)[None])
img = cv2.imread(os.path.join(data, "box.png"))
save("pipe_bgr_nhwc", cv2.resize(img, (150, 100), interpolation=cv2.INTER_LINEAR))
)PY";

void writeText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

class OpenCvPreprocess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kPhotos) || !fs::exists("/usr/bin/python3")) return;
    dir_ = test::makeTempDir("preprocess_test");
    writeText(dir_ + "/expected.py", kScript);
    std::string cmd = "/usr/bin/python3 " + dir_ + "/expected.py " + kPhotos + " " + dir_;
    for (const auto& c : kResizeCases)
      cmd += " " + std::string(c.name) + ":" + c.file + ":" + std::to_string(c.height) + ":" + std::to_string(c.width);
    cmd += " > " + dir_ + "/python.log 2>&1";
    ready_ = std::system(cmd.c_str()) == 0;
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "needs /usr/bin/python3 with cv2 and " << kPhotos;
  }

  static Image photo(const std::string& file) {
    auto img = readImage(std::string(kPhotos) + "/" + file);
    EXPECT_TRUE(img.ok()) << img.status().message();
    return img.ok() ? *img : Image{};
  }
  static HostTensor expected(const std::string& name) {
    auto t = readNpy(dir_ + "/" + name + ".npy");
    EXPECT_TRUE(t.ok()) << t.status().message();
    return t.ok() ? *t : HostTensor();
  }

  static std::string dir_;
  static bool ready_;
};
std::string OpenCvPreprocess::dir_;
bool OpenCvPreprocess::ready_ = false;

TEST_F(OpenCvPreprocess, GrayMatchesCvtColorExactly) {
  for (const char* name : {"baboon", "fruits"}) {
    Image gray = bgrToGray(photo(std::string(name) + ".jpg"));
    HostTensor e = expected(std::string("gray_") + name);
    ASSERT_EQ(e.dims(), (Dims{gray.height, gray.width}));
    int64_t diff = 0;
    for (size_t i = 0; i < gray.data.size(); ++i) diff += gray.data[i] != e.as<uint8_t>()[i];
    EXPECT_EQ(diff, 0) << name;
  }
}

TEST_F(OpenCvPreprocess, ResizeWithinOneLevelOfOpenCv) {
  for (const auto& c : kResizeCases) {
    std::string label = std::string(c.name) + " -> " + std::to_string(c.height) + "x" + std::to_string(c.width);
    Image src = photo(c.file);
    Image out = resizeBilinear(src, c.height, c.width);
    HostTensor e = expected("resize_" + std::string(c.name) + "_" + std::to_string(c.height) + "x" +
                            std::to_string(c.width));
    ASSERT_EQ(e.dims(), (Dims{c.height, c.width, 3})) << label;
    ASSERT_EQ(out.height, c.height);
    ASSERT_EQ(out.width, c.width);
    int max_diff = 0;
    int64_t exact = 0, total = 0;
    for (int y = 0; y < c.height; ++y)
      for (int x = 0; x < c.width; ++x)
        for (int ch = 0; ch < 3; ++ch) {
          // Gray photos: imread replicated the channel; ours has one.
          int d = std::abs(out.at(y, x, out.channels == 1 ? 0 : ch) - e.as<uint8_t>()[(y * c.width + x) * 3 + ch]);
          max_diff = std::max(max_diff, d);
          exact += d == 0;
          ++total;
        }
    // The brief is one level; resizeBilinear copies OpenCV's rounding too, so all agree exactly.
    EXPECT_LE(max_diff, 1) << label;
    EXPECT_EQ(exact, total) << label;
    std::printf("  %-24s max diff %d, exact %.4f\n", label.c_str(), max_diff, static_cast<double>(exact) / total);
  }
}

// Compares preprocess() with scale 1, mean 0, std 1 (so outputs are pixel values) against the
// NumPy/OpenCV pipeline saved as `name`.
void expectPipeline(const Image& img, PreprocessSpec spec, const HostTensor& e, const std::string& name) {
  spec.scale = 1;
  spec.mean = {0};
  spec.std = {1};
  std::vector<float> out(static_cast<size_t>(e.numel()));
  ASSERT_TRUE(preprocess(img, spec, out.data()).ok());
  float max_diff = 0;
  for (int64_t i = 0; i < e.numel(); ++i) max_diff = std::max(max_diff, std::fabs(out[i] - e.as<uint8_t>()[i]));
  EXPECT_LE(max_diff, 1.0f) << name;
}

TEST_F(OpenCvPreprocess, PipelinesMatchOpenCv) {
  PreprocessSpec rgb;
  rgb.color = ColorOrder::kRGB;
  rgb.resize_height = rgb.resize_width = 224;
  HostTensor e = expected("pipe_rgb_nchw");
  ASSERT_EQ(e.dims(), (Dims{3, 224, 224}));
  expectPipeline(photo("baboon.jpg"), rgb, e, "rgb nchw");

  PreprocessSpec gray;
  gray.color = ColorOrder::kGray;
  gray.resize_height = gray.resize_width = 28;
  e = expected("pipe_gray_nchw");
  ASSERT_EQ(e.dims(), (Dims{1, 28, 28}));
  expectPipeline(photo("fruits.jpg"), gray, e, "gray nchw");

  PreprocessSpec bgr;  // a gray PNG replicated into three channels, HWC
  bgr.color = ColorOrder::kBGR;
  bgr.resize_height = 100;
  bgr.resize_width = 150;
  bgr.layout = TensorLayout::kNHWC;
  e = expected("pipe_bgr_nhwc");
  ASSERT_EQ(e.dims(), (Dims{100, 150, 3}));
  expectPipeline(photo("box.png"), bgr, e, "bgr nhwc");
}

// ---------------------------------------------------------------- synthetic checks

Image tinyBgr() {
  // 1 x 2 pixels: pure blue, then (b, g, r) = (10, 20, 30).
  return Image{1, 2, 3, {255, 0, 0, 10, 20, 30}};
}

TEST(Preprocess, ChannelOrderAndLayout) {
  PreprocessSpec spec;
  spec.scale = 1;
  std::vector<float> out(6);
  spec.color = ColorOrder::kRGB;
  ASSERT_TRUE(preprocess(tinyBgr(), spec, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{0, 30, 0, 20, 255, 10}));  // planes R, G, B
  spec.color = ColorOrder::kBGR;
  ASSERT_TRUE(preprocess(tinyBgr(), spec, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{255, 10, 0, 20, 0, 30}));
  spec.layout = TensorLayout::kNHWC;
  ASSERT_TRUE(preprocess(tinyBgr(), spec, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{255, 0, 0, 10, 20, 30}));
  spec.color = ColorOrder::kGray;  // 0.114 * 255 = 29.07; 0.114*10 + 0.587*20 + 0.299*30 = 21.71
  ASSERT_TRUE(preprocess(tinyBgr(), spec, out.data()).ok());
  EXPECT_EQ(out[0], 29);
  EXPECT_EQ(out[1], 22);
}

TEST(Preprocess, GrayImageReplicatedForColour) {
  Image gray{1, 2, 1, {7, 200}};
  PreprocessSpec spec;
  spec.scale = 1;
  std::vector<float> out(6);
  ASSERT_TRUE(preprocess(gray, spec, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{7, 200, 7, 200, 7, 200}));
}

TEST(Preprocess, NormalizationFormula) {
  PreprocessSpec spec;  // ImageNet numbers, scale 1/255
  spec.mean = {0.485f, 0.456f, 0.406f};
  spec.std = {0.229f, 0.224f, 0.225f};
  std::vector<float> out(6);
  ASSERT_TRUE(preprocess(tinyBgr(), spec, out.data()).ok());
  // Output channel 0 is R: pixels 0 and 30.
  EXPECT_FLOAT_EQ(out[0], (0 * (1.0f / 255) - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(out[1], (30 * (1.0f / 255) - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(out[4], (255 * (1.0f / 255) - 0.406f) / 0.225f);
  spec.mean = {0.5f, 0.5f};  // 2 values for 3 channels
  EXPECT_FALSE(preprocess(tinyBgr(), spec, out.data()).ok());
}

TEST(Preprocess, ResizeKeepsConstantsAndCopiesSameSize) {
  Image flat{5, 7, 1, std::vector<uint8_t>(35, 123)};
  Image up = resizeBilinear(flat, 13, 3);
  for (uint8_t v : up.data) EXPECT_EQ(v, 123);
  Image same = resizeBilinear(tinyBgr(), 1, 2);
  EXPECT_EQ(same.data, tinyBgr().data);
}

// ---------------------------------------------------------------- the JSON form

TEST(PreprocessJson, ParsesTheDocumentedForm) {
  auto spec = parsePreprocessJson(R"({"color": "bgr", "resize": "224x256", "scale": 0.5,
      "mean": [0.485, 0.456, 0.406], "std": 0.25, "layout": "nhwc"})");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->color, ColorOrder::kBGR);
  EXPECT_EQ(spec->resize_height, 224);
  EXPECT_EQ(spec->resize_width, 256);
  EXPECT_EQ(spec->scale, 0.5f);
  EXPECT_EQ(spec->mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(spec->std, (std::vector<float>{0.25f}));
  EXPECT_EQ(spec->layout, TensorLayout::kNHWC);
  auto defaults = parsePreprocessJson("{}");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(*defaults, PreprocessSpec{});
  auto array_resize = parsePreprocessJson(R"({"resize": [28, 30], "color": "gray"})");
  ASSERT_TRUE(array_resize.ok());
  EXPECT_EQ(array_resize->resize_width, 30);
}

TEST(PreprocessJson, RoundTrips) {
  PreprocessSpec spec;
  spec.color = ColorOrder::kGray;
  spec.resize_height = 28;
  spec.resize_width = 28;
  spec.scale = 1.0f / 255;
  spec.mean = {0.2860405969887955f};
  spec.std = {0.35302424451492237f};
  auto back = parsePreprocessJson(toJson(spec));
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << toJson(spec);
  EXPECT_EQ(*back, spec);
  PreprocessSpec keep;  // no resize, per-channel values
  keep.mean = {1e-7f, -3.25f, 123456.789f};
  keep.std = {0.1f, 0.2f, 0.3f};
  back = parsePreprocessJson(toJson(keep));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, keep);
}

TEST(PreprocessJson, ReadsTheBundledSpec) {
  std::string path = test::sourcePath("models/fashion_mnist/preprocess.json");
  if (!fs::exists(path)) GTEST_SKIP() << path;
  auto spec = readPreprocessFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->color, ColorOrder::kGray);
  EXPECT_EQ(spec->resize_height, 28);
}

// The error message for `text`, which must not parse.
std::string errorOf(const std::string& text) {
  auto spec = parsePreprocessJson(text);
  EXPECT_FALSE(spec.ok()) << text;
  return spec.ok() ? "" : spec.status().message();
}

TEST(PreprocessJson, ErrorsSayWhere) {
  EXPECT_EQ(errorOf("{\n  \"means\": [0.5]\n}"),
            "line 2, column 12: unknown key \"means\" (known: color, resize, scale, mean, std, layout)");
  EXPECT_EQ(errorOf("{\"color\": \"hsv\"}"), "line 1, column 11: color must be rgb, bgr or gray, got 'hsv'");
  EXPECT_EQ(errorOf("{\"scale\": \"1/255\"}"), "line 1, column 11: \"scale\" must be a number, not string");
  EXPECT_EQ(errorOf("{\"mean\": [1, \"x\"]}"), "line 1, column 14: \"mean[]\" must be a number, not string");
  EXPECT_NE(errorOf("{\"resize\": \"224\"}").find("line 1, column 12: resize must be HxW"), std::string::npos);
  EXPECT_NE(errorOf("{\"color\": \"gray\", \"mean\": [1, 2, 3]}").find("mean has 3 values"), std::string::npos);
  EXPECT_NE(errorOf("{\"std\": [0]}").find("non-zero"), std::string::npos);
  EXPECT_EQ(errorOf("[1]"), "line 1, column 1: a preprocessing spec must be a JSON object");
  EXPECT_EQ(errorOf("{\"color\": \"rgb\",}"), "line 1, column 17: unexpected '}', expected a string key");
}

TEST(PreprocessJson, FileErrorsNameTheFile) {
  std::string dir = test::makeTempDir("preprocess_json");
  writeText(dir + "/bad.json", "{\"layout\": \"nchw\"\n\"color\": 1}");
  auto spec = readPreprocessFile(dir + "/bad.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), dir + "/bad.json: line 2, column 1: unexpected '\"', expected ',' or '}'");
  auto missing = readPreprocessFile(dir + "/none.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.json"), std::string::npos);
}

// ---------------------------------------------------------------- the JSON reader

TEST(JsonReader, Values) {
  auto v = parseJson(R"( {"a": [1, -2.5e3, 0, 1E-2], "b": {"c": null, "d": true, "e": false}, "s": ""} )");
  ASSERT_TRUE(v.ok()) << v.status().message();
  ASSERT_TRUE(v->isObject());
  const JsonValue* a = v->find("a");
  ASSERT_TRUE(a && a->isArray());
  ASSERT_EQ(a->items().size(), 4u);
  EXPECT_EQ(a->items()[1].asNumber(), -2500);
  EXPECT_EQ(a->items()[3].asNumber(), 0.01);
  EXPECT_TRUE(v->find("b")->find("c")->isNull());
  EXPECT_TRUE(v->find("b")->find("d")->asBool());
  EXPECT_FALSE(v->find("b")->find("e")->asBool());
  EXPECT_EQ(v->find("missing"), nullptr);
  EXPECT_EQ(v->members()[0].first, "a");
  EXPECT_EQ(a->where(), "1:8");
}

TEST(JsonReader, StringEscapes) {
  auto v = parseJson(R"(["q\"b\\s\/\b\f\n\r\t", "\u00e9\u4e2d\ud83d\ude00", "h\u00e9llo ✓"])");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->items()[0].asString(), "q\"b\\s/\b\f\n\r\t");
  EXPECT_EQ(v->items()[1].asString(), "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
  EXPECT_EQ(v->items()[2].asString(), "h\xC3\xA9llo \xE2\x9C\x93");
}

TEST(JsonReader, Numbers) {
  auto v = parseJson("[0.1, 123456789012, -0, 1e-400, 3.0e+2]");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->items()[0].asNumber(), 0.1);
  EXPECT_EQ(v->items()[1].asNumber(), 123456789012.0);
  EXPECT_EQ(v->items()[3].asNumber(), 0.0);
  EXPECT_EQ(v->items()[4].asNumber(), 300.0);
}

std::string jsonError(const std::string& text) {
  auto v = parseJson(text);
  EXPECT_FALSE(v.ok()) << text;
  return v.ok() ? "" : v.status().message();
}

TEST(JsonReader, StrictErrorsWithLineAndColumn) {
  EXPECT_EQ(jsonError("[1, 2,]"), "line 1, column 7: unexpected ']', expected a value");
  EXPECT_EQ(jsonError("{\"a\": 1,\n \"a\": 2}"), "line 2, column 2: duplicate key \"a\"");
  EXPECT_EQ(jsonError("[01]"), "line 1, column 3: numbers may not have leading zeros");
  EXPECT_EQ(jsonError("[1.]"), "line 1, column 4: unexpected ']', expected a digit after '.'");
  EXPECT_EQ(jsonError("[.5]"), "line 1, column 2: unexpected '.', expected a value");
  EXPECT_EQ(jsonError("[1e999]"), "line 1, column 7: number 1e999 is out of range");
  EXPECT_EQ(jsonError("[NaN]"), "line 1, column 2: unexpected 'N', expected a value");
  EXPECT_EQ(jsonError("\"abc"), "line 1, column 5: unterminated string");
  EXPECT_EQ(jsonError("\"a\tb\""), "line 1, column 3: control character \\x09 in a string (escape it)");
  EXPECT_EQ(jsonError("\"\\x\""), "line 1, column 4: unknown escape '\\x' in a string");
  EXPECT_EQ(jsonError("\"\\ud800\""), "line 1, column 8: high surrogate not followed by a low surrogate");
  EXPECT_EQ(jsonError("\"\xff\""), "line 1, column 2: invalid UTF-8 byte \\xff");
  EXPECT_EQ(jsonError("{} {}"), "line 1, column 4: unexpected '{' after the JSON value");
  EXPECT_EQ(jsonError(""), "line 1, column 1: unexpected end of text, expected a value");
  EXPECT_EQ(jsonError("// comment\n{}"), "line 1, column 1: unexpected '/', expected a value");
  EXPECT_EQ(jsonError("[tru]"), "line 1, column 2: unexpected 't', expected a value");
  EXPECT_EQ(jsonError(std::string(300, '[') + std::string(300, ']')),
            "line 1, column 258: nesting deeper than 256 levels");
}

}  // namespace
}  // namespace qrt
