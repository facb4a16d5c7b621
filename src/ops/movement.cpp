// Ops that move data between positions: Transpose, Concat, Split, Gather, Slice.
#include <algorithm>
#include <numeric>

#include "ops/shape_util.h"
#include "ops/tensor_ops.h"
#include "ops/tensor_params.h"

namespace qrt::tensor_ops {

Status inferTranspose(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  std::vector<int64_t> perm(in.size());
  std::iota(perm.rbegin(), perm.rend(), 0);  // default: reverse the axes
  if (ctx.node.hasAttr("perm")) perm = ctx.node.attrInts("perm");
  if (perm.size() != in.size()) return ctx.error("perm has ", perm.size(), " entries for rank ", in.size());
  std::vector<bool> seen(in.size(), false);
  Dims out(in.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t p = perm[i];
    if (p < 0 || p >= static_cast<int64_t>(in.size()) || seen[p]) return ctx.error("perm is not a permutation");
    seen[p] = true;
    out[i] = in[p];
  }
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

Status inferConcat(InferContext& ctx) {
  if (ctx.numInputs() == 0 || !ctx.hasInput(0)) return ctx.error("at least one input is required");
  const int64_t rank = static_cast<int64_t>(ctx.in_dims[0].size());
  if (rank == 0) return ctx.error("cannot concatenate scalars");
  if (!ctx.node.hasAttr("axis") && ctx.node.opset >= 4) return ctx.error("attribute 'axis' is required");
  const int64_t a = ctx.node.attrInt("axis", 1);  // Concat-1 defaulted to 1
  auto axis = normalizeAxis(a, rank);
  if (!axis) return ctx.error("axis ", a, " out of range for rank ", rank);
  Dims out = ctx.in_dims[0];
  out[*axis] = 0;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) return ctx.error("input ", i, " is missing");
    if (ctx.in_types[i] != ctx.in_types[0]) return ctx.error("inputs have different dtypes");
    const Dims& d = ctx.in_dims[i];
    if (static_cast<int64_t>(d.size()) != rank) return ctx.error("inputs have different ranks");
    for (int64_t k = 0; k < rank; ++k) {
      if (k == *axis) {
        out[k] = (out[k] < 0 || d[k] < 0) ? -1 : out[k] + d[k];
      } else if (d[k] >= 0) {
        if (out[k] >= 0 && out[k] != d[k])
          return ctx.error("input ", i, " has dims ", dimsToString(d), ", incompatible with ",
                           dimsToString(ctx.in_dims[0]));
        out[k] = d[k];
      }
    }
  }
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

// Split sizes: the `split` input (opset 13, and optional in Split-1), the attribute (opsets 2-12),
// else equal parts. Opset 18's num_outputs lets the last part be smaller.
Status inferSplit(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(in.size());
  const int64_t a = ctx.node.attrInt("axis", 0);
  auto axis = normalizeAxis(a, rank);
  if (!axis || rank == 0) return ctx.error("axis ", a, " out of range for rank ", rank);
  const int64_t n = static_cast<int64_t>(ctx.numOutputs());
  const int64_t dim = in[*axis];
  std::vector<int64_t> sizes(static_cast<size_t>(n), -1);
  if (ctx.hasInput(1) || ctx.node.hasAttr("split")) {
    std::optional<std::vector<int64_t>> split;
    if (ctx.hasInput(1)) {
      QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "split"));
      split = knownInts(ctx, 1);
    } else {
      split = ctx.node.attrInts("split");
    }
    if (split) {
      if (static_cast<int64_t>(split->size()) != n)
        return ctx.error("split has ", split->size(), " sizes for ", n, " outputs");
      int64_t sum = 0;
      for (int64_t s : *split) {
        if (s < 0) return ctx.error("negative split size ", s);
        sum += s;
      }
      if (dim >= 0 && sum != dim) return ctx.error("split sizes sum to ", sum, ", the axis has ", dim);
      sizes = *split;
    }
  } else if (dim >= 0) {
    if (n == 0) return ctx.error("no outputs");
    if (dim % n == 0) {
      sizes.assign(static_cast<size_t>(n), dim / n);
    } else if (ctx.node.hasAttr("num_outputs")) {
      const int64_t chunk = (dim + n - 1) / n;
      for (int64_t i = 0; i < n; ++i) sizes[i] = std::max<int64_t>(0, std::min(chunk, dim - i * chunk));
    } else {
      return ctx.error("axis of size ", dim, " cannot be split into ", n, " equal parts");
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    Dims d = in;
    d[*axis] = sizes[i];
    ctx.setOutput(static_cast<size_t>(i), ctx.in_types[0], std::move(d));
  }
  return Status::Ok();
}

