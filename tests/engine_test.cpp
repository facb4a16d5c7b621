// Engine round trip, engine-file integrity checks, execution-context behaviour and the memory
// planner. The bundled Fashion-MNIST model is the test subject; its outputs from the ONNX
// model (built in memory) are the reference for the loaded engine.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/file_util.h"
#include "qrt/qrt.h"
#include "runtime/memory_plan.h"
#include "test_util.h"

namespace qrt {
namespace {

const std::string kModel = test::sourcePath("models/fashion_mnist/model.onnx");

std::shared_ptr<Engine> buildModel() {
  auto net = parseOnnxFile(kModel);
  EXPECT_TRUE(net.ok()) << net.status().toString();
  auto engine = buildEngine(**net, BuilderConfig{});
  EXPECT_TRUE(engine.ok()) << engine.status().toString();
  return *engine;
}

std::vector<float> randomInput(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = d(rng);
  return x;
}

// Runs a batch through a fresh context and returns the logits.
std::vector<float> infer(const Engine& engine, const std::vector<float>& x, int64_t batch) {
  auto ctx = engine.createExecutionContext();
  EXPECT_TRUE(ctx.ok());
  const std::string in = engine.inputs()[0].name, out = engine.outputs()[0].name;
  EXPECT_TRUE((*ctx)->setInputShape(in, {batch, 1, 28, 28}).ok());
  auto dims = (*ctx)->tensorShape(out);
  EXPECT_TRUE(dims.ok());
  std::vector<float> y(static_cast<size_t>(volume(*dims)), std::nanf(""));
  EXPECT_TRUE((*ctx)->setTensorAddress(in, const_cast<float*>(x.data())).ok());
  EXPECT_TRUE((*ctx)->setTensorAddress(out, y.data()).ok());
  Status s = (*ctx)->enqueue();
  EXPECT_TRUE(s.ok()) << s.toString();
  return y;
}

TEST(EngineFile, RoundTripGivesIdenticalOutputs) {
  auto engine = buildModel();
  auto bytes = engine->serialize();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Engine::deserialize(bytes->data(), bytes->size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  auto x = randomInput(5 * 28 * 28, 1);
  auto a = infer(*engine, x, 5), b = infer(**loaded, x, 5);
  ASSERT_EQ(a.size(), 50u);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
  EXPECT_EQ(engine->layers().size(), (*loaded)->layers().size());
  EXPECT_EQ((*loaded)->metadata("qrt_version"), versionString());
}

TEST(EngineFile, SaveAndLoadFromDisk) {
  auto engine = buildModel();
  std::string dir = test::makeTempDir("engine");
  std::string path = dir + "/m.qrt";
  ASSERT_TRUE(engine->save(path).ok());
  auto loaded = Engine::load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  // No temporary file is left beside it.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

class CorruptEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bytes = buildModel()->serialize();
    ASSERT_TRUE(bytes.ok());
    bytes_ = *bytes;
  }
  Status load(const std::vector<uint8_t>& b) { return Engine::deserialize(b.data(), b.size()).status(); }
  std::vector<uint8_t> bytes_;
};

TEST_F(CorruptEngine, TruncatedIsRefused) {
  for (size_t keep : {size_t{0}, size_t{10}, size_t{64}, bytes_.size() / 2, bytes_.size() - 1}) {
    std::vector<uint8_t> b(bytes_.begin(), bytes_.begin() + static_cast<long>(keep));
    Status s = load(b);
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << keep;
  }
  std::vector<uint8_t> b(bytes_.begin(), bytes_.end() - 1);
  EXPECT_NE(load(b).message().find("truncated"), std::string::npos) << load(b).message();
}

TEST_F(CorruptEngine, AlteredByteFailsTheChecksum) {
  std::vector<uint8_t> b = bytes_;
  b[b.size() / 2] ^= 0x40;
  Status s = load(b);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.message();
}

TEST_F(CorruptEngine, OtherFormatVersionIsRefused) {
  std::vector<uint8_t> b = bytes_;
  b[8] = 99;  // format version field follows the 8-byte magic
  Status s = load(b);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("format version 99"), std::string::npos) << s.message();
}

TEST_F(CorruptEngine, NotAnEngine) {
  std::vector<uint8_t> b(100, 'x');
  EXPECT_NE(load(b).message().find("not a qrt engine"), std::string::npos);
}

TEST(EngineFile, MissingFileAndUnwritableFolder) {
  auto r = Engine::load("/nonexistent/dir/model.qrt");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/model.qrt"), std::string::npos);
  Status s = buildModel()->save("/nonexistent/dir/model.qrt");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("/nonexistent/dir/model.qrt"), std::string::npos);
}

TEST(ExecutionContext, WrongShapeAndMissingBinding) {
  auto engine = buildModel();
  auto ctx = engine->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  const std::string in = engine->inputs()[0].name;
  Status s = (*ctx)->setInputShape(in, {1, 3, 28, 28});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(in), std::string::npos);
  EXPECT_EQ((*ctx)->setInputShape(in, {1, 28, 28}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ctx)->setInputShape("nope", {1, 1, 28, 28}).code(), StatusCode::kNotFound);
  ASSERT_TRUE((*ctx)->setInputShape(in, {2, 1, 28, 28}).ok());
  Status e = (*ctx)->enqueue();
  EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.message().find("setTensorAddress"), std::string::npos);
}

TEST(ExecutionContext, DynamicBatchMatchesPerSampleRuns) {
  auto engine = buildModel();
  auto x = randomInput(3 * 28 * 28, 7);
  auto all = infer(*engine, x, 3);
  for (int i = 0; i < 3; ++i) {
    std::vector<float> one(x.begin() + i * 784, x.begin() + (i + 1) * 784);
    auto y = infer(*engine, one, 1);
    for (int c = 0; c < 10; ++c) EXPECT_NEAR(y[c], all[i * 10 + c], 1e-5f * (1.f + std::fabs(y[c])));
  }
}

TEST(ExecutionContext, ConcurrentContextsAgree) {
  auto engine = buildModel();
  auto x = randomInput(4 * 28 * 28, 3);
  auto expected = infer(*engine, x, 4);
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) got[t] = infer(*engine, x, 4);
    });
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

TEST(MemoryPlan, OverlappingLifetimesNeverShareBytes) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferUse> uses;
    for (int i = 0; i < 40; ++i) {
      int a = static_cast<int>(rng() % 30), len = static_cast<int>(rng() % 6);
      uses.push_back({static_cast<size_t>(1 + rng() % 5000), a, a + len});
    }
    MemoryPlan p = planMemory(uses);
    size_t sum = 0;
    for (size_t i = 0; i < uses.size(); ++i) {
      sum += uses[i].bytes;
      EXPECT_EQ(p.offsets[i] % 64, 0u);
      EXPECT_LE(p.offsets[i] + uses[i].bytes, p.total);
      for (size_t j = 0; j < i; ++j) {
        bool live_together = !(uses[i].last < uses[j].first || uses[j].last < uses[i].first);
        bool disjoint = p.offsets[i] + uses[i].bytes <= p.offsets[j] || p.offsets[j] + uses[j].bytes <= p.offsets[i];
        if (live_together) EXPECT_TRUE(disjoint) << i << " " << j;
      }
    }
    EXPECT_LT(p.total, sum + 64 * uses.size());  // reuse happened or at worst no waste beyond alignment
  }
}

}  // namespace
}  // namespace qrt
