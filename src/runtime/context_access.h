// qrt-internal access to an execution context: an observer that sees every activation right
// after it is computed (used by calibration to collect ranges and histograms).
#pragma once

#include <functional>

#include "core/tensor.h"
#include "ir/graph.h"
#include "qrt/engine.h"

namespace qrt::internal {

// Called for each graph input at the start of enqueue and for each output of each step after it
// ran. `value` is the IR value; `view` holds its data for this run (read-only use). The bytes are
// stored as the producing kernel stores them: a channels-last (qrt_nhwc) activation is NHWC while
// view.dims stay NCHW, so an observer must not depend on element positions (calibration's
// ranges and histograms do not). On a device
// engine the view holds a device address and the observer is called as the kernels are queued:
// it may queue its own work on the run's stream (calibration on the GPU does), behind the kernel
// that writes the tensor and before any later kernel reuses its memory.
using TensorObserver = std::function<void(const ir::Value& value, const TensorView& view)>;

struct ContextAccess {
  static void setObserver(ExecutionContext& ctx, TensorObserver observer);
};

}  // namespace qrt::internal
