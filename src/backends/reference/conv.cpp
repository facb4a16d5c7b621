// Reference Conv and ConvTranspose (1-D to 3-D, groups, strides, dilations, pads), NCHW.
//
// Conv: for each (image, group), im2col copies the input patches into a [C/group * kernel volume,
// output volume] matrix in the workspace, then a plain row-by-row GEMM (i-k-j order, the inner
// loop over output positions) multiplies the group's weights into it. ConvTranspose scatters each
// input element times each kernel tap into its output position. Both accumulate in float (fp32,
// fp16, bf16) or double (fp64) and round once when storing.
#include <algorithm>
#include <type_traits>

#include "backends/reference/nn_kernels.h"
#include "backends/reference/nn_util.h"

namespace qrt::reference {

namespace {

// Weights and bias as accumulator-typed arrays: the inputs themselves when the types agree,
// else converted into the workspace.
template <typename T, typename A>
const A* weightsAsAcc(const TensorView& w, A* scratch) {
  if constexpr (std::is_same_v<T, A>) {
    (void)scratch;
    return w.as<const A>();
  } else {
    const T* src = w.as<const T>();
    for (int64_t i = 0; i < w.numel(); ++i) scratch[i] = load<A>(src[i]);
    return scratch;
  }
}

template <typename T, typename A>
void biasAsAcc(const std::vector<TensorView>& inputs, int64_t channels, A* bias) {
  for (int64_t i = 0; i < channels; ++i) bias[i] = present(inputs, 2) ? load<A>(inputs[2].as<const T>()[i]) : A(0);
}

template <typename T>
class ConvKernel final : public Kernel {
  using A = AccT<T>;
  static constexpr bool kSameType = std::is_same_v<T, A>;

 public:
  explicit ConvKernel(const WindowAttrs& a) : a_(a) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    const Dims& w = inputs[1].dims;
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(a_, x, w));
    QRT_ASSIGN_OR_RETURN(g_, toGeom3(win, a_.where));
    Dims y{x[0], w[0]};
    y.insert(y.end(), win.out.begin(), win.out.end());
    QRT_RETURN_IF_ERROR(checkOutputDims(outputs[0], y, a_.where));
    n_ = x[0];
    c_ = x[1];
    m_ = w[0];
    groups_ = a_.group;
    mg_ = m_ / groups_;
    depth_ = (c_ / groups_) * g_.k_vol;
    // A 1x1 window with stride 1 and no padding reads the input as it is: no im2col needed.
    bool pointwise = g_.k_vol == 1 && g_.out_vol == g_.in_vol && g_.s[0] == 1 && g_.s[1] == 1 && g_.s[2] == 1 &&
                     g_.pb[0] == 0 && g_.pb[1] == 0 && g_.pb[2] == 0;
    use_col_ = !(pointwise && kSameType);
    lanes_ = laneCount(n_ * groups_);
    ws_.clear();
    ws_w_ = ws_.add<A>(kSameType ? 0 : m_ * depth_);
    ws_bias_ = ws_.add<A>(m_);
    ws_col_ = ws_.add<A>(use_col_ ? lanes_ * depth_ * g_.out_vol : 0);
    ws_acc_ = ws_.add<A>(kSameType ? 0 : lanes_ * mg_ * g_.out_vol);
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    const A* w = weightsAsAcc<T, A>(inputs[1], ws_.at<A>(ws, ws_w_));
    A* bias = ws_.at<A>(ws, ws_bias_);
    biasAsAcc<T, A>(inputs, m_, bias);
    const int64_t in_plane = g_.in_vol, out_plane = g_.out_vol, cg = c_ / groups_;
    parallelLanes(n_ * groups_, lanes_, [&](int64_t item, int64_t lane) {
      int64_t n = item / groups_, g = item % groups_;
      const T* xg = x + (n * c_ + g * cg) * in_plane;
      const A* col = nullptr;
      if (use_col_) {
        A* buf = ws_.at<A>(ws, ws_col_) + lane * depth_ * out_plane;
        im2col(xg, buf);
        col = buf;
      } else if constexpr (kSameType) {
        col = xg;
      }
      T* yg = y + (n * m_ + g * mg_) * out_plane;
      A* acc = accumulator(yg, ws_.at<A>(ws, ws_acc_) + lane * mg_ * out_plane);
      multiply(w + g * mg_ * depth_, bias + g * mg_, col, acc);
      if constexpr (!kSameType)
        for (int64_t i = 0; i < mg_ * out_plane; ++i) yg[i] = store<T>(acc[i]);
    });
    return Status::Ok();
  }

