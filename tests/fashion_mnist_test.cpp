// The bundled Fashion-MNIST classifier (models/fashion_mnist) on all 10,000 test images through
// qrt: parse -> build -> context -> run in batches of 100. qrt must count exactly as many correct
// predictions as PyTorch did (accuracy.json) and agree with PyTorch's per-image argmax
// (predictions.npy) on at least 99.9% of the images; fp32 rounding may flip a near-tie, nothing
// more. The images come from Debian's dataset-fashion-mnist.
//
// The test reads its inputs with small local readers (idx via zlib, the few JSON numbers it
// needs, one int64 .npy) so that it checks the engine alone, not qrt's data loaders.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "qrt/qrt.h"
#include "test_util.h"

namespace qrt {
namespace {

constexpr const char* kDataDir = "/usr/share/datasets/fashion-mnist";
constexpr int kImages = 10000, kPixels = 28 * 28, kBatch = 100, kClasses = 10;

std::string readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Decompresses a whole .gz file ("" if it cannot be read).
std::string readGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return n < 0 ? "" : out;
}

uint32_t bigEndian32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

// The payload of an idx file of unsigned bytes with the expected dimensions; "" if different.
std::string idxPayload(const std::string& data, const std::vector<uint32_t>& dims) {
  size_t header = 4 + 4 * dims.size();
  if (data.size() < header || data[0] != 0 || data[1] != 0 || data[2] != 0x08 ||
      static_cast<size_t>(data[3]) != dims.size())
    return "";
  size_t count = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (bigEndian32(data, 4 + 4 * i) != dims[i]) return "";
    count *= dims[i];
  }
  return data.size() == header + count ? data.substr(header) : "";
}

// The first number after "key": in a JSON text, skipping a '[' (for one-element arrays). The
// files read here are written by models/fashion_mnist/train.py, whose layout is known.
bool jsonNumber(const std::string& text, const std::string& key, double* value) {
  size_t at = text.find("\"" + key + "\"");
  if (at == std::string::npos) return false;
  at = text.find(':', at);
  if (at == std::string::npos) return false;
  at = text.find_first_not_of(" \t\r\n[", at + 1);
  if (at == std::string::npos) return false;
  char* end = nullptr;
  *value = std::strtod(text.c_str() + at, &end);
  return end != text.c_str() + at;
}

// An int64 vector from a .npy file of shape (n,) ("<i8", C order); empty if it is not one.
std::vector<int64_t> readNpyInt64(const std::string& path) {
  std::string data = readText(path);
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0 || data[6] != 1) return {};
  size_t header_len = static_cast<uint8_t>(data[8]) | static_cast<size_t>(static_cast<uint8_t>(data[9])) << 8;
  std::string header = data.substr(10, header_len);
  if (header.find("'<i8'") == std::string::npos || header.find("False") == std::string::npos) return {};
  size_t start = 10 + header_len;
  std::vector<int64_t> out((data.size() - start) / sizeof(int64_t));
  std::memcpy(out.data(), data.data() + start, out.size() * sizeof(int64_t));
  return out;
}

TEST(FashionMnist, MatchesPyTorchOnTestSet) {
  const std::string dir = test::sourcePath("models/fashion_mnist/");
  const std::string images_gz = std::string(kDataDir) + "/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(images_gz)) GTEST_SKIP() << images_gz << " missing (Debian dataset-fashion-mnist)";

  std::string images = idxPayload(readGzip(images_gz), {kImages, 28, 28});
  std::string labels = idxPayload(readGzip(std::string(kDataDir) + "/t10k-labels-idx1-ubyte.gz"), {kImages});
  ASSERT_EQ(images.size(), size_t{kImages} * kPixels) << "unreadable t10k images";
  ASSERT_EQ(labels.size(), size_t{kImages}) << "unreadable t10k labels";

  std::string preprocess = readText(dir + "preprocess.json");
  std::string accuracy = readText(dir + "accuracy.json");
  double scale = 0, mean = 0, stddev = 0, expected_correct = 0;
  ASSERT_TRUE(jsonNumber(preprocess, "scale", &scale)) << "preprocess.json: no scale";
  ASSERT_TRUE(jsonNumber(preprocess, "mean", &mean)) << "preprocess.json: no mean";
  ASSERT_TRUE(jsonNumber(preprocess, "std", &stddev)) << "preprocess.json: no std";
  ASSERT_TRUE(jsonNumber(accuracy, "correct", &expected_correct)) << "accuracy.json: no correct";
  std::vector<int64_t> torch_pred = readNpyInt64(dir + "predictions.npy");
  ASSERT_EQ(torch_pred.size(), size_t{kImages}) << "predictions.npy: expected " << kImages << " int64";

  auto network = parseOnnxFile(dir + "model.onnx");
  ASSERT_TRUE(network.ok()) << network.status().toString();
  auto engine = buildEngine(**network, BuilderConfig{});
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  Status s = (*ctx)->setInputShape("input", {kBatch, 1, 28, 28});
  ASSERT_TRUE(s.ok()) << s.toString();
  auto out_dims = (*ctx)->tensorShape("logits");
  ASSERT_TRUE(out_dims.ok()) << out_dims.status().toString();
  ASSERT_EQ(*out_dims, (Dims{kBatch, kClasses}));

  // Normalized as preprocess.json says (and as train.py did, in float32): x*scale, -mean, /std.
  const float fscale = static_cast<float>(scale), fmean = static_cast<float>(mean), fstd = static_cast<float>(stddev);
  std::vector<float> x(size_t{kBatch} * kPixels), logits(size_t{kBatch} * kClasses);
  int correct = 0, agree = 0;
  for (int b = 0; b < kImages; b += kBatch) {
    for (size_t i = 0; i < x.size(); ++i) {
      float pixel = static_cast<float>(static_cast<uint8_t>(images[size_t(b) * kPixels + i]));
      x[i] = (pixel * fscale - fmean) / fstd;
    }
    ASSERT_TRUE((*ctx)->setTensorAddress("input", x.data()).ok());
    ASSERT_TRUE((*ctx)->setTensorAddress("logits", logits.data()).ok());
    s = (*ctx)->enqueue();
    ASSERT_TRUE(s.ok()) << "batch at image " << b << ": " << s.toString();
    for (int i = 0; i < kBatch; ++i) {
      const float* row = &logits[size_t(i) * kClasses];
      int best = 0;
      for (int c = 1; c < kClasses; ++c)
        if (row[c] > row[best]) best = c;
      correct += best == static_cast<uint8_t>(labels[size_t(b + i)]);
      agree += best == torch_pred[size_t(b + i)];
    }
  }

  std::printf("qrt top-1 %.4f (%d / %d), PyTorch %d; per-image agreement with PyTorch %d / %d\n",
              double(correct) / kImages, correct, kImages, int(expected_correct), agree, kImages);
  EXPECT_EQ(correct, int(expected_correct));
  EXPECT_GE(agree, kImages - kImages / 1000) << "more than 0.1% of predictions differ from PyTorch";
}

}  // namespace
}  // namespace qrt
