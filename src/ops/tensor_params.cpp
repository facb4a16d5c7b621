#include "ops/tensor_params.h"

#include <algorithm>

#include "core/status_macros.h"

namespace qrt {

int64_t intAt(const TensorView& t, int64_t i) {
  const void* p = t.data;
  switch (t.dtype) {
    case DataType::kInt64: return static_cast<const int64_t*>(p)[i];
    case DataType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DataType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt64: return static_cast<int64_t>(static_cast<const uint64_t*>(p)[i]);
    case DataType::kUInt32: return static_cast<const uint32_t*>(p)[i];
    case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    case DataType::kUInt8:
    case DataType::kBool: return static_cast<const uint8_t*>(p)[i];
    default: return 0;  // callers check dtypes during inference; floats never index
  }
}

int64_t lengthOf(const Dims& d) {
  if (d.empty()) return 1;
  return d.size() == 1 ? d[0] : -1;
}

namespace {

// ceil(a / b) for b > 0 and any a.
int64_t ceilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

}  // namespace

Status resolveSlice(const Dims& in, const SliceArgs& args, std::span<SliceAxis> out) {
  const int64_t rank = static_cast<int64_t>(in.size());
  for (int64_t d = 0; d < rank; ++d) out[d] = SliceAxis{0, 1, in[d]};
  const int64_t n = args.starts->numel();
  if (args.ends->numel() != n) return invalidArgument("starts has ", n, " elements but ends has ", args.ends->numel());
  if (args.axes && args.axes->numel() != n)
    return invalidArgument("starts has ", n, " elements but axes has ", args.axes->numel());
  if (args.steps && args.steps->numel() != n)
    return invalidArgument("starts has ", n, " elements but steps has ", args.steps->numel());
  if (!args.axes && n > rank) return invalidArgument("starts has ", n, " elements for a tensor of rank ", rank);

  for (int64_t i = 0; i < n; ++i) {
    int64_t axis = args.axes ? intAt(*args.axes, i) : i;
    if (axis < -rank || axis >= rank) return invalidArgument("slice axis ", axis, " out of range for rank ", rank);
    if (axis < 0) axis += rank;
    // Repeated axes are an error; a quadratic check allocates nothing and n is tiny.
    for (int64_t j = 0; args.axes && j < i; ++j) {
      int64_t other = intAt(*args.axes, j);
      if ((other < 0 ? other + rank : other) == axis) return invalidArgument("slice axis ", axis, " is repeated");
    }
    const int64_t step = args.steps ? intAt(*args.steps, i) : 1;
    if (step == 0) return invalidArgument("slice step 0 on axis ", axis);
    const int64_t dim = in[axis];
    if (dim <= 0) {  // unknown (-1) or empty (0)
      out[axis] = SliceAxis{0, step, dim};
      continue;
    }
    int64_t start = intAt(*args.starts, i), end = intAt(*args.ends, i);
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t count;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = std::max<int64_t>(0, ceilDiv(end - start, step));
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      count = std::max<int64_t>(0, ceilDiv(start - end, -step));
    }
    out[axis] = SliceAxis{start, step, count};
  }
  return Status::Ok();
}

Status resolvePads(size_t rank, const TensorView& pads, const TensorView* axes, std::span<int64_t> begin_end) {
  std::fill(begin_end.begin(), begin_end.end(), 0);
  const int64_t r = static_cast<int64_t>(rank);
  const int64_t n = axes ? axes->numel() : r;
  if (pads.numel() != 2 * n)
    return invalidArgument("pads has ", pads.numel(), " elements, expected ", 2 * n,
                           axes ? " (2 per axis)" : " (2 * rank)");
  for (int64_t i = 0; i < n; ++i) {
    int64_t axis = axes ? intAt(*axes, i) : i;
    if (axis < -r || axis >= r) return invalidArgument("pad axis ", axis, " out of range for rank ", r);
    if (axis < 0) axis += r;
    begin_end[axis] = intAt(pads, i);
    begin_end[axis + r] = intAt(pads, i + n);
  }
  return Status::Ok();
}

}  // namespace qrt
