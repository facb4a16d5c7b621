#include "ops/nn_params.h"

#include "core/status_macros.h"
#include "ops/shape_util.h"

namespace qrt {

namespace {

Status checkAtLeast(const WindowAttrs& a, const char* name, const std::vector<int64_t>& v, int64_t min) {
  for (int64_t x : v)
    if (x < min) return invalidArgument(a.where, ": attribute ", name, " has value ", x, " (must be >= ", min, ")");
  return Status::Ok();
}

// `v` if it has `n` entries, n copies of `def` if it is empty, an error otherwise.
Result<std::vector<int64_t>> listOf(const WindowAttrs& a, const char* name, const std::vector<int64_t>& v, size_t n,
                                    int64_t def) {
  if (v.empty()) return std::vector<int64_t>(n, def);
  if (v.size() != n)
    return invalidArgument(a.where, ": attribute ", name, " has ", v.size(), " values, expected ", n,
                           " (one per spatial axis)");
  return v;
}

// Rounds toward negative infinity (the ONNX spec's ConvTranspose equations are written for
// Python, whose integer division floors; this matters for negative total padding).
int64_t floorDiv2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

// Checks X and W ranks and fills rank, in, kernel (from kernel_shape or W), strides, dilations.
Status startWindow(const WindowAttrs& a, const Dims& x, const Dims* w, Window& win) {
  if (x.size() < 3)
    return invalidArgument(a.where, ": input X must have rank >= 3 (N, C, spatial...), got ", dimsToString(x));
  if (w && w->size() != x.size())
    return invalidArgument(a.where, ": W has rank ", w->size(), " but X has rank ", x.size());
  win.rank = x.size() - 2;
  win.in.assign(x.begin() + 2, x.end());
  if (!a.kernel_shape.empty() || !w) {
    if (a.kernel_shape.empty()) return invalidArgument(a.where, ": attribute kernel_shape is required");
    QRT_ASSIGN_OR_RETURN(win.kernel, listOf(a, "kernel_shape", a.kernel_shape, win.rank, 1));
    for (size_t i = 0; w && i < win.rank; ++i) {
      int64_t wk = (*w)[i + 2];
      if (wk >= 0 && wk != win.kernel[i])
        return invalidArgument(a.where, ": kernel_shape ", dimsToString(win.kernel), " does not match W ",
                               dimsToString(*w));
    }
  } else {
    win.kernel.assign(w->begin() + 2, w->end());
  }
  QRT_ASSIGN_OR_RETURN(win.strides, listOf(a, "strides", a.strides, win.rank, 1));
  QRT_ASSIGN_OR_RETURN(win.dilations, listOf(a, "dilations", a.dilations, win.rank, 1));
  return Status::Ok();
}

// Explicit or auto pads and the output extents of a forward window (Conv and the pools).
Status finishForwardWindow(const WindowAttrs& a, Window& win) {
  QRT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, listOf(a, "pads", a.pads, 2 * win.rank, 0));
  std::vector<int64_t> p = resolveAutoPad(a.auto_pad, win.in, win.kernel, win.strides, win.dilations, pads);
  win.pad_begin.assign(p.begin(), p.begin() + win.rank);
  win.pad_end.assign(p.begin() + win.rank, p.end());
  win.out.resize(win.rank);
  for (size_t i = 0; i < win.rank; ++i) {
    int64_t in = win.in[i], k = win.kernel[i];
    if (in < 0 || k < 0) {
      win.out[i] = -1;
      continue;
    }
    int64_t eff = (k - 1) * win.dilations[i] + 1;
    if (in + win.pad_begin[i] + win.pad_end[i] < eff)
      return invalidArgument(a.where, ": the window (extent ", eff, ") is larger than the padded input (",
                             in + win.pad_begin[i] + win.pad_end[i], ") along spatial axis ", i);
    win.out[i] = convOutDim(in, k, win.strides[i], win.dilations[i], win.pad_begin[i], win.pad_end[i], a.ceil_mode);
  }
  return Status::Ok();
}

}  // namespace

