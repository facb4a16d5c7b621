// qrt_gpu_bench: latency and throughput of CUDA engines, timed with CUDA events.
//
//   qrt_gpu_bench MODEL.onnx [--batches 1,32,256] [--precisions fp32,tf32,fp16,fp16+graph,int8+graph]
//                 [--iters 200] [--warmup 20] [--profile] [--json FILE] [--check] [--name LABEL]
//                 [--calib-cache FILE] [--hw HxW]
//
// A precision with "+graph" runs its contexts with setCudaGraph(true): the enqueue is captured
// into a CUDA graph once and replayed. "int8" builds with BuilderFlag::kINT8 from the scales of
// --calib-cache (a TensorRT-format cache, e.g. written by `qrt build --int8 --calib-cache` on the
// CPU); "int8fp16" adds kFP16 for the layers that stay float. --hw fixes dynamic spatial dims of
// 4-D inputs (PP-OCR's detector: --hw 640x640); --name labels the model in the JSON records.
//
// For each precision the engine is built once (dynamic batch); for each batch a context is made,
// its shapes set (cuDNN's tactics are timed then: "setup"), random inputs are uploaded once, and
// each timed enqueue on one stream is bracketed by a pair of events: median / p90 / p99 latency
// and images per second (batch / median). --profile re-runs with per-kernel events and prints
// the layers that take the most time. --check compares the first output with the CPU engine's
// (batch 1 of the first batch size). One JSON object per configuration goes to --json.
// (`qrt bench --device cuda` is the CLI's job; this driver exists until it times CUDA engines.)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/profile.h"
#include "core/json_writer.h"
#include "core/status_macros.h"
#include "quant/data_calibrators.h"
#include "qrt/qrt.h"

namespace {

using qrt::Dims;
using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> r;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) r.push_back(x);
  return r;
}

int die(const std::string& what) {
  std::fprintf(stderr, "qrt_gpu_bench: %s\n", what.c_str());
  return 1;
}

struct Options {
  std::string model, name, calib_cache;
  int64_t height = 0, width = 0;
  std::vector<int64_t> batches{1, 32, 256};
  std::vector<std::string> precisions{"fp32", "fp16"};
  int iters = 200, warmup = 20;
  bool profile = false, check = false;
  std::string json;
};

double percentile(std::vector<float> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::min<double>(v.size() - 1, std::floor(p * (v.size() - 1) + 0.5)));
  return v[i];
}

// --hw: the spatial size given to dynamic H / W of 4-D inputs.
int64_t g_height = 0, g_width = 0;
std::string g_calib_cache;
// --static: one engine per batch with the batch fixed at build time, so the builder times the
// convolution tactics on the real shapes (a dynamic-batch engine takes cuDNN's heuristics).
bool g_static = false;
int64_t g_build_batch = 0;
std::string g_timing_cache;  // --timing-cache FILE

struct Io {
  std::vector<std::shared_ptr<void>> buffers;
  std::vector<std::pair<std::string, size_t>> outputs;  // name, bytes
  std::map<std::string, void*> address;
};

