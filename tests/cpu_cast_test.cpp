// The cpu backend's Cast (src/backends/cpu/cast.cpp) against the reference backend, bit for bit:
// fp32 -> fp16 / bf16 on random 32-bit patterns (every class: NaNs with payloads, infinities,
// subnormals, values that overflow, exact halfway cases) and fp16 / bf16 -> fp32 on all 65536
// patterns. Outputs are poisoned (0xFF) before the run. Also checks which backend took the node:
// the cpu backend for the pairs it converts, the reference backend for the ones it refuses.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/status_macros.h"
#include "model_builder.h"
#include "qrt/qrt.h"

namespace qrt {
namespace {

using test::BoundIO;
using test::OneNode;
using test::Tensor;

#ifdef QRT_HAVE_DNNL

struct CastRun {
  std::vector<uint8_t> y;
  std::string backend;
};

Result<CastRun> runCast(const OneNode& m, const char* backend) {
  QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, m.build(backend));
  CastRun r;
  for (const LayerInfo& l : engine->layers())
    if (l.op == "Cast") r.backend = l.backend;
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine->createExecutionContext());
  QRT_ASSIGN_OR_RETURN(BoundIO io, test::bindFeeds(*engine, *ctx, m.feeds()));
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  r.y = io.y;
  return r;
}

OneNode castModel(const Tensor& x, DataType to) {
  OneNode m("Cast", 19);
  m.input(x);
  m.integer("to", static_cast<int64_t>(to));
  m.outputType(to);
  return m;
}

// Compares the two backends' bytes element by element (elements of `size` bytes).
void expectSameBits(const OneNode& m, size_t size, const char* expected_backend) {
  auto ref = runCast(m, "reference");
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto cpu = runCast(m, nullptr);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  EXPECT_EQ(cpu->backend, expected_backend);
  ASSERT_EQ(cpu->y.size(), ref->y.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < ref->y.size(); i += size)
    if (std::memcmp(&cpu->y[i], &ref->y[i], size) != 0 && bad++ == 0) first = i / size;
  EXPECT_EQ(bad, 0u) << bad << " of " << ref->y.size() / size << " elements differ; first at " << first;
}

// n fp32 values: random bit patterns, then the special values, then halfway cases of fp16 and bf16.
Tensor floatPatterns(size_t n, uint32_t seed) {
  Tensor t;
  t.name = "X";
  std::mt19937 rng(seed);
  std::vector<uint32_t> bits(n);
  for (uint32_t& b : bits) b = rng();
  const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                               0xffbfffffu, 0x00000001u, 0x807fffffu, 0x33800000u, 0x33000000u, 0x33000001u,
                               0x387fe000u, 0x38800000u, 0x477fe000u, 0x477fefffu, 0x477ff000u, 0x47800000u,
                               0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x7f7fffffu, 0x3f801000u, 0x3f803000u};
  for (size_t i = 0; i < std::size(specials) && i < n; ++i) bits[i] = specials[i];
  // Exact halfway points between neighbouring fp16 values (mantissa bit 12 set, bits 0-11 clear).
  for (size_t i = std::size(specials); i < n && i < 2000; ++i) bits[i] = (bits[i] & ~0x1fffu) | 0x1000u;
  t.dims = {static_cast<int64_t>(n)};
  t.values.resize(n);
  std::memcpy(t.values.data(), bits.data(), n * 4);
  return t;
}

// All 65536 16-bit patterns, stored as `type`.
Tensor allHalfPatterns(DataType type) {
  Tensor t;
  t.name = "X";
  t.type = type;
  t.dims = {256, 256};
  t.raw.resize(65536 * 2);
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t b = static_cast<uint16_t>(i);
    std::memcpy(&t.raw[i * 2], &b, 2);
  }
  return t;
}

TEST(CpuCast, FloatToHalfBitExact) {
  for (size_t n : {size_t{1}, size_t{15}, size_t{17}, size_t{100003}}) {
    SCOPED_TRACE(n);
    expectSameBits(castModel(floatPatterns(n, 11 + static_cast<uint32_t>(n)), DataType::kHalf), 2, "cpu");
  }
}

TEST(CpuCast, FloatToBFloat16BitExact) {
  for (size_t n : {size_t{1}, size_t{15}, size_t{17}, size_t{100003}}) {
    SCOPED_TRACE(n);
    Tensor x = floatPatterns(n, 23 + static_cast<uint32_t>(n));
    // bf16 halfway points too (bit 15 set, bits 0-14 clear) in the second thousand.
    uint32_t* b = reinterpret_cast<uint32_t*>(x.values.data());
    for (size_t i = 1000; i < n && i < 2000; ++i) b[i] = (b[i] & ~0xffffu) | 0x8000u;
    expectSameBits(castModel(x, DataType::kBFloat16), 2, "cpu");
  }
}

TEST(CpuCast, HalfToFloatAllPatterns) {
  expectSameBits(castModel(allHalfPatterns(DataType::kHalf), DataType::kFloat), 4, "cpu");
}

TEST(CpuCast, BFloat16ToFloatAllPatterns) {
  expectSameBits(castModel(allHalfPatterns(DataType::kBFloat16), DataType::kFloat), 4, "cpu");
}

TEST(CpuCast, BoolToFloat) {
  Tensor t;
  t.name = "X";
  t.type = DataType::kBool;
  t.dims = {1000};
  for (int i = 0; i < 1000; ++i) t.raw.push_back(static_cast<uint8_t>((i * 7) % 3 == 0));
  expectSameBits(castModel(t, DataType::kFloat), 4, "cpu");
}

// Pairs the cpu kernel does not convert stay on the reference backend (and still run).
TEST(CpuCast, RefusedPairsRunOnReference) {
  expectSameBits(castModel(floatPatterns(100, 5), DataType::kInt32), 4, "reference");
  expectSameBits(castModel(allHalfPatterns(DataType::kHalf), DataType::kBFloat16), 2, "reference");
}

#else
TEST(CpuCast, NotBuilt) { GTEST_SKIP() << "qrt was built without oneDNN: no cpu backend"; }
#endif

}  // namespace
}  // namespace qrt
