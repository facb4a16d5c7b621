// TensorRT's calibration cache: exact bytes, caches written by TensorRT itself, bad caches, and
// whether a cache fits a model.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "quant/calibration_algorithms.h"
#include "quant/calibration_cache.h"
#include "quant/calibration_report.h"
#include "test_util.h"

namespace qrt::quant {
namespace {

uint32_t bitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}

float floatOf(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string fixture(const std::string& name) { return test::sourcePath("tests/data/calib/" + name); }

TEST(CalibrationCache, ExactBytesForKnownScales) {
  CalibrationCache cache;
  cache.algorithm = "EntropyCalibration2";
  cache.scales = {
      {"input", 1.0f / 127.0f},                        // 3c010204
      {"one", 1.0f},                                   // 3f800000
      {"sigmoid", scaleFromAmax(2048.5f / 2048.0f)},  // 3c010a14
      {"all_zero", 0.0f},                              // TensorRT writes "0"
      {"tiny", floatOf(0x00000abcu)},                  // no zero padding
      {"inf", std::numeric_limits<float>::infinity()},
  };
  EXPECT_EQ(formatCalibrationCache(cache),
            "TRT-8601-EntropyCalibration2\n"
            "input: 3c010204\n"
            "one: 3f800000\n"
            "sigmoid: 3c010a14\n"
            "all_zero: 0\n"
            "tiny: abc\n"
            "inf: 7f800000\n");
  cache.version = "100300";
  cache.algorithm = "MinMaxCalibration";
  cache.scales.clear();
  EXPECT_EQ(formatCalibrationCache(cache), "TRT-100300-MinMaxCalibration\n");
}

TEST(CalibrationCache, HeaderNamesOfTheAlgorithms) {
  EXPECT_STREQ(cacheAlgorithmName(CalibrationAlgo::kEntropy2), "EntropyCalibration2");
  EXPECT_STREQ(cacheAlgorithmName(CalibrationAlgo::kEntropy), "EntropyCalibration");
  EXPECT_STREQ(cacheAlgorithmName(CalibrationAlgo::kMinMax), "MinMaxCalibration");
  EXPECT_STREQ(cacheAlgorithmName(CalibrationAlgo::kPercentile), "QrtPercentileCalibration");
  // The header qrt writes: TensorRT's names unchanged; the percentile's P after a '-'.
  EXPECT_EQ(cacheHeaderName({CalibrationAlgo::kEntropy2, 99.9}), "EntropyCalibration2");
  EXPECT_EQ(cacheHeaderName({CalibrationAlgo::kMinMax, 99.9}), "MinMaxCalibration");
  EXPECT_EQ(cacheHeaderName({CalibrationAlgo::kMSE, 99.9}), "QrtMseCalibration");
  EXPECT_EQ(cacheHeaderName({CalibrationAlgo::kPercentile, 99.99}), "QrtPercentileCalibration-99.99");
  EXPECT_EQ(cacheHeaderName({CalibrationAlgo::kPercentile, 100.0}), "QrtPercentileCalibration-100");
  EXPECT_EQ(cacheHeaderName({CalibrationAlgo::kPercentile, 99.999}), "QrtPercentileCalibration-99.999");
  EXPECT_STREQ(cacheAlgorithmName(CalibrationAlgo::kMSE), "QrtMseCalibration");
  EXPECT_STREQ(kDefaultTensorRTVersion, "8601");
}

TEST(CalibrationCache, RoundTrip) {
  CalibrationCache cache;
  cache.version = "8601";
  cache.algorithm = "EntropyCalibration2";
  cache.scales = {{"x", 0.0173f},
                  {"/conv1/Conv_output_0", 0.25f},
                  {"onnx::MatMul_12", 3.0e-5f},
                  {"conv:0", 1.0f / 127.0f},
                  {"(Unnamed Layer* 5) [Constant]_output", 0.001f},
                  {"name: with colon-space", 2.0f},
                  {"zero", 0.0f}};
  const std::string text = formatCalibrationCache(cache);
  auto parsed = parseCalibrationCache(text, "mem");
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  EXPECT_EQ(parsed->version, cache.version);
  EXPECT_EQ(parsed->algorithm, cache.algorithm);
  ASSERT_EQ(parsed->scales.size(), cache.scales.size());
  for (size_t i = 0; i < cache.scales.size(); ++i) {
    EXPECT_EQ(parsed->scales[i].first, cache.scales[i].first);
    EXPECT_EQ(bitsOf(parsed->scales[i].second), bitsOf(cache.scales[i].second)) << cache.scales[i].first;
  }
  EXPECT_EQ(formatCalibrationCache(*parsed), text);

  // Through a file, written atomically.
  const std::string path = test::makeTempDir("calib_cache") + "/model.cache";
  ASSERT_TRUE(writeCalibrationCache(path, cache).ok());
  EXPECT_EQ(readText(path), text);
  auto reread = readCalibrationCache(path);
  ASSERT_TRUE(reread.ok()) << reread.status().toString();
  EXPECT_EQ(formatCalibrationCache(*reread), text);
}

// Caches that TensorRT wrote (see tests/data/calib/README.md for where each comes from).
TEST(CalibrationCache, ReadsTensorRT86Cache) {
  auto cache = readCalibrationCache(fixture("trt8601_entropy2_yolov8.cache"));
  ASSERT_TRUE(cache.ok()) << cache.status().toString();
  EXPECT_EQ(cache->version, "8601");
  EXPECT_EQ(cache->algorithm, "EntropyCalibration2");
  ASSERT_EQ(cache->scales.size(), 12u);
  EXPECT_EQ(cache->scales[0].first, "images");
  EXPECT_EQ(bitsOf(cache->scales[0].second), 0x3b66eddcu);
  EXPECT_EQ(cache->scales[2].first, "169");
  // A sigmoid output: the entropy threshold at i = 2048 over [0, 1], see calibration_test.
  EXPECT_EQ(cache->scales[2].second, scaleFromAmax(2048.5f / 2048.0f));
  EXPECT_EQ(formatCalibrationCache(*cache), readText(fixture("trt8601_entropy2_yolov8.cache")));
}

TEST(CalibrationCache, ReadsTensorFlowNamesWithColons) {
  auto cache = readCalibrationCache(fixture("trt8401_entropy2_tf_names.cache"));
  ASSERT_TRUE(cache.ok()) << cache.status().toString();
  EXPECT_EQ(cache->version, "8401");
  ASSERT_EQ(cache->scales.size(), 8u);
  EXPECT_EQ(cache->scales[2].first, "Conv__54:0");
  EXPECT_EQ(bitsOf(cache->scales[2].second), 0x3cf5d113u);
  EXPECT_EQ(cache->scales[5].first, "(Unnamed Layer* 5) [Constant]_output");
  EXPECT_EQ(formatCalibrationCache(*cache), readText(fixture("trt8401_entropy2_tf_names.cache")));
}

TEST(CalibrationCache, ReadsTensorRT10MinMaxCacheWithZeroAndInfiniteScales) {
  auto cache = readCalibrationCache(fixture("trt101303_minmax_bert.cache"));
  ASSERT_TRUE(cache.ok()) << cache.status().toString();
  EXPECT_EQ(cache->version, "101303");
  EXPECT_EQ(cache->algorithm, "MinMaxCalibration");
  ASSERT_EQ(cache->scales.size(), 7u);
  EXPECT_EQ(cache->scales[2].second, 1.0f / 127.0f);  // a max of exactly 1
  EXPECT_EQ(cache->scales[3].first, "/Sub_output_0");
  EXPECT_EQ(cache->scales[3].second, 0.0f);
  EXPECT_EQ(cache->scales[5].first, "onnx::MatMul_1472_output");
  EXPECT_EQ(cache->scales[6].second, std::numeric_limits<float>::infinity());
  EXPECT_EQ(formatCalibrationCache(*cache), readText(fixture("trt101303_minmax_bert.cache")));
}

TEST(CalibrationCache, ToleratesWindowsLineEndsAndBlankLines) {
  auto cache = parseCalibrationCache("TRT-8601-EntropyCalibration2\r\na: 3f800000\r\n\r\nb: 40000000", "crlf.cache");
  ASSERT_TRUE(cache.ok()) << cache.status().toString();
  ASSERT_EQ(cache->scales.size(), 2u);
  EXPECT_EQ(cache->scales[0].first, "a");
  EXPECT_EQ(cache->scales[1].second, 2.0f);
}

// The error of a bad cache: one line naming the file and the line.
void expectBad(const std::string& text, const std::string& where, const std::string& what) {
  auto r = parseCalibrationCache(text, "bad.cache");
  ASSERT_FALSE(r.ok()) << "accepted: " << text;
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  const std::string m = r.status().message();  // status() returns a copy
  EXPECT_EQ(m.rfind(where, 0), 0u) << m;
  EXPECT_NE(m.find(what), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST(CalibrationCache, RejectsBadCaches) {
  expectBad("", "bad.cache:", "empty file");
  expectBad("input: 3c010204\n", "bad.cache:1:", "no 'TRT-' prefix");
  expectBad("TRT-EntropyCalibration2\n", "bad.cache:1:", "no '-' after the version");
  expectBad("TRT--EntropyCalibration2\n", "bad.cache:1:", "version is not a number");
  expectBad("TRT-86a1-EntropyCalibration2\n", "bad.cache:1:", "version is not a number");
  expectBad("TRT-8601-\n", "bad.cache:1:", "no algorithm name");
  expectBad("TRT-8601\n", "bad.cache:1:", "no '-' after the version");
  expectBad("TRT-8601-EntropyCalibration2\ninput 3c010204\n", "bad.cache:2:", "expected '<tensor>: <hex scale>'");
  expectBad("TRT-8601-EntropyCalibration2\na: 3c010204\nb: 3c01020g\n", "bad.cache:3:", "not 1 to 8 hex digits");
  expectBad("TRT-8601-EntropyCalibration2\nb: 3c0102041\n", "bad.cache:2:", "not 1 to 8 hex digits");
  expectBad("TRT-8601-EntropyCalibration2\nb: \n", "bad.cache:2:", "not 1 to 8 hex digits");
  expectBad("TRT-8601-EntropyCalibration2\nb: 0x3c01\n", "bad.cache:2:", "not 1 to 8 hex digits");
  expectBad("TRT-8601-EntropyCalibration2\nb: 0.0078\n", "bad.cache:2:", "not 1 to 8 hex digits");
  expectBad("TRT-8601-EntropyCalibration2\n: 3c010204\n", "bad.cache:2:", "empty tensor name");
  expectBad("TRT-8601-EntropyCalibration2\na: 3c010204\nc: 1\na: 3c010204\n", "bad.cache:4:", "'a' is listed twice");
}

TEST(CalibrationCache, ReadingAMissingFileNamesIt) {
  auto r = readCalibrationCache("/nonexistent/dir/x.cache");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/x.cache"), std::string::npos) << r.status().message();
}

TEST(CalibrationCache, WriteRejectsUnwritableNames) {
  const std::string dir = test::makeTempDir("calib_cache_bad");
  CalibrationCache cache;
  cache.algorithm = "EntropyCalibration2";
  cache.scales = {{"two\nlines", 1.0f}};
  EXPECT_FALSE(writeCalibrationCache(dir + "/a.cache", cache).ok());
  cache.scales = {{"", 1.0f}};
  EXPECT_FALSE(writeCalibrationCache(dir + "/a.cache", cache).ok());
  cache.scales = {{"ok", 1.0f}};
  cache.version = "8.6";
  EXPECT_FALSE(writeCalibrationCache(dir + "/a.cache", cache).ok());
  std::ifstream probe(dir + "/a.cache");
  EXPECT_FALSE(probe.good());  // nothing was written
}

TEST(CalibrationCache, MatchesModel) {
  CalibrationCache cache;
  cache.algorithm = "EntropyCalibration2";
  cache.scales = {{"a", 1.0f}, {"b", 1.0f}, {"c", 1.0f}};
  EXPECT_TRUE(checkCacheMatches(cache, "EntropyCalibration2", {"c", "a", "b"}).ok());

  Status st = checkCacheMatches(cache, "MinMaxCalibration", {"a", "b", "c"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("made by EntropyCalibration2, not MinMaxCalibration"), std::string::npos) << st.message();

  st = checkCacheMatches(cache, "EntropyCalibration2", {"a", "b", "c", "d", "e", "f", "g", "h"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("lacks 5 of the model's 8 tensors: 'd', 'e', 'f' and 2 more"), std::string::npos)
      << st.message();

  st = checkCacheMatches(cache, "EntropyCalibration2", {"a", "b"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("1 tensors the model does not: 'c'"), std::string::npos) << st.message();
  EXPECT_TRUE(checkCacheMatches(cache, "EntropyCalibration2", {"a", "b"}, /*allow_unknown_tensors=*/true).ok());

  // Every reason at once, on one line.
  st = checkCacheMatches(cache, "EntropyCalibration", {"a", "z"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not EntropyCalibration;"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'z'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'b', 'c'"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
}

TEST(CalibrationCache, FromCalibration) {
  std::vector<TensorCalibration> tensors(2);
  tensors[0].name = "input";
  tensors[0].amax = 1.0f;
  tensors[0].scale = scaleFromAmax(1.0f);
  tensors[1].name = "relu";
  tensors[1].amax = 0.0f;
  tensors[1].scale = scaleFromAmax(0.0f);
  const CalibrationCache cache = cacheFromCalibration(tensors, CalibrationAlgo::kMinMax, "100300");
  EXPECT_EQ(formatCalibrationCache(cache), "TRT-100300-MinMaxCalibration\ninput: 3c010204\nrelu: 0\n");
  EXPECT_EQ(cacheFromCalibration(tensors, CalibrationAlgo::kEntropy2).version, "8601");

  // A percentile cache records P (the tensors carry their options), so that a cache made with
  // another P does not match; it still parses as a TensorRT-format cache.
  for (TensorCalibration& t : tensors) t.options = {CalibrationAlgo::kPercentile, 99.9};
  const CalibrationCache pc = cacheFromCalibration(tensors, CalibrationAlgo::kPercentile);
  EXPECT_EQ(formatCalibrationCache(pc), "TRT-8601-QrtPercentileCalibration-99.9\ninput: 3c010204\nrelu: 0\n");
  auto parsed = parseCalibrationCache(formatCalibrationCache(pc), "p.cache");
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  EXPECT_EQ(parsed->algorithm, "QrtPercentileCalibration-99.9");
  EXPECT_TRUE(
      checkCacheMatches(*parsed, cacheHeaderName({CalibrationAlgo::kPercentile, 99.9}), {"input", "relu"}).ok());
  Status other = checkCacheMatches(*parsed, cacheHeaderName({CalibrationAlgo::kPercentile, 99.99}), {"input", "relu"});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.message().find("made by QrtPercentileCalibration-99.9, not QrtPercentileCalibration-99.99"),
            std::string::npos)
      << other.message();
}

}  // namespace
}  // namespace qrt::quant
