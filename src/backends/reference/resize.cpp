// Reference Resize and Upsample: separable N-D nearest / linear / cubic interpolation.
//
// Every axis gets a sampling table: output coordinate x reads taps (1 nearest, 2 linear, 4 cubic)
// of input indices with weights. The axes are then resampled one at a time, from the last to the
// first, through float (double for fp64 and integer types) buffers in the workspace. That is
// ONNX's reference implementation in the same order (it interpolates the innermost axis first);
// axes whose table is the identity are skipped.
//
// Coordinates are computed in double like ONNX's reference (numpy float64 with float32 scales),
// including one quirk the conformance data depends on: align_corners and tf_crop_and_resize
// divide by (scale * in_len - 1), the real-valued resized length, not by (out_len - 1).
//
// The tables are built at the start of run() (into the workspace, allocating nothing) because the
// roi of tf_crop_and_resize may be a tensor computed at run time.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/reference/kernel_table.h"
#include "backends/reference/reduce_family.h"
#include "core/threadpool.h"
#include "ops/resize_params.h"

namespace qrt::reference {

namespace {

int tapsOf(ResizeMode m) { return m == ResizeMode::kNearest ? 1 : m == ResizeMode::kLinear ? 2 : 4; }

// Sampling table of one axis, in the workspace.
struct AxisTable {
  int64_t* idx = nullptr;      // [out_len * taps], clamped to [0, in_len)
  double* w = nullptr;         // [out_len * taps]
  uint8_t* outside = nullptr;  // [out_len]: tf_crop_and_resize sampled outside the input
  int taps = 1;
  bool identity = false;
};


// Keys' cubic convolution weights for the taps at distances 1+r, r, 1-r, 2-r (ONNX's formula).
void cubicCoeffs(double r, double A, double* c) {
  const double s = 1.0 - r;
  c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
  c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
  c[2] = ((A + 2) * s - (A + 3)) * s * s + 1;
  c[3] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
}

void buildTable(const ResizeAttrs& a, int64_t in_len, int64_t out_len, double scale, const AxisRoi& roi,
                AxisTable& t) {
  const int k = t.taps;
  t.identity = in_len == out_len;
  for (int64_t x = 0; x < out_len; ++x) {
    const double xo = originalCoord(a, x, scale, in_len, out_len, roi);
    t.outside[x] = a.coord == ResizeCoord::kTfCropAndResize && (xo < 0.0 || xo > static_cast<double>(in_len - 1));
    int64_t* idx = t.idx + x * k;
    double* w = t.w + x * k;
    if (a.mode == ResizeMode::kNearest) {
      idx[0] = nearestIndex(a.nearest, xo);
      w[0] = 1.0;
    } else {
      // Taps start left of xo; an integral xo counts as ratio 1 from its left neighbour, so its
      // own index is always a tap (ONNX's reference picks neighbours the same way).
      const double fl = std::floor(xo);
      const bool integral = xo == fl;
      const int64_t base = static_cast<int64_t>(fl) - (integral ? 1 : 0);
      const double r = integral ? 1.0 : xo - fl;
      if (k == 2) {
        idx[0] = base;
        idx[1] = base + 1;
        w[0] = 1.0 - r;
        w[1] = r;
      } else {
        for (int j = 0; j < 4; ++j) idx[j] = base - 1 + j;
        cubicCoeffs(r, a.cubic_a, w);
      }
      if (a.exclude_outside) {
        double sum = 0.0;
        for (int j = 0; j < k; ++j) {
          if (idx[j] < 0 || idx[j] >= in_len) w[j] = 0.0;
          sum += w[j];
        }
        for (int j = 0; j < k; ++j) w[j] /= sum;
      }
    }
    double self = 0.0, other = 0.0;
    for (int j = 0; j < k; ++j) {
      idx[j] = std::clamp<int64_t>(idx[j], 0, in_len - 1);  // edge padding
      (idx[j] == x ? self : other) += std::abs(w[j]);
    }
    t.identity = t.identity && !t.outside[x] && self == 1.0 && other == 0.0;
  }
}

// Resamples one axis: src is [outer, in_len, inner], dst is [outer, out_len, inner].
template <typename A, typename S, typename D>
void resizeAxis(const S* src, D* dst, int64_t outer, int64_t in_len, int64_t out_len, int64_t inner,
                const AxisTable& t, A extrapolation) {
  const int k = t.taps;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, inner * k));
  parallelFor(outer * out_len, grain, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t o = row / out_len, x = row % out_len;
      const S* s = src + o * in_len * inner;
      D* d = dst + row * inner;
      if (t.outside[x]) {
        for (int64_t i = 0; i < inner; ++i) d[i] = storeAs<D>(extrapolation);
        continue;
      }
      const int64_t* idx = t.idx + x * k;
      const double* w = t.w + x * k;
      for (int64_t i = 0; i < inner; ++i) {
        A acc = 0;
        for (int j = 0; j < k; ++j) acc += static_cast<A>(w[j]) * loadAs<A>(s[idx[j] * inner + i]);
        d[i] = storeAs<D>(acc);
      }
    }
  });
}