 private:
  // Where a group's outputs accumulate: the output itself when it has the accumulator type.
  static A* accumulator(T* y, A* scratch) {
    if constexpr (kSameType) return y;
    else return scratch;
  }

  // col[r][p], r = (channel, k0, k1, k2), p = output position: the input element tap r reads
  // for output p, or 0 where the tap falls into padding.
  void im2col(const T* x, A* col) const {
    const Geom3& g = g_;
    int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, g.out_vol));
    parallelRange(depth_, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t c = r / g.k_vol, tap = r % g.k_vol;
        int64_t k0 = tap / (g.k[1] * g.k[2]), k1 = tap / g.k[2] % g.k[1], k2 = tap % g.k[2];
        const T* xc = x + c * g.in_vol;
        A* dst = col + r * g.out_vol;
        for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
          int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
          for (int64_t o1 = 0; o1 < g.out[1]; ++o1, dst += g.out[2]) {
            int64_t i1 = o1 * g.s[1] - g.pb[1] + k1 * g.d[1];
            if (i0 < 0 || i0 >= g.in[0] || i1 < 0 || i1 >= g.in[1]) {
              std::fill(dst, dst + g.out[2], A(0));
              continue;
            }
            const T* row = xc + (i0 * g.in[1] + i1) * g.in[2];
            for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
              int64_t i2 = o2 * g.s[2] - g.pb[2] + k2 * g.d[2];
              dst[o2] = i2 >= 0 && i2 < g.in[2] ? load<A>(row[i2]) : A(0);
            }
          }
        }
      }
    });
  }

  // acc[oc][p] = bias[oc] + sum_r w[oc][r] * col[r][p] for the mg_ output channels of a group.
  void multiply(const A* w, const A* bias, const A* col, A* acc) const {
    const int64_t p = g_.out_vol, depth = depth_;
    int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, depth * p));
    parallelRange(mg_, grain, [&](int64_t begin, int64_t end) {
      for (int64_t oc = begin; oc < end; ++oc) {
        A* row = acc + oc * p;
        std::fill(row, row + p, bias[oc]);
        const A* w_row = w + oc * depth;
        for (int64_t r = 0; r < depth; ++r) axpy(p, w_row[r], col + r * p, row);
      }
    });
  }

  WindowAttrs a_;
  Geom3 g_{};
  int64_t n_ = 0, c_ = 0, m_ = 0, groups_ = 1, mg_ = 0, depth_ = 0, lanes_ = 1;
  bool use_col_ = true;
  WorkspaceLayout ws_;
  size_t ws_w_ = 0, ws_bias_ = 0, ws_col_ = 0, ws_acc_ = 0;
};

template <typename T>
class ConvTransposeKernel final : public Kernel {
  using A = AccT<T>;
  static constexpr bool kSameType = std::is_same_v<T, A>;

