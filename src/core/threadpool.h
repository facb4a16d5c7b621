// A small shared thread pool. parallelFor splits [0, n) into chunks run by the pool's workers and
// the calling thread; it is safe to call from several threads at once (several execution
// contexts) and from inside a parallelFor body (the nested call runs inline).
#pragma once

#include <cstdint>
#include <functional>

namespace qrt {

// Number of threads parallelFor uses (workers + caller). Default: hardware concurrency.
int numThreads();
// Sets the number of threads (>= 1). Not to be called while work is running.
void setNumThreads(int n);

// Calls fn(begin, end) over disjoint chunks covering [0, n). `grain` is the smallest chunk worth
// sending to another thread. fn must not throw: an exception leaving fn on a worker thread (an
// OpenMP region, or a pool worker) ends the process; report errors through captured state instead.
void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace qrt
