#include "backends/cuda/device_timer.h"

#include "backends/cuda/cuda_util.h"

namespace qrt::cuda {

Result<std::unique_ptr<EventTimer>> EventTimer::create(size_t pairs) {
  std::unique_ptr<EventTimer> t(new EventTimer());
  for (size_t i = 0; i < pairs; ++i) {
    cudaEvent_t a = nullptr, b = nullptr;
    QRT_RETURN_IF_ERROR(checkCuda(cudaEventCreate(&a), "cudaEventCreate"));
    t->start_.push_back(a);
    QRT_RETURN_IF_ERROR(checkCuda(cudaEventCreate(&b), "cudaEventCreate"));
    t->stop_.push_back(b);
  }
  return t;
}

EventTimer::~EventTimer() {
  for (void* e : start_) cudaEventDestroy(static_cast<cudaEvent_t>(e));
  for (void* e : stop_) cudaEventDestroy(static_cast<cudaEvent_t>(e));
}

Status EventTimer::start(size_t i, void* stream) {
  return checkCuda(cudaEventRecord(static_cast<cudaEvent_t>(start_.at(i)), static_cast<cudaStream_t>(stream)),
                   "cudaEventRecord");
}

Status EventTimer::stop(size_t i, void* stream) {
  return checkCuda(cudaEventRecord(static_cast<cudaEvent_t>(stop_.at(i)), static_cast<cudaStream_t>(stream)),
                   "cudaEventRecord");
}

Result<float> EventTimer::elapsedMs(size_t i) const {
  float ms = 0.f;
  QRT_RETURN_IF_ERROR(checkCuda(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_.at(i)),
                                                     static_cast<cudaEvent_t>(stop_.at(i))),
                                "cudaEventElapsedTime"));
  return ms;
}

}  // namespace qrt::cuda
