#include "backends/cuda/pool_geometry.h"

#include "core/status_macros.h"

namespace qrt::cuda {

Result<launch::PoolGeometry> poolGeometry(const WindowAttrs& attrs, const Dims& x, bool nhwc, const std::string& who) {
  QRT_ASSIGN_OR_RETURN(Window w, poolWindow(attrs, x));
  if (w.rank < 1 || w.rank > 3) return unsupported(who, ": the CUDA backend pools over 1 to 3 spatial dims");
  launch::PoolGeometry g;
  g.n = x[0];
  g.c = x[1];
  const size_t lead = 3 - w.rank;  // unused leading slots keep extent 1
  for (size_t i = 0; i < w.rank; ++i) {
    g.in[lead + i] = w.in[i];
    g.out[lead + i] = w.out[i];
    g.kernel[lead + i] = w.kernel[i];
    g.stride[lead + i] = w.strides[i];
    g.dilation[lead + i] = w.dilations[i];
    g.pad[lead + i] = w.pad_begin[i];
    g.pad_end[lead + i] = w.pad_end[i];
  }
  g.channels_last = nhwc && x.size() == 4;
  return g;
}

}  // namespace qrt::cuda
