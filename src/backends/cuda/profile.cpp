#include "backends/cuda/profile.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backends/cuda/profiled_kernel.h"

namespace qrt::cuda {

namespace {
std::mutex g_mutex;
std::vector<ProfiledKernel*> g_kernels;
std::atomic<int> g_scopes{0};
}  // namespace

bool profilingEnabled() {
  if (g_scopes.load() > 0) return true;
  const char* v = std::getenv("QRT_CUDA_PROFILE");
  return v && std::strcmp(v, "1") == 0;
}

ProfilingScope::ProfilingScope() { ++g_scopes; }
ProfilingScope::~ProfilingScope() { --g_scopes; }

ProfiledKernel::ProfiledKernel(const ir::Node& node, DeviceContext* dev, std::unique_ptr<Kernel> inner)
    : dev_(dev), inner_(std::move(inner)) {
  time_.layer = node.name;
  time_.op = node.op_type;
  time_.dtype = node.outputs.empty() || !node.outputs[0] ? "" : dataTypeName(node.outputs[0]->dtype);
  cudaEventCreate(&start_);
  cudaEventCreate(&stop_);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_kernels.push_back(this);
}

ProfiledKernel::~ProfiledKernel() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_kernels.erase(std::remove(g_kernels.begin(), g_kernels.end(), this), g_kernels.end());
  }
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

Status ProfiledKernel::run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) {
  cudaEventRecord(start_, dev_->stream);
  Status s = inner_->run(in, out, ws);
  cudaEventRecord(stop_, dev_->stream);
  pending_ = s.ok();
  return s;
}

void ProfiledKernel::collect() {
  if (!pending_) return;
  float ms = 0.f;
  if (cudaEventElapsedTime(&ms, start_, stop_) == cudaSuccess) {
    time_.total_ms += ms;
    ++time_.runs;
  }
  pending_ = false;
}

std::vector<LayerTime> collectLayerTimes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<LayerTime> r;
  for (ProfiledKernel* k : g_kernels) {
    k->collect();
    r.push_back(k->time());
  }
  return r;
}

void resetLayerTimes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (ProfiledKernel* k : g_kernels) k->reset();
}

}  // namespace qrt::cuda
