// parallelFor's contract (core/threadpool.h), on whichever implementation this build has (OpenMP
// with the cpu backend, qrt's own pool without): every index of [0, n) is visited exactly once,
// in chunks no smaller than `grain` (but the last), from one thread, from several threads at once
// (several execution contexts), and from inside a parallelFor body (the nested call runs inline),
// for any numThreads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/threadpool.h"

namespace qrt {
namespace {

// Runs parallelFor(n, grain) and checks that every index was visited once.
void expectCoversOnce(int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
  std::atomic<int> short_chunks{0};
  parallelFor(n, grain, [&](int64_t b, int64_t e) {
    if (e - b < grain && e != n) ++short_chunks;
    for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
  });
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  EXPECT_EQ(wrong, 0) << "n " << n << " grain " << grain;
  EXPECT_EQ(short_chunks.load(), 0) << "n " << n << " grain " << grain;
}

class ThreadsScope {
 public:
  explicit ThreadsScope(int n) : saved_(numThreads()) { setNumThreads(n); }
  ~ThreadsScope() { setNumThreads(saved_); }

 private:
  int saved_;
};

TEST(ParallelFor, CoversEveryIndexOnceForAnyThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadsScope scope(threads);
    EXPECT_EQ(numThreads(), threads);
    for (int64_t n : {0, 1, 2, 7, 64, 1000, 4097})
      for (int64_t grain : {1, 3, 64, 5000}) expectCoversOnce(n, grain);
  }
}

TEST(ParallelFor, NestedCallsRunInlineAndCoverOnce) {
  ThreadsScope scope(4);
  const int64_t outer = 16, inner = 300;
  std::vector<std::atomic<int>> seen(static_cast<size_t>(outer * inner));
  parallelFor(outer, 1, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const std::thread::id me = std::this_thread::get_id();
      std::atomic<int> other_thread{0};
      parallelFor(inner, 1, [&](int64_t ib, int64_t ie) {
        if (std::this_thread::get_id() != me) ++other_thread;
        for (int64_t i = ib; i < ie; ++i) seen[static_cast<size_t>(o * inner + i)].fetch_add(1);
      });
      EXPECT_EQ(other_thread.load(), 0) << "a nested parallelFor left its calling thread";
    }
  });
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  EXPECT_EQ(wrong, 0);
}

TEST(ParallelFor, CallsFromSeveralThreadsAtOnce) {
  ThreadsScope scope(3);
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) {
        const int64_t n = 1000 + 37 * t + rep;
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        parallelFor(n, 16, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
        });
        for (auto& s : seen) failures += s.load() != 1;
      }
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace qrt