// Binds random fp32 inputs (uniform [-1, 1)) and output buffers on the device.
qrt::Result<Io> bindIo(qrt::Engine& engine, qrt::ExecutionContext& ctx, int64_t batch, uint32_t seed,
                     std::map<std::string, std::vector<float>>* host_inputs) {
  Io io;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (const auto& in : engine.inputs()) {
    Dims d = in.dims;
    if (!d.empty() && d[0] < 0) d[0] = batch;
    if (d.size() == 4 && d[2] < 0) d[2] = g_height;
    if (d.size() == 4 && d[3] < 0) d[3] = g_width;
    QRT_RETURN_IF_ERROR(ctx.setInputShape(in.name, d));
    std::vector<float> v(static_cast<size_t>(qrt::volume(d)));
    for (float& x : v) x = u(rng);
    QRT_ASSIGN_OR_RETURN(auto buf, qrt::cuda::deviceAlloc(v.size() * 4));
    QRT_RETURN_IF_ERROR(qrt::cuda::copyToDevice(buf.get(), v.data(), v.size() * 4));
    QRT_RETURN_IF_ERROR(ctx.setTensorAddress(in.name, buf.get()));
    io.address[in.name] = buf.get();
    io.buffers.push_back(buf);
    if (host_inputs) (*host_inputs)[in.name] = std::move(v);
  }
  for (const auto& o : engine.outputs()) {
    QRT_ASSIGN_OR_RETURN(Dims d, ctx.tensorShape(o.name));
    size_t bytes = static_cast<size_t>(qrt::volume(d)) * qrt::dataTypeSize(o.dtype);
    QRT_ASSIGN_OR_RETURN(auto buf, qrt::cuda::deviceAlloc(bytes));
    QRT_RETURN_IF_ERROR(ctx.setTensorAddress(o.name, buf.get()));
    io.address[o.name] = buf.get();
    io.buffers.push_back(buf);
    io.outputs.emplace_back(o.name, bytes);
  }
  return io;
}

bool graphOf(const std::string& precision) { return precision.find("+graph") != std::string::npos; }

qrt::Result<std::shared_ptr<qrt::Engine>> build(const std::string& model, const std::string& label) {
  const std::string precision = label.substr(0, label.find('+'));
  QRT_ASSIGN_OR_RETURN(auto net, qrt::parseOnnxFile(model));
  qrt::BuilderConfig c;
  if (precision != "cpu") c.setDevice(qrt::DeviceType::kCUDA);
  if (precision != "cpu" && !g_timing_cache.empty()) c.setTimingCachePath(g_timing_cache);
  if (g_build_batch > 0)
    for (const auto& in : net->inputs()) {
      Dims d = in.dims;
      if (d.empty() || d[0] >= 0) continue;
      d[0] = g_build_batch;
      if (d.size() == 4 && d[2] < 0) d[2] = g_height;
      if (d.size() == 4 && d[3] < 0) d[3] = g_width;
      c.setInputShape(in.name, d);
    }
  if (precision == "fp16" || precision == "int8fp16") c.setFlag(qrt::BuilderFlag::kFP16);
  if (precision == "tf32") c.setFlag(qrt::BuilderFlag::kTF32);
  if (precision == "int8" || precision == "int8fp16") {
    if (g_calib_cache.empty()) return qrt::invalidArgument(label, ": give --calib-cache FILE for INT8 engines");
    qrt::quant::DataCalibratorOptions o;
    o.cache_path = g_calib_cache;
    c.setFlag(qrt::BuilderFlag::kINT8);
    c.setInt8Calibrator(std::make_shared<qrt::quant::CacheOnlyCalibrator>(o));
  }
  return qrt::buildEngine(*net, c);
}

