// pool_bench: kernel times of the CUDA pooling launchers on the layer shapes that motivated the
// vectorized int8 MaxPool and the plane-splitting global pools (ResNet-50 INT8 batch 256's stem
// pool; PP-OCRv4 detector's SE-block GlobalAveragePools at 640x640, batch 1), timed with CUDA
// events over back-to-back launches on one stream.
//
// Built by hand against a libqrt.a (not part of the CMake build): the same source links against
// an older library for the before/after comparison, with -DQRT_POOL_BENCH_OLD selecting the
// older globalPool signature (n, c, spatial, channels_last; no plan, no workspace). See
// bench/gpu/NOTES.md ("Pooling kernels") for the command lines and the numbers.
//
//   pool_bench [--iters N]      prints one line per case: name, ms per launch
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cuda/int8_launch.h"
#include "backends/cuda/launch.h"
#include "backends/cuda/pool_geometry.h"

#ifdef QRT_POOL_BENCH_OLD
namespace qrt::cuda::launch {  // the signature before GlobalPoolPlan
void globalPool(DataType t, bool max, const void* x, void* y, int64_t n, int64_t c, int64_t spatial,
                bool channels_last, cudaStream_t s);
}  // namespace qrt::cuda::launch
#endif

using namespace qrt;

namespace {

int g_iters = 100;

#define CHECK_CUDA(x)                                                                  \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));                    \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

template <typename F>
double timeMs(F&& launch) {
  for (int i = 0; i < 5; ++i) launch();
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  CHECK_CUDA(cudaEventRecord(a, nullptr));
  for (int i = 0; i < g_iters; ++i) launch();
  CHECK_CUDA(cudaEventRecord(b, nullptr));
  CHECK_CUDA(cudaEventSynchronize(b));
  CHECK_CUDA(cudaGetLastError());
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / g_iters;
}

void* deviceBuffer(size_t bytes) {
  void* p = nullptr;
  CHECK_CUDA(cudaMalloc(&p, bytes));
  CHECK_CUDA(cudaMemset(p, 0x3C, bytes));  // finite in fp32 and fp16, any int8
  return p;
}

void benchMaxPoolInt8() {
  // ResNet-50's stem pool at batch 256: [256, 64, 112, 112] int8 NHWC, 3x3 stride 2 pads 1.
  WindowAttrs a;
  a.where = "pool_bench";
  a.kernel_shape = {3, 3};
  a.strides = {2, 2};
  a.pads = {1, 1, 1, 1};
  const Dims x{256, 64, 112, 112};
  for (bool nhwc : {true, false}) {
    auto g = cuda::poolGeometry(a, x, nhwc, "pool_bench");
    if (!g.ok()) std::exit(1);
    void* in = deviceBuffer(256ull * 64 * 112 * 112);
    void* out = deviceBuffer(256ull * 64 * 56 * 56);
    const double ms = timeMs([&] { cuda::launch::maxPoolInt8(DataType::kInt8, in, out, *g, nullptr); });
    std::printf("maxpool_int8 %s [256,64,112,112] 3x3s2p1: %.4f ms\n", nhwc ? "NHWC" : "NCHW", ms);
    cudaFree(in);
    cudaFree(out);
  }
}

void benchGlobalPool(const Dims& d, DataType t, bool nhwc) {
  const int64_t n = d[0], c = d[1], spatial = d[2] * d[3];
  const size_t e = t == DataType::kHalf ? 2 : 4;
  void* in = deviceBuffer(static_cast<size_t>(n * c * spatial) * e);
  void* out = deviceBuffer(static_cast<size_t>(n * c) * e);
#ifdef QRT_POOL_BENCH_OLD
  const double ms = timeMs([&] { cuda::launch::globalPool(t, false, in, out, n, c, spatial, nhwc, nullptr); });
  const char* how = "";
#else
  const cuda::launch::GlobalPoolPlan p = cuda::launch::globalPoolPlan(t, n, c, spatial, nhwc);
  void* ws = p.workspaceBytes() ? deviceBuffer(p.workspaceBytes()) : nullptr;
  const double ms = timeMs([&] { cuda::launch::globalPool(t, false, in, out, p, ws, nullptr); });
  if (ws) cudaFree(ws);
  static const char* kKinds[] = {"rows", "row-split", "nhwc", "nhwc-threads"};
  char buf[64];
  std::snprintf(buf, sizeof buf, " (%s, splits %lld)", kKinds[p.kind], static_cast<long long>(p.splits));
  const char* how = buf;
#endif
  std::printf("gap %s %s [%lld,%lld,%lld,%lld]: %.4f ms%s\n", t == DataType::kHalf ? "fp16" : "fp32",
              nhwc ? "NHWC" : "NCHW", static_cast<long long>(d[0]), static_cast<long long>(d[1]),
              static_cast<long long>(d[2]), static_cast<long long>(d[3]), ms, how);
  cudaFree(in);
  cudaFree(out);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--iters") == 0) g_iters = std::atoi(argv[i + 1]);
  benchMaxPoolInt8();
  const Dims shapes[] = {{1, 96, 160, 160}, {1, 24, 160, 160}, {1, 96, 80, 80}, {1, 24, 80, 80},
                         {1, 192, 20, 20},  {1, 8, 320, 320},  {256, 2048, 7, 7}};
  for (const Dims& d : shapes)
    for (DataType t : {DataType::kHalf, DataType::kFloat})
      for (bool nhwc : {true, false}) benchGlobalPool(d, t, nhwc);
  return 0;
}
