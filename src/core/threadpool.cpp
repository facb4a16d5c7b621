#include "core/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

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

int defaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

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
  int64_t max_chunks = std::max<int64_t>(1, n / grain);
  int64_t num_chunks = std::min<int64_t>(max_chunks, static_cast<int64_t>(threads) * 4);
  Job job;
  job.fn = &fn;
  job.n = n;
  job.chunk = (n + num_chunks - 1) / num_chunks;
  job.num_chunks = (n + job.chunk - 1) / job.chunk;
  t_in_parallel = true;
  pool().run(job, static_cast<int>(std::min<int64_t>(threads - 1, job.num_chunks - 1)));
  t_in_parallel = false;
}

}  // namespace qrt
