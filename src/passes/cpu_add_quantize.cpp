#include "passes/cpu_add_quantize.h"

#include "core/logging.h"
#include "core/status_macros.h"
#include "ops/op.h"
#include "passes/add_quantize_tail.h"
#include "runtime/kernel_factory.h"

namespace qrt::passes {

Status fuseCpuAddQuantize(ir::Graph& g, int* fused) {
  int count = 0;
  auto on_cpu = [](const ir::Node& n) { return n.backend == kBackendCpu; };
  auto made = [](ir::Node& f, const ir::Node& q) -> Status {
    f.backend = kBackendCpu;
    f.precision = q.precision;
    return createKernel(f).status();  // validates now, as finalizeEngine does for every node
  };
  QRT_RETURN_IF_ERROR(fuseAddQuantizeTails(g, on_cpu, made, &count));
  if (fused) *fused = count;
  if (count > 0) logInfo("cpu: ", count, " Add [+ Relu] + QuantizeLinear fused into AddQuantize");
  return Status::Ok();
}

}  // namespace qrt::passes