Status inferGather(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "indices", false, /*one_d=*/false));
  const Dims& data = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(data.size());
  const int64_t a = ctx.node.attrInt("axis", 0);
  auto axis = normalizeAxis(a, rank);
  if (!axis || rank == 0) return ctx.error("axis ", a, " out of range for rank ", rank);
  Dims out(data.begin(), data.begin() + *axis);
  out.insert(out.end(), ctx.in_dims[1].begin(), ctx.in_dims[1].end());
  out.insert(out.end(), data.begin() + *axis + 1, data.end());
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

// Slice-1..9 take starts/ends/axes as attributes; from opset 10 they are inputs, with steps.
Status inferSlice(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  const DataType type = ctx.in_types[0];
  HostTensor starts, ends, axes, steps;  // owned values (attributes or known inputs)
  bool has_axes = false, has_steps = false, known = true;
  if (ctx.node.opset < 10) {
    if (!ctx.node.hasAttr("starts") || !ctx.node.hasAttr("ends"))
      return ctx.error("attributes starts and ends are required");
    auto vec = [](const std::vector<int64_t>& v) { return HostTensor::fromInt64(v, {static_cast<int64_t>(v.size())}); };
    starts = vec(ctx.node.attrInts("starts"));
    ends = vec(ctx.node.attrInts("ends"));
    has_axes = ctx.node.hasAttr("axes");
    if (has_axes) axes = vec(ctx.node.attrInts("axes"));
  } else {
    QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "starts"));
    QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 2, "ends"));
    has_axes = ctx.hasInput(3);
    has_steps = ctx.hasInput(4);
    if (has_axes) QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 3, "axes"));
    if (has_steps) QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 4, "steps"));
    auto take = [&](size_t i, HostTensor* t) {
      if (!ctx.hasInput(i)) return;
      if (ctx.in_values[i])
        *t = *ctx.in_values[i];
      else
        known = false;
    };
    take(1, &starts);
    take(2, &ends);
    take(3, &axes);
    take(4, &steps);
  }
  if (!known) {
    // Sliced axes get unknown extents; when the axes themselves are unknown, every axis does.
    const int64_t rank = static_cast<int64_t>(in.size());
    const int64_t n = has_axes ? (ctx.in_values[3] ? axes.numel() : -1) : lengthOf(ctx.in_dims[1]);
    Dims out = n < 0 ? unknownDims(rank) : in;
    for (int64_t i = 0; i < n; ++i) {
      int64_t a = has_axes ? axes.getInt(i) : i;
      auto axis = normalizeAxis(a, rank);
      if (!axis || rank == 0) return ctx.error("slice axis ", a, " out of range for rank ", rank);
      out[*axis] = -1;
    }
    ctx.setOutput(0, type, std::move(out));
    return Status::Ok();
  }
  TensorView sv = starts.view(), ev = ends.view(), av = axes.view(), stv = steps.view();
  SliceArgs args{&sv, &ev, has_axes ? &av : nullptr, has_steps ? &stv : nullptr};
  std::vector<SliceAxis> resolved(in.size());
  Status st = resolveSlice(in, args, resolved);
  if (!st.ok()) return ctx.error(st.message());
  Dims out(in.size());
  for (size_t d = 0; d < in.size(); ++d) out[d] = resolved[d].count;
  ctx.setOutput(0, type, std::move(out));
  return Status::Ok();
}

}  // namespace qrt::tensor_ops
