// A kernel wrapped with CUDA events (see profile.h).
#pragma once

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/profile.h"

namespace qrt::cuda {

class ProfiledKernel final : public Kernel {
 public:
  ProfiledKernel(const ir::Node& node, DeviceContext* dev, std::unique_ptr<Kernel> inner);
  ~ProfiledKernel() override;
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    return inner_->reshape(in, out);
  }
  size_t workspaceBytes() const override { return inner_->workspaceBytes(); }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override;

  void collect();  // adds the last run's time (its events have completed)
  void reset() {
    time_.total_ms = 0;
    time_.runs = 0;
    pending_ = false;
  }
  const LayerTime& time() const { return time_; }

 private:
  DeviceContext* dev_;
  std::unique_ptr<Kernel> inner_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  bool pending_ = false;
  LayerTime time_;
};

}  // namespace qrt::cuda
