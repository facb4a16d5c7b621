// Shared by the INT8 graph tests (int8_test, unfold_qconv_test): running an engine on host
// tensors by name. Header-only (the tests link no extra source for it); needs gtest.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "qrt/qrt.h"

namespace qrt::test {

using HostTensors = std::map<std::string, HostTensor>;

// Binds `inputs` (host memory) and a host buffer for every engine output (each byte `poison`
// first where given, so an element no kernel wrote shows), enqueues once on `ctx` and returns
// the outputs by name. Failures are test failures; an output without a shape returns {}.
inline HostTensors enqueueOnHost(const Engine& engine, ExecutionContext& ctx, const HostTensors& inputs,
                                 std::optional<int> poison = std::nullopt) {
  for (const auto& [name, t] : inputs) {
    EXPECT_TRUE(ctx.setInputShape(name, t.dims()).ok());
    EXPECT_TRUE(ctx.setTensorAddress(name, const_cast<void*>(t.data())).ok());
  }
  HostTensors outs;
  for (const TensorInfo& o : engine.outputs()) {
    auto dims = ctx.tensorShape(o.name);
    EXPECT_TRUE(dims.ok()) << dims.status().toString();
    if (!dims.ok()) return {};
    outs[o.name] = HostTensor(o.dtype, *dims);
    if (poison) std::memset(outs[o.name].data(), *poison, outs[o.name].bytes());
    EXPECT_TRUE(ctx.setTensorAddress(o.name, outs[o.name].data()).ok());
  }
  Status s = ctx.enqueue();
  EXPECT_TRUE(s.ok()) << s.toString();
  return outs;
}

}  // namespace qrt::test
