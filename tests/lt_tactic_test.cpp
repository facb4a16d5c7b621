// The stored form of a cuBLASLt algorithm (src/backends/lt_tactic.h): host code in every build,
// so the CPU-only CI checks that format and parse round-trip and that parse refuses what format
// never writes.
#include <gtest/gtest.h>

#include "backends/lt_tactic.h"

namespace qrt::cuda {
namespace {

TEST(LtTactic, FormatParseRoundTrip) {
  LtTactic t;
  t.algo = 66;
  t.tile = 20;
  t.stages = 35;
  t.split_k = 4;
  t.reduction = 2;
  t.swizzle = 1;
  t.custom = 3;
  t.inner = 12;
  t.cluster = 65535;
  EXPECT_EQ(t.str(), "lt:a66:t20:s35:k4:r2:w1:c3:i12:g65535");
  LtTactic u;
  ASSERT_TRUE(LtTactic::parse(t.str(), &u));
  EXPECT_EQ(u, t);
  ASSERT_TRUE(LtTactic::parse(LtTactic{}.str(), &u));
  EXPECT_EQ(u, LtTactic{});
  // As cuBLASLt 13.0 reported one of its algorithms on an H200 (split-K -1).
  ASSERT_TRUE(LtTactic::parse("lt:a11:t0:s0:k-1:r2:w0:c1:i0:g0", &u));
  EXPECT_EQ(u.split_k, -1);
  EXPECT_EQ(u.str(), "lt:a11:t0:s0:k-1:r2:w0:c1:i0:g0");
  // With the raw bytes of an algorithm that does not rebuild from its configuration.
  t.has_raw = true;
  for (int i = 0; i < 8; ++i) t.raw[i] = 0x0123456789abcdefull * static_cast<uint64_t>(i + 1) ^ (uint64_t{1} << 63);
  const std::string s = t.str();
  EXPECT_EQ(s.size(), std::string("lt:a66:t20:s35:k4:r2:w1:c3:i12:g65535:x").size() + 128) << s;
  ASSERT_TRUE(LtTactic::parse(s, &u)) << s;
  EXPECT_EQ(u, t);
  EXPECT_FALSE(LtTactic::parse(s.substr(0, s.size() - 1), &u));
  EXPECT_FALSE(LtTactic::parse(s.substr(0, s.size() - 1) + "g", &u));
  EXPECT_FALSE(LtTactic::parse(s + "0", &u));
}

TEST(LtTactic, ParseRefusesOtherStrings) {
  LtTactic keep;
  keep.algo = 7;
  for (const char* s : {"", "lt", "lt:a1", "f0:c0:e3:k1=2", "legacy:a1:f0", "lt:a1:t0:s0:k1:r0:w0:c0:i0",
                        "lt:a1:t0:s0:k1:r0:w0:c0:i0:g0:", "lt:a1:t0:s0:k1:r0:w0:c0:i0:g0x", "lt:a1:t0:s0:k2147483648:r0:w0:c0:i0:g0",
                        "lt:a1:t0:s0:k1:r0:w0:c0:i65536:g0", "lt:a1:t-1:s0:k1:r0:w0:c0:i0:g0", "lt:a1:s0:t0:k1:r0:w0:c0:i0:g0",
                        "lt:a:t0:s0:k1:r0:w0:c0:i0:g0", "lt:a1:t4294967296:s0:k1:r0:w0:c0:i0:g0"}) {
    LtTactic t = keep;
    EXPECT_FALSE(LtTactic::parse(s, &t)) << s;
    EXPECT_EQ(t, keep) << s;
  }
}

}  // namespace
}  // namespace qrt::cuda
