// Shared helpers for the CUDA backend's gtest files (cuda_*_test.cpp): the GPU skip, the random
// source, the in-memory float model (one input X, constants, output Y) and the run of such a
// model on the host or the GPU with a poisoned output. Only built with the CUDA backend
// (QRT_HAVE_CUDA).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "qrt/qrt.h"

namespace qrt::test {

// Why the GPU tests cannot run here (no device, driver too old...), or nullopt.
std::optional<std::string> noGpu();

// Fresh random values for every run: one generator per test binary, seeded from random_device.
std::mt19937& rng();

// n values uniform in [lo, hi) from rng().
std::vector<float> randomValues(int64_t n, float lo, float hi);

// An ONNX model built in memory: float graph inputs, constants, nodes, float outputs. `x` is the
// shape of the (last) input, what runXY feeds.
struct FloatModel {
  onnx::ModelProto m;
  Dims x;
  FloatModel();
  void input(const std::string& name, const Dims& dims);
  void input(const Dims& dims) { input("X", dims); }
  // A float constant uniform in [lo, hi) (lo == hi: every element lo).
  void constant(const std::string& name, const Dims& dims, float lo = -0.5f, float hi = 0.5f);
  // A float constant of the given values.
  void constantData(const std::string& name, const Dims& dims, const std::vector<float>& v);
  // An int8 constant uniform in [lo, hi].
  void int8Constant(const std::string& name, const Dims& dims, int lo, int hi);
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& ins, const std::string& out);
  void output(const std::string& name = "Y");
};

void attrInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
void attrInt(onnx::NodeProto& n, const std::string& name, int64_t v);
void attrFloat(onnx::NodeProto& n, const std::string& name, float v);

constexpr int kPoisonByte = 0x7B;  // 1.3e36 in fp32: an unwritten element stands out

// Runs X (shape xd) through the engine and returns Y. With `device`, X and Y live in GPU memory
// and Y is poisoned first; an element still poisoned (or NaN) afterwards is an error. With
// `cuda_graph`, the context records a CUDA graph and Y comes from a replay of it.
Result<std::vector<float>> runXY(Engine& e, const std::vector<float>& x, const Dims& xd, bool device,
                                 bool cuda_graph = false);

// Tensors as doubles, stored in any of fp32, fp16, fp64, int32, int64, int8, uint8 and bool.
std::vector<uint8_t> encodeValues(const std::vector<double>& v, DataType t);
std::vector<double> decodeValues(const std::vector<uint8_t>& b, DataType t);

// An engine's named inputs (values, dims, dtypes) and outputs (values, dims, dtypes).
struct EngineInputs {
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, Dims> dims;
  std::map<std::string, DataType> dtypes;
};
struct EngineOutputs {
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, Dims> dims;
  std::map<std::string, DataType> dtypes;
};

// Runs every input through the engine (a new execution context, or `reuse`; on `stream` if
// given, then synchronized). With `device` the tensors live in GPU memory and the outputs are
// poisoned first: an fp32 / fp16 element still poisoned afterwards is an error.
Result<EngineOutputs> runEngine(Engine& engine, const EngineInputs& in, bool device, ExecutionContext* reuse = nullptr,
                                void* stream = nullptr);

// The build-time tactics an engine's nodes hold (node name -> tactic attribute).
std::map<std::string, std::string> tactics(const Engine& e);

// Sets an environment variable for one scope (unsets it after).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);  // value null: unset while in scope
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// Kernel tests that call the launchers directly: a device buffer of `bytes` plus slack, poisoned
// with kPoison, with its contents at byte `offset` (an offset that is not a multiple of 16
// exercises the kernels' unaligned paths). Failures are gtest failures.
inline constexpr int kPoison = 0x7B;
struct DeviceBuffer {
  std::shared_ptr<void> mem;
  uint8_t* at = nullptr;
  size_t bytes = 0;
  static DeviceBuffer make(size_t bytes, size_t offset = 0);
  void upload(const void* host) const;
  // After the device is idle (the launches on the legacy stream are done).
  template <typename T>
  std::vector<T> download() const {
    std::vector<T> h(bytes / sizeof(T));
    downloadInto(h.data());
    return h;
  }

 private:
  void downloadInto(void* host) const;
};
// No launch error and none when the device is synchronized, else a gtest failure naming `what`.
void expectLaunched(const char* what);

}  // namespace qrt::test

// Skips the current test where no GPU can be used (CI), naming why.
#define QRT_REQUIRE_GPU()                                          \
  do {                                                             \
    if (auto why = ::qrt::test::noGpu()) GTEST_SKIP() << *why;     \
  } while (0)