size_t alignUp(size_t n) { return (n + 63) / 64 * 64; }

// Product of dims[b..e).
int64_t product(const Dims& dims, int64_t b, int64_t e) {
  int64_t p = 1;
  for (int64_t i = b; i < e; ++i) p *= dims[i];
  return p;
}

class ResizeKernel final : public Kernel {
 public:
  ResizeKernel(const ir::Node& node, ResizeAttrs attrs) : who_(node.describe()), attrs_(std::move(attrs)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    in_ = inputs[0].dims;
    out_ = outputs[0].dims;
    const int64_t rank = static_cast<int64_t>(in_.size());
    if (out_.size() != in_.size()) return internalError(who_, ": output rank differs from the input's");
    if (rank > kMaxRank) return unsupported(who_, ": rank ", rank, " is above ", kMaxRank);
    QRT_ASSIGN_OR_RETURN(std::optional<ResizeGeometry> g,
                         resizeGeometry(who_, attrs_, in_, input(inputs, attrs_.scales_input),
                                        input(inputs, attrs_.sizes_input)));
    if (!g) return unsupported(who_, ": 'scales'/'sizes' must be known before running");
    if (g->out_dims != out_)
      return internalError(who_, ": output is ", dimsToString(out_), ", the geometry gives ", dimsToString(g->out_dims));
    scales_ = g->scales;
    if (volume(in_) == 0 && volume(out_) != 0)
      return invalidArgument(who_, ": cannot resize an empty input to ", dimsToString(out_));
    // Position of each input axis in roi's [starts..., ends...] (-1: not listed in `axes`).
    QRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, resizeAxes(who_, attrs_, rank));
    roi_pos_.assign(in_.size(), -1);
    for (size_t i = 0; i < axes.size(); ++i) roi_pos_[axes[i]] = static_cast<int64_t>(i);
    if (attrs_.coord == ResizeCoord::kTfCropAndResize) {
      const ResizeInput roi = input(inputs, attrs_.roi_input);
      if (roi.numel != static_cast<int64_t>(2 * axes.size()))
        return invalidArgument(who_, ": tf_crop_and_resize needs 'roi' with ", 2 * axes.size(), " values");
    }
    // Workspace: one table per axis, then two buffers as large as the largest intermediate.
    const int k = tapsOf(attrs_.mode);
    table_offsets_.clear();
    size_t off = 0;
    for (int64_t d = 0; d < rank; ++d) {
      table_offsets_.push_back(off);
      off += alignUp(static_cast<size_t>(out_[d]) * k * (sizeof(int64_t) + sizeof(double))) +
             alignUp(static_cast<size_t>(out_[d]));
    }
    int64_t largest = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      Dims stage(in_.begin(), in_.begin() + d);
      stage.insert(stage.end(), out_.begin() + d, out_.end());
      largest = std::max(largest, volume(stage));
    }
    const DataType t = inputs[0].dtype;
    const size_t acc_size = t == DataType::kFloat || t == DataType::kHalf || t == DataType::kBFloat16 ? 4 : 8;
    buffers_offset_ = off;
    buffer_bytes_ = alignUp(static_cast<size_t>(largest) * acc_size);
    workspace_ = buffers_offset_ + 2 * buffer_bytes_;
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return workspace_; }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    if (volume(out_) == 0) return Status::Ok();
    Status st = Status::Ok();
    QRT_RETURN_IF_ERROR(dispatchType(inputs[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (!std::is_same_v<T, bool>) st = runTyped<T>(inputs, outputs, static_cast<uint8_t*>(ws));
    }));
    return st;
  }

 private:
  static ResizeInput input(const std::vector<TensorView>& inputs, int i) {
    ResizeInput r;
    if (i < 0 || static_cast<size_t>(i) >= inputs.size() || inputs[i].dtype == DataType::kUndefined) return r;
    r.numel = inputs[i].numel();
    r.present = r.numel != 0;
    r.dtype = inputs[i].dtype;
    r.data = inputs[i].data;
    return r;
  }

  // The roi of axis d, computed like ONNX's reference: for float32 roi values, (end - start) and
  // start * (in_len - 1) are float32 products.
  AxisRoi roiOf(const std::vector<TensorView>& inputs, int64_t d) const {
    AxisRoi r;
    if (attrs_.coord != ResizeCoord::kTfCropAndResize || roi_pos_[d] < 0) return r;
    const TensorView& v = inputs[attrs_.roi_input];
    const int64_t n = v.numel() / 2, i = roi_pos_[d];
    double start = 0.0, end = 1.0;
    const double in1 = static_cast<double>(in_[d] - 1);
    if (v.dtype == DataType::kDouble) {
      start = v.as<const double>()[i];
      end = v.as<const double>()[i + n];
      r.extent = end - start;
      r.start_scaled = start * in1;
      return r;
    }
    float fs = 0.f, fe = 1.f;
    convertElements(static_cast<const uint8_t*>(v.data) + i * dataTypeSize(v.dtype), v.dtype, &fs, DataType::kFloat, 1);
    convertElements(static_cast<const uint8_t*>(v.data) + (i + n) * dataTypeSize(v.dtype), v.dtype, &fe,
                    DataType::kFloat, 1);
    r.extent = static_cast<double>(fe - fs);
    r.start_scaled = static_cast<double>(fs * static_cast<float>(in1));
    return r;
  }

  template <typename T>
  Status runTyped(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, uint8_t* ws) const {
    using A = std::conditional_t<std::is_same_v<AccType<T>, float>, float, double>;
    const int64_t rank = static_cast<int64_t>(in_.size());
    const int k = tapsOf(attrs_.mode);
    if (attrs_.coord == ResizeCoord::kTfCropAndResize && !inputs[attrs_.roi_input].data)
      return invalidArgument(who_, ": input 'roi' has no data");
    // Tables for every axis; remember the first (outermost) axis that needs resampling.
    AxisTable tables[kMaxRank];
    int64_t first_active = rank;
    for (int64_t d = 0; d < rank; ++d) {
      AxisTable& t = tables[d];
      uint8_t* base = ws + table_offsets_[d];
      const size_t entries = static_cast<size_t>(out_[d]) * k;
      t.taps = k;
      t.idx = reinterpret_cast<int64_t*>(base);
      t.w = reinterpret_cast<double*>(base + entries * sizeof(int64_t));
      t.outside = base + alignUp(entries * (sizeof(int64_t) + sizeof(double)));
      buildTable(attrs_, in_[d], out_[d], scales_[d], roiOf(inputs, d), t);
      if (!t.identity && first_active == rank) first_active = d;
    }
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    if (first_active == rank) {  // every axis is the identity
      std::memcpy(y, x, outputs[0].bytes());
      return Status::Ok();
    }
    A* buf[2] = {reinterpret_cast<A*>(ws + buffers_offset_), reinterpret_cast<A*>(ws + buffers_offset_ + buffer_bytes_)};
    const A extrapolation = static_cast<A>(attrs_.extrapolation);
    const A* cur = nullptr;  // current data in a buffer; nullptr while it is still the input
    int next = 0;
    for (int64_t d = rank - 1; d >= first_active; --d) {
      if (tables[d].identity) continue;
      // Axes before d still have input lengths, axes after it already have output lengths.
      const int64_t outer = product(in_, 0, d);
      const int64_t inner = product(out_, d + 1, rank);
      const bool last = d == first_active;
      if (!cur && last) resizeAxis<A>(x, y, outer, in_[d], out_[d], inner, tables[d], extrapolation);
      else if (!cur) resizeAxis<A>(x, buf[next], outer, in_[d], out_[d], inner, tables[d], extrapolation);
      else if (last) resizeAxis<A>(cur, y, outer, in_[d], out_[d], inner, tables[d], extrapolation);
      else resizeAxis<A>(cur, buf[next], outer, in_[d], out_[d], inner, tables[d], extrapolation);
      cur = buf[next];
      next ^= 1;
    }
    return Status::Ok();
  }

  static constexpr int64_t kMaxRank = 16;

  std::string who_;
  ResizeAttrs attrs_;
  Dims in_, out_;
  std::vector<double> scales_;
  std::vector<int64_t> roi_pos_;
  std::vector<size_t> table_offsets_;
  size_t buffers_offset_ = 0, buffer_bytes_ = 0, workspace_ = 0;
};

Result<std::unique_ptr<Kernel>> createResize(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(ResizeAttrs attrs, parseResizeAttrs(node));
  return std::unique_ptr<Kernel>(std::make_unique<ResizeKernel>(node, std::move(attrs)));
}

const KernelEntry kResizeKernels[] = {
    {"Resize", kNumericTypes, &createResize},
    {"Upsample", kNumericTypes, &createResize},
};

}  // namespace

std::span<const KernelEntry> resizeKernels() { return kResizeKernels; }

}  // namespace qrt::reference
