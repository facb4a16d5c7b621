#include "backends/cuda/engine_timing.h"

#include <algorithm>
#include <memory>
#include <random>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/device_timer.h"
#include "core/status_macros.h"

namespace qrt::cuda {

namespace {

// Device buffers for every input (random) and output of one shape set, bound to contexts.
struct BoundIo {
  std::map<std::string, std::shared_ptr<void>> buffers;

  Status bind(const Engine& engine, ExecutionContext& ctx, const std::map<std::string, Dims>& shapes) {
    for (const TensorInfo& in : engine.inputs()) {
      auto it = shapes.find(in.name);
      if (it == shapes.end()) return invalidArgument("timing the engine: no shape for input '", in.name, "'");
      if (in.dtype != DataType::kFloat)
        return unsupported("timing the engine: input '", in.name, "' is ", dataTypeName(in.dtype), ", not float");
      QRT_RETURN_IF_ERROR(ctx.setInputShape(in.name, it->second));
      if (!buffers.count(in.name)) {
        std::vector<float> v(static_cast<size_t>(volume(it->second)));
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> u(-1.f, 1.f);
        for (float& x : v) x = u(rng);
        QRT_ASSIGN_OR_RETURN(buffers[in.name], deviceAlloc(std::max<size_t>(v.size() * 4, 4)));
        QRT_RETURN_IF_ERROR(copyToDevice(buffers[in.name].get(), v.data(), v.size() * 4));
      }
      QRT_RETURN_IF_ERROR(ctx.setTensorAddress(in.name, buffers[in.name].get()));
    }
    for (const TensorInfo& out : engine.outputs()) {
      if (!buffers.count(out.name)) {
        QRT_ASSIGN_OR_RETURN(Dims d, ctx.tensorShape(out.name));
        const size_t bytes = static_cast<size_t>(volume(d)) * dataTypeSize(out.dtype);
        QRT_ASSIGN_OR_RETURN(buffers[out.name], deviceAlloc(std::max<size_t>(bytes, 4)));
      }
      QRT_RETURN_IF_ERROR(ctx.setTensorAddress(out.name, buffers[out.name].get()));
    }
    return Status::Ok();
  }
};

}  // namespace

Result<EngineTimes> timeEngine(const Engine& engine, const std::map<std::string, Dims>& shapes, int runs,
                               bool per_layer) {
  runs = std::max(runs, 1);
  EngineTimes r;
  BoundIo io;
  QRT_ASSIGN_OR_RETURN(auto stream, createStream());
  {
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine.createExecutionContext());
    QRT_RETURN_IF_ERROR(io.bind(engine, *ctx, shapes));
    ctx->setCudaGraph(true);
    // The first runs plan the context and capture the graph; then the timed replays.
    for (int i = 0; i < 3; ++i) QRT_RETURN_IF_ERROR(ctx->enqueue(stream.get()));
    QRT_RETURN_IF_ERROR(synchronizeStream(stream.get()));
    QRT_ASSIGN_OR_RETURN(auto timer, EventTimer::create(static_cast<size_t>(runs)));
    for (int i = 0; i < runs; ++i) {
      QRT_RETURN_IF_ERROR(timer->start(static_cast<size_t>(i), stream.get()));
      QRT_RETURN_IF_ERROR(ctx->enqueue(stream.get()));
      QRT_RETURN_IF_ERROR(timer->stop(static_cast<size_t>(i), stream.get()));
    }
    QRT_RETURN_IF_ERROR(synchronizeStream(stream.get()));
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      QRT_ASSIGN_OR_RETURN(float t, timer->elapsedMs(static_cast<size_t>(i)));
      ms.push_back(t);
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<long>(ms.size() / 2), ms.end());
    r.median_ms = ms[ms.size() / 2];
  }
  if (!per_layer) return r;
  ProfilingScope scope;  // the context made now times each kernel
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> pctx, engine.createExecutionContext());
  QRT_RETURN_IF_ERROR(io.bind(engine, *pctx, shapes));
  pctx->setCudaGraph(false);
  QRT_RETURN_IF_ERROR(pctx->enqueue(stream.get()));
  QRT_RETURN_IF_ERROR(synchronizeStream(stream.get()));
  collectLayerTimes();
  resetLayerTimes();
  for (int i = 0; i < runs; ++i) {
    QRT_RETURN_IF_ERROR(pctx->enqueue(stream.get()));
    QRT_RETURN_IF_ERROR(synchronizeStream(stream.get()));
    collectLayerTimes();  // each kernel keeps one pair of events: read after every run
  }
  for (LayerTime& t : collectLayerTimes())
    if (t.runs > 0) r.layers.push_back(std::move(t));
  resetLayerTimes();
  return r;
}

}  // namespace qrt::cuda