 public:
  explicit ConvTransposeKernel(const WindowAttrs& a) : a_(a) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    const Dims& w = inputs[1].dims;
    QRT_ASSIGN_OR_RETURN(Window win, convTransposeWindow(a_, x, w));
    QRT_ASSIGN_OR_RETURN(g_, toGeom3(win, a_.where));
    n_ = x[0];
    c_ = x[1];
    groups_ = a_.group;
    mg_ = w[1];
    Dims y{n_, mg_ * groups_};
    y.insert(y.end(), win.out.begin(), win.out.end());
    QRT_RETURN_IF_ERROR(checkOutputDims(outputs[0], y, a_.where));
    lanes_ = laneCount(n_ * groups_);
    ws_.clear();
    ws_w_ = ws_.add<A>(kSameType ? 0 : c_ * mg_ * g_.k_vol);
    ws_bias_ = ws_.add<A>(mg_ * groups_);
    ws_acc_ = ws_.add<A>(kSameType ? 0 : lanes_ * mg_ * g_.out_vol);
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    const A* w = weightsAsAcc<T, A>(inputs[1], ws_.at<A>(ws, ws_w_));
    A* bias = ws_.at<A>(ws, ws_bias_);
    const int64_t m = mg_ * groups_, cg = c_ / groups_;
    biasAsAcc<T, A>(inputs, m, bias);
    parallelLanes(n_ * groups_, lanes_, [&](int64_t item, int64_t lane) {
      int64_t n = item / groups_, g = item % groups_;
      const T* xg = x + (n * c_ + g * cg) * g_.in_vol;
      T* yg = y + (n * m + g * mg_) * g_.out_vol;
      A* acc = accumulator(yg, ws_.at<A>(ws, ws_acc_) + lane * mg_ * g_.out_vol);
      parallelRange(mg_, 1, [&](int64_t begin, int64_t end) {
        for (int64_t oc = begin; oc < end; ++oc) {
          A* plane = acc + oc * g_.out_vol;
          std::fill(plane, plane + g_.out_vol, bias[g * mg_ + oc]);
          for (int64_t ic = 0; ic < cg; ++ic)
            scatter(xg + ic * g_.in_vol, w + ((g * cg + ic) * mg_ + oc) * g_.k_vol, plane);
        }
      });
      if constexpr (!kSameType)
        for (int64_t i = 0; i < mg_ * g_.out_vol; ++i) yg[i] = store<T>(acc[i]);
    });
    return Status::Ok();
  }

 private:
  static A* accumulator(T* y, A* scratch) {
    if constexpr (kSameType) return y;
    else return scratch;
  }

  // Adds x[i] * w[k] to out[i * stride - pad_begin + k * dilation] for every input position i
  // and kernel tap k whose target lies inside the output (one input and one output channel).
  void scatter(const T* x, const A* w, A* out) const {
    const Geom3& g = g_;
    for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
      for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
        for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
          A wv = w[(k0 * g.k[1] + k1) * g.k[2] + k2];
          for (int64_t i0 = 0; i0 < g.in[0]; ++i0) {
            int64_t o0 = i0 * g.s[0] - g.pb[0] + k0 * g.d[0];
            if (o0 < 0 || o0 >= g.out[0]) continue;
            for (int64_t i1 = 0; i1 < g.in[1]; ++i1) {
              int64_t o1 = i1 * g.s[1] - g.pb[1] + k1 * g.d[1];
              if (o1 < 0 || o1 >= g.out[1]) continue;
              const T* x_row = x + (i0 * g.in[1] + i1) * g.in[2];
              A* out_row = out + (o0 * g.out[1] + o1) * g.out[2];
              for (int64_t i2 = 0; i2 < g.in[2]; ++i2) {
                int64_t o2 = i2 * g.s[2] - g.pb[2] + k2 * g.d[2];
                if (o2 >= 0 && o2 < g.out[2]) out_row[o2] += wv * load<A>(x_row[i2]);
              }
            }
          }
        }
  }

  WindowAttrs a_;
  Geom3 g_{};
  int64_t n_ = 0, c_ = 0, groups_ = 1, mg_ = 0, lanes_ = 1;
  WorkspaceLayout ws_;
  size_t ws_w_ = 0, ws_bias_ = 0, ws_acc_ = 0;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createConv(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  return newFloatKernel<ConvKernel>(node.inputs[0]->dtype, a, a.where);
}

Result<std::unique_ptr<Kernel>> createConvTranspose(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  return newFloatKernel<ConvTransposeKernel>(node.inputs[0]->dtype, a, a.where);
}

}  // namespace qrt::reference