// Relative L2 difference between the GPU engine's first output and the CPU engine's.
qrt::Result<double> checkAgainstCpu(const std::string& model, qrt::Engine& gpu, int64_t batch) {
  QRT_ASSIGN_OR_RETURN(auto cpu, build(model, "cpu"));
  QRT_ASSIGN_OR_RETURN(auto gctx, gpu.createExecutionContext());
  std::map<std::string, std::vector<float>> inputs;
  QRT_ASSIGN_OR_RETURN(Io io, bindIo(gpu, *gctx, batch, 7, &inputs));
  QRT_RETURN_IF_ERROR(gctx->enqueue());
  QRT_ASSIGN_OR_RETURN(auto cctx, cpu->createExecutionContext());
  for (auto& [name, v] : inputs) {
    Dims d = cpu->inputs()[0].dims;
    if (d[0] < 0) d[0] = batch;
    if (d.size() == 4 && d[2] < 0) d[2] = g_height;
    if (d.size() == 4 && d[3] < 0) d[3] = g_width;
    QRT_RETURN_IF_ERROR(cctx->setInputShape(name, d));
    QRT_RETURN_IF_ERROR(cctx->setTensorAddress(name, v.data()));
  }
  const auto& [oname, obytes] = io.outputs[0];
  std::vector<float> want(obytes / 4), got(obytes / 4);
  QRT_RETURN_IF_ERROR(cctx->setTensorAddress(oname, want.data()));
  QRT_RETURN_IF_ERROR(cctx->enqueue());
  QRT_RETURN_IF_ERROR(qrt::cuda::copyToHost(got.data(), io.address[oname], obytes));
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
    den += want[i] * static_cast<double>(want[i]);
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

int run(const Options& o) {
  std::printf("device: %s\n", qrt::cuda::deviceSummary().c_str());
  std::ofstream json;
  if (!o.json.empty()) json.open(o.json, std::ios::app);
  std::printf("%-6s %6s %10s %10s %10s %12s %10s %10s\n", "prec", "batch", "median_ms", "p90_ms", "p99_ms", "img_per_s",
              "setup_ms", "build_ms");
  for (const std::string& prec : o.precisions) {
    auto t0 = Clock::now();
    g_build_batch = g_static ? o.batches[0] : 0;
    auto engine = build(o.model, prec);
    if (!engine.ok()) {  // say why in the record and go on: the other precisions still count
      std::printf("%-6s build failed: %s\n", prec.c_str(), engine.status().toString().c_str());
      if (json.is_open()) {
        std::string msg = engine.status().toString();
        for (char& ch : msg)
          if (ch == '"' || ch == '\\' || ch == '\n') ch = '\'';
        json << "{\"engine\": \"qrt\", \"model\": \"" << (o.name.empty() ? o.model : o.name) << "\", \"precision\": \""
             << prec << "\", \"error\": \"" << msg << "\"}\n";
        json.flush();
      }
      continue;
    }
    double build_ms = msSince(t0);
    if (o.check && prec.rfind("int8", 0) != 0) {  // INT8 agreement: tests/cuda_int8_test.cpp
      auto err = checkAgainstCpu(o.model, **engine, o.batches[0]);
      if (!err.ok()) return die(err.status().toString());
      std::printf("check %s batch %lld: relative L2 difference to the CPU engine %.3g\n", prec.c_str(),
                  static_cast<long long>(o.batches[0]), *err);
    }
    for (int64_t batch : o.batches) {
      if (g_static && batch != g_build_batch) {  // an engine built for this batch
        g_build_batch = batch;
        t0 = Clock::now();
        auto e = build(o.model, prec);
        if (!e.ok()) { std::printf("%-6s batch %lld build failed: %s\n", prec.c_str(), static_cast<long long>(batch), e.status().toString().c_str()); break; }
        engine = e;
        build_ms = msSince(t0);
      }
      auto ctx = (*engine)->createExecutionContext();
      if (!ctx.ok()) { std::printf("%-6s batch %lld failed: %s\n", prec.c_str(), static_cast<long long>(batch), std::string(ctx.status().toString()).c_str()); break; }
      (*ctx)->setCudaGraph(graphOf(prec));
      auto io = bindIo(**engine, **ctx, batch, 1, nullptr);
      if (!io.ok()) { std::printf("%-6s batch %lld failed: %s\n", prec.c_str(), static_cast<long long>(batch), std::string(io.status().toString()).c_str()); break; }
      cudaStream_t stream;
      cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
      t0 = Clock::now();
      if (auto s = (*ctx)->enqueue(stream); !s.ok()) { std::printf("%-6s batch %lld failed: %s\n", prec.c_str(), static_cast<long long>(batch), std::string(s.toString()).c_str()); break; }  // plans, times tactics
      cudaStreamSynchronize(stream);
      const double setup_ms = msSince(t0);
      for (int i = 0; i < o.warmup; ++i) (void)(*ctx)->enqueue(stream);
      std::vector<cudaEvent_t> ev(2 * o.iters);
      for (auto& e : ev) cudaEventCreate(&e);
      for (int i = 0; i < o.iters; ++i) {
        cudaEventRecord(ev[2 * i], stream);
        if (auto s = (*ctx)->enqueue(stream); !s.ok()) { std::printf("%-6s batch %lld failed: %s\n", prec.c_str(), static_cast<long long>(batch), std::string(s.toString()).c_str()); break; }
        cudaEventRecord(ev[2 * i + 1], stream);
      }
      if (cudaStreamSynchronize(stream) != cudaSuccess) { std::printf("%-6s batch %lld failed: %s\n", prec.c_str(), static_cast<long long>(batch), std::string("run failed: " + std::string(cudaGetErrorString(cudaGetLastError()))).c_str()); break; }
      std::vector<float> ms(o.iters);
      for (int i = 0; i < o.iters; ++i) cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]);
      for (auto& e : ev) cudaEventDestroy(e);
      const double med = percentile(ms, 0.5), p90 = percentile(ms, 0.9), p99 = percentile(ms, 0.99);
      const double ips = batch / med * 1000.0;
      std::printf("%-6s %6lld %10.3f %10.3f %10.3f %12.0f %10.0f %10.0f\n", prec.c_str(), static_cast<long long>(batch),
                  med, p90, p99, ips, setup_ms, build_ms);
      // --int8 --fp16: the builder's per-layer INT8 / FP16 choice (builder/int8_choice.h).
      const std::string choice = (*engine)->metadata("int8_choice");
      if (!choice.empty()) std::printf("  int8 per layer: %s\n", choice.c_str());
      std::fflush(stdout);
      std::string profile_json;
      if (o.profile) {  // on a second context, without graphs, whatever the timed runs used
        // A second context whose kernels are wrapped with events (see backends/cuda/profile.h).
        auto pctx = [&] {
          qrt::cuda::ProfilingScope profiled;
          return (*engine)->createExecutionContext();
        }();
        if (!pctx.ok()) { std::printf("%-6s batch %lld failed: %s\n", prec.c_str(), static_cast<long long>(batch), std::string(pctx.status().toString()).c_str()); break; }
        auto pio = bindIo(**engine, **pctx, batch, 1, nullptr);
        if (!pio.ok()) { std::printf("%-6s batch %lld failed: %s\n", prec.c_str(), static_cast<long long>(batch), std::string(pio.status().toString()).c_str()); break; }
        (void)(*pctx)->enqueue(stream);
        cudaStreamSynchronize(stream);
        qrt::cuda::collectLayerTimes();
        qrt::cuda::resetLayerTimes();
        const int runs = std::max(5, o.iters / 10);
        for (int i = 0; i < runs; ++i) {
          (void)(*pctx)->enqueue(stream);
          cudaStreamSynchronize(stream);
          qrt::cuda::collectLayerTimes();
        }
        auto layers = qrt::cuda::collectLayerTimes();
        qrt::cuda::resetLayerTimes();
        double total = 0;
        std::map<std::string, double> by_op;
        for (const auto& l : layers) {
          total += l.total_ms / std::max<int64_t>(1, l.runs);
          by_op[l.op] += l.total_ms / std::max<int64_t>(1, l.runs);
        }
        std::sort(layers.begin(), layers.end(), [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
        std::printf("  profile (%d runs, per-kernel events): %.3f ms of kernels per run\n", runs, total);
        std::vector<std::pair<double, std::string>> ops;
        for (const auto& [op, t] : by_op) ops.emplace_back(t, op);
        std::sort(ops.rbegin(), ops.rend());
        std::printf("  by op:");
        for (const auto& [t, op] : ops) std::printf(" %s %.3f ms (%.0f%%);", op.c_str(), t, 100 * t / total);
        std::printf("\n");
        std::ostringstream pj;
        pj << "\"profile_total_ms\": " << total << ", \"profile_by_op\": {";
        for (size_t i = 0; i < ops.size(); ++i) pj << (i ? ", " : "") << "\"" << ops[i].second << "\": " << ops[i].first;
        pj << "}, \"profile_top\": [";
        for (size_t i = 0; i < std::min<size_t>(10, layers.size()); ++i) {
          const auto& l = layers[i];
          double per = l.total_ms / std::max<int64_t>(1, l.runs);
          std::printf("    %-40s %-18s %-5s %8.3f ms\n", l.layer.c_str(), l.op.c_str(), l.dtype.c_str(), per);
          pj << (i ? ", " : "") << "{\"layer\": \"" << l.layer << "\", \"op\": \"" << l.op << "\", \"dtype\": \"" << l.dtype
             << "\", \"ms\": " << per << "}";
        }
        pj << "], \"profile_layers\": [";  // every layer, slowest first (per-layer comparisons across precisions)
        for (size_t i = 0; i < layers.size(); ++i) {
          const auto& l = layers[i];
          pj << (i ? ", " : "") << "{\"layer\": \"" << l.layer << "\", \"op\": \"" << l.op << "\", \"dtype\": \"" << l.dtype
             << "\", \"ms\": " << l.total_ms / std::max<int64_t>(1, l.runs) << "}";
        }
        pj << "]";
        profile_json = pj.str();
      }
      if (json.is_open()) {
        json << "{\"engine\": \"qrt\", \"model\": \"" << (o.name.empty() ? o.model : o.name) << "\", \"precision\": \"" << prec << "\", \"batch\": " << batch
             << ", \"median_ms\": " << med << ", \"p90_ms\": " << p90 << ", \"p99_ms\": " << p99
             << ", \"img_per_s\": " << ips << ", \"setup_ms\": " << setup_ms << ", \"build_ms\": " << build_ms
             << ", \"activation_bytes\": " << (*ctx)->activationBytes() << ", \"device\": \""
             << qrt::cuda::deviceSummary() << "\"";
        if (!choice.empty()) {
          qrt::JsonWriter quoted(0);  // the project's string escaping
          quoted.value(choice);
          json << ", \"int8_choice\": " << quoted.str();
        }
        json << (profile_json.empty() ? "" : ", ") << profile_json << "}\n";
        json.flush();
      }
      cudaStreamDestroy(stream);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--batches") {
      o.batches.clear();
      for (const auto& b : split(next())) o.batches.push_back(std::stoll(b));
    } else if (a == "--precisions") {
      o.precisions = split(next());
    } else if (a == "--iters") {
      o.iters = std::stoi(next());
    } else if (a == "--warmup") {
      o.warmup = std::stoi(next());
    } else if (a == "--profile") {
      o.profile = true;
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--json") {
      o.json = next();
    } else if (a == "--name") {
      o.name = next();
    } else if (a == "--static") {
      g_static = true;
    } else if (a == "--timing-cache") {
      g_timing_cache = next();
    } else if (a == "--calib-cache") {
      g_calib_cache = next();
    } else if (a == "--hw") {
      const std::string hw = next();
      const size_t x = hw.find('x');
      if (x == std::string::npos) return die("--hw takes HxW, e.g. 640x640");
      g_height = std::stoll(hw.substr(0, x));
      g_width = std::stoll(hw.substr(x + 1));
    } else if (a[0] != '-') {
      o.model = a;
    } else {
      return die("unknown option " + a);
    }
  }
  if (o.model.empty()) return die("usage: qrt_gpu_bench MODEL.onnx [--batches 1,32,256] [--precisions fp32,fp16] ...");
  if (auto s = qrt::cuda::deviceStatus(); !s.ok()) return die(s.toString());
  return run(o);
}