Result<WindowAttrs> readWindowAttrs(const ir::Node& node) {
  WindowAttrs a;
  a.where = node.describe();
  a.kernel_shape = node.attrInts("kernel_shape");
  a.strides = node.attrInts("strides");
  a.dilations = node.attrInts("dilations");
  a.pads = node.attrInts("pads");
  a.output_padding = node.attrInts("output_padding");
  a.output_shape = node.attrInts("output_shape");
  a.auto_pad = node.attrString("auto_pad", "NOTSET");
  if (a.auto_pad.empty()) a.auto_pad = "NOTSET";
  a.group = node.attrInt("group", 1);
  int64_t ceil_mode = node.attrInt("ceil_mode", 0);
  a.ceil_mode = ceil_mode != 0;
  if (a.auto_pad != "NOTSET" && a.auto_pad != "SAME_UPPER" && a.auto_pad != "SAME_LOWER" && a.auto_pad != "VALID")
    return invalidArgument(a.where, ": unknown auto_pad '", a.auto_pad, "'");
  QRT_RETURN_IF_ERROR(checkAtLeast(a, "kernel_shape", a.kernel_shape, 1));
  QRT_RETURN_IF_ERROR(checkAtLeast(a, "strides", a.strides, 1));
  QRT_RETURN_IF_ERROR(checkAtLeast(a, "dilations", a.dilations, 1));
  QRT_RETURN_IF_ERROR(checkAtLeast(a, "pads", a.pads, 0));
  QRT_RETURN_IF_ERROR(checkAtLeast(a, "output_padding", a.output_padding, 0));
  QRT_RETURN_IF_ERROR(checkAtLeast(a, "output_shape", a.output_shape, 0));
  if (a.group < 1) return invalidArgument(a.where, ": attribute group is ", a.group, " (must be >= 1)");
  if (ceil_mode != 0 && ceil_mode != 1)
    return invalidArgument(a.where, ": attribute ceil_mode is ", ceil_mode, " (must be 0 or 1)");
  return a;
}

Result<Window> convWindow(const WindowAttrs& a, const Dims& x, const Dims& w) {
  Window win;
  QRT_RETURN_IF_ERROR(startWindow(a, x, &w, win));
  int64_t c = x[1], wc = w[1], m = w[0];
  if (c >= 0 && wc >= 0 && c != wc * a.group)
    return invalidArgument(a.where, ": X has ", c, " channels but W ", dimsToString(w), " with group ", a.group,
                           " expects ", wc * a.group);
  if (m >= 0 && m % a.group != 0)
    return invalidArgument(a.where, ": W has ", m, " output channels, not divisible by group ", a.group);
  QRT_RETURN_IF_ERROR(finishForwardWindow(a, win));
  return win;
}

Result<Window> poolWindow(const WindowAttrs& a, const Dims& x) {
  Window win;
  QRT_RETURN_IF_ERROR(startWindow(a, x, nullptr, win));
  QRT_RETURN_IF_ERROR(finishForwardWindow(a, win));
  return win;
}

Result<Window> convTransposeWindow(const WindowAttrs& a, const Dims& x, const Dims& w) {
  Window win;
  QRT_RETURN_IF_ERROR(startWindow(a, x, &w, win));
  size_t r = win.rank;
  int64_t c = x[1], wc = w[0];
  if (c >= 0 && wc >= 0 && c != wc)
    return invalidArgument(a.where, ": X has ", c, " channels but W ", dimsToString(w), " expects ", wc);
  if (c >= 0 && c % a.group != 0)
    return invalidArgument(a.where, ": X has ", c, " channels, not divisible by group ", a.group);
  QRT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, listOf(a, "pads", a.pads, 2 * r, 0));
  QRT_ASSIGN_OR_RETURN(std::vector<int64_t> out_pad, listOf(a, "output_padding", a.output_padding, r, 0));
  // output_shape lists the spatial extents; some exporters write the full shape (N, C, ...).
  std::vector<int64_t> out_shape = a.output_shape;
  if (out_shape.size() == r + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != r)
    return invalidArgument(a.where, ": attribute output_shape has ", a.output_shape.size(), " values, expected ", r);
  bool same = a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER";

  win.out.assign(r, -1);
  win.pad_begin.assign(r, 0);
  win.pad_end.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    int64_t in = win.in[i], k = win.kernel[i], s = win.strides[i];
    if (!out_shape.empty()) win.out[i] = out_shape[i];
    if (in < 0 || k < 0) continue;
    // The extent the input covers before any cropping: every (input, kernel) position lands in it.
    int64_t full = s * (in - 1) + out_pad[i] + (k - 1) * win.dilations[i] + 1;
    if (!out_shape.empty() || same) {
      int64_t out = out_shape.empty() ? in * s : out_shape[i];
      int64_t total = full - out;
      if (a.auto_pad == "SAME_UPPER") {
        win.pad_begin[i] = floorDiv2(total);
        win.pad_end[i] = total - win.pad_begin[i];
      } else {
        win.pad_end[i] = floorDiv2(total);
        win.pad_begin[i] = total - win.pad_end[i];
      }
      win.out[i] = out;
    } else if (a.auto_pad == "VALID") {
      win.out[i] = full;
    } else {
      win.pad_begin[i] = pads[i];
      win.pad_end[i] = pads[i + r];
      win.out[i] = full - pads[i] - pads[i + r];
    }
    if (win.out[i] < 0)
      return invalidArgument(a.where, ": the pads crop more than the whole output along spatial axis ", i);
  }
  return win;
}

}  // namespace qrt
