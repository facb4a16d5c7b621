#include "core/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(QRT_THREADS_OPENMP)
#include <omp.h>
#endif

// Two implementations of one contract (threadpool.h):
// - QRT_THREADS_OPENMP (builds with the oneDNN cpu backend): parallelFor runs on OpenMP. Debian's
//   libdnnl is an OpenMP build and cannot take a thread-pool adapter (that needs a
//   DNNL_RUNTIME_THREADPOOL build), so qrt joins oneDNN's pool instead of keeping a second one:
//   reference kernels and oneDNN primitives run on the same OpenMP team of the calling thread,
//   so one calling thread never holds more compute threads than that team (no oversubscription
//   between qrt and oneDNN, one wait policy, OMP_WAIT_POLICY, for all of it). Several calling
//   threads (contexts run concurrently) each get a team of their own, as oneDNN's would.
// - otherwise: qrt's own pool (below), workers blocking on a condition variable when idle.

namespace qrt {
namespace {

int defaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

// Chunking shared by both implementations: at most 4 chunks per thread, none below `grain`.
struct Chunks {
  int64_t chunk = 0, count = 0;
};
Chunks chunking(int64_t n, int64_t grain, int threads) {
  int64_t max_chunks = std::max<int64_t>(1, n / grain);
  int64_t wanted = std::min<int64_t>(max_chunks, static_cast<int64_t>(threads) * 4);
  Chunks c;
  c.chunk = (n + wanted - 1) / wanted;
  c.count = (n + c.chunk - 1) / c.chunk;
  return c;
}

}  // namespace
}  // namespace qrt

#if defined(QRT_THREADS_OPENMP)

namespace qrt {
namespace {
std::atomic<int> g_threads{defaultThreads()};
}  // namespace

int numThreads() { return g_threads.load(std::memory_order_relaxed); }
void setNumThreads(int n) { g_threads.store(std::max(1, n), std::memory_order_relaxed); }

void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int threads = numThreads();
  // Inside a parallel region (a nested call, or a caller's own OpenMP team) the call runs inline.
  if (omp_in_parallel() || threads == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  Chunks c = chunking(n, grain, threads);
  int team = static_cast<int>(std::min<int64_t>(threads, c.count));
  // Chunks are handed out dynamically (an atomic counter): threads descheduled on a busy host
  // then delay one chunk rather than a static share. Nothing is allocated: the counter lives on
  // this stack frame, and libgomp reuses the calling thread's team between regions.
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(team)
  {
    for (;;) {
      int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= c.count) break;
      int64_t b = i * c.chunk;
      fn(b, std::min(n, b + c.chunk));
    }
  }
}

}  // namespace qrt

#else  // qrt's own pool

namespace qrt {
namespace {

// A parallelFor call's shared state. It lives on the caller's stack: the caller removes its
// queue entries and waits for every worker that picked it up (`users`) before returning, so
// parallelFor allocates nothing.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0, chunk = 0, num_chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  int users = 0;  // workers currently inside work(); guarded by the pool mutex

  void work() {
    for (;;) {
      int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= num_chunks) return;
      int64_t b = c * chunk, e = std::min(n, b + chunk);
      (*fn)(b, e);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }
};

thread_local bool t_in_parallel = false;

class Pool {
 public:
  explicit Pool(int threads) {
    queue_.reserve(kQueueCapacity);
    start(threads);
  }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop();
    start(threads);
  }

  void run(Job& job, int helpers) {
    {
      std::lock_guard<std::mutex> lk(m_);
      for (int i = 0; i < helpers && queue_.size() < kQueueCapacity; ++i) queue_.push_back(&job);
    }
    cv_.notify_all();
    job.work();
    std::unique_lock<std::mutex> lk(m_);
    // Entries no worker took are withdrawn; then wait for the workers still running chunks.
    queue_.erase(std::remove(queue_.begin(), queue_.end(), &job), queue_.end());
    done_cv_.wait(lk, [&] { return job.users == 0 && job.done.load() == job.num_chunks; });
  }

 private:
  static constexpr size_t kQueueCapacity = 1024;

  void start(int threads) {
    quit_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    queue_.clear();
  }
  void loop() {
    t_in_parallel = true;
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [&] { return quit_ || !queue_.empty(); });
      if (quit_) return;
      Job* job = queue_.back();
      queue_.pop_back();
      ++job->users;
      lk.unlock();
      job->work();
      lk.lock();
      --job->users;
      done_cv_.notify_all();
    }
  }

  std::vector<std::thread> workers_;
  std::vector<Job*> queue_;  // capacity reserved once; never reallocates
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  bool quit_ = false;
};

Pool& pool() {
  static Pool p(defaultThreads());
  return p;
}

}  // namespace

int numThreads() { return pool().size(); }
void setNumThreads(int n) { pool().resize(std::max(1, n)); }

void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int threads = numThreads();
  if (t_in_parallel || threads == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  Chunks c = chunking(n, grain, threads);
  Job job;
  job.fn = &fn;
  job.n = n;
  job.chunk = c.chunk;
  job.num_chunks = c.count;
  t_in_parallel = true;
  pool().run(job, static_cast<int>(std::min<int64_t>(threads - 1, job.num_chunks - 1)));
  t_in_parallel = false;
}

}  // namespace qrt

#endif  // QRT_THREADS_OPENMP
