// Reference MaxPool (with its optional Indices output), AveragePool, GlobalAveragePool and
// GlobalMaxPool, 1-D to 3-D, NCHW. Each (image, channel) plane is independent: planes are
// spread over threads and each output element loops over its window directly.
#include <algorithm>
#include <limits>

#include "backends/reference/nn_kernels.h"
#include "backends/reference/nn_util.h"

namespace qrt::reference {

namespace {

struct PoolParams {
  WindowAttrs attrs;
  bool count_include_pad = false;  // AveragePool
  bool column_major = false;       // MaxPool storage_order=1: Indices count H fastest
};

// Resolves the window of a pool and checks the output dims; shared by both pools.
Result<Geom3> poolGeometry(const WindowAttrs& a, const std::vector<TensorView>& inputs,
                           const std::vector<TensorView>& outputs) {
  const Dims& x = inputs[0].dims;
  QRT_ASSIGN_OR_RETURN(Window win, poolWindow(a, x));
  Dims y{x[0], x[1]};
  y.insert(y.end(), win.out.begin(), win.out.end());
  QRT_RETURN_IF_ERROR(checkOutputDims(outputs[0], y, a.where));
  return toGeom3(win, a.where);
}

// Grain for parallelFor over planes: enough work per chunk to be worth a thread.
int64_t planeGrain(const Geom3& g) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.out_vol * g.k_vol)); }

template <typename T>
class MaxPoolKernel final : public Kernel {
  using A = AccT<T>;

 public:
  explicit MaxPoolKernel(const PoolParams& p) : p_(p) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    QRT_ASSIGN_OR_RETURN(g_, poolGeometry(p_.attrs, inputs, outputs));
    planes_ = inputs[0].dims[0] * inputs[0].dims[1];
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    int64_t* indices = present(outputs, 1) ? outputs[1].as<int64_t>() : nullptr;
    const Geom3& g = g_;
    parallelRange(planes_, planeGrain(g), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const T* xp = x + plane * g.in_vol;
        int64_t o = plane * g.out_vol;
        for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
          for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
            for (int64_t o2 = 0; o2 < g.out[2]; ++o2, ++o) {
              int64_t at[3] = {-1, 0, 0};  // the maximum's input position; -1: none yet
              A best = windowMax(xp, o0, o1, o2, at);
              y[o] = store<T>(best);
              if (indices) indices[o] = plane * g.in_vol + flatIndex(at);
            }
      }
    });
    return Status::Ok();
  }

 private:
  // The largest input in the window of output (o0, o1, o2), skipping padding; the first one wins
  // ties. Its position goes to `at`.
  A windowMax(const T* xp, int64_t o0, int64_t o1, int64_t o2, int64_t* at) const {
    const Geom3& g = g_;
    A best = std::numeric_limits<A>::lowest();
    for (int64_t k0 = 0; k0 < g.k[0]; ++k0) {
      int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
      if (i0 < 0 || i0 >= g.in[0]) continue;
      for (int64_t k1 = 0; k1 < g.k[1]; ++k1) {
        int64_t i1 = o1 * g.s[1] - g.pb[1] + k1 * g.d[1];
        if (i1 < 0 || i1 >= g.in[1]) continue;
        for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
          int64_t i2 = o2 * g.s[2] - g.pb[2] + k2 * g.d[2];
          if (i2 < 0 || i2 >= g.in[2]) continue;
          A v = load<A>(xp[(i0 * g.in[1] + i1) * g.in[2] + i2]);
          if (at[0] < 0 || v > best) {
            best = v;
            at[0] = i0;
            at[1] = i1;
            at[2] = i2;
          }
        }
      }
    }
    if (at[0] < 0) at[0] = 0;
    return best;
  }

  // Position within a plane, row-major (storage_order 0) or column-major (1). The leading
  // extents of 1 that Geom3 adds contribute nothing either way.
  int64_t flatIndex(const int64_t* at) const {
    const Geom3& g = g_;
    if (p_.column_major) return at[0] + at[1] * g.in[0] + at[2] * g.in[0] * g.in[1];
    return (at[0] * g.in[1] + at[1]) * g.in[2] + at[2];
  }

  PoolParams p_;
  Geom3 g_{};
  int64_t planes_ = 0;
};

template <typename T>
class AveragePoolKernel final : public Kernel {
  using A = AccT<T>;

 public:
  explicit AveragePoolKernel(const PoolParams& p) : p_(p) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    QRT_ASSIGN_OR_RETURN(g_, poolGeometry(p_.attrs, inputs, outputs));
    planes_ = inputs[0].dims[0] * inputs[0].dims[1];
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    const Geom3& g = g_;
    parallelRange(planes_, planeGrain(g), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const T* xp = x + plane * g.in_vol;
        T* yp = y + plane * g.out_vol;
        for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
          for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
            for (int64_t o2 = 0; o2 < g.out[2]; ++o2) *yp++ = store<T>(windowMean(xp, o0, o1, o2));
      }
    });
    return Status::Ok();
  }

 private:
  // Mean over the window of output (o0, o1, o2). The divisor counts the window's input
  // elements, or with count_include_pad also its taps on the explicit padding (never the taps
  // past it that ceil_mode can add).
  A windowMean(const T* xp, int64_t o0, int64_t o1, int64_t o2) const {
    const Geom3& g = g_;
    auto in_padded = [&](int d, int64_t i) { return i >= -g.pb[d] && i < g.in[d] + g.pe[d]; };
    auto inside = [&](int d, int64_t i) { return i >= 0 && i < g.in[d]; };
    A sum = 0;
    int64_t count = 0, padded_count = 0;
    for (int64_t k0 = 0; k0 < g.k[0]; ++k0) {
      int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
      if (!in_padded(0, i0)) continue;
      for (int64_t k1 = 0; k1 < g.k[1]; ++k1) {
        int64_t i1 = o1 * g.s[1] - g.pb[1] + k1 * g.d[1];
        if (!in_padded(1, i1)) continue;
        for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
          int64_t i2 = o2 * g.s[2] - g.pb[2] + k2 * g.d[2];
          if (!in_padded(2, i2)) continue;
          ++padded_count;
          if (inside(0, i0) && inside(1, i1) && inside(2, i2)) {
            sum += load<A>(xp[(i0 * g.in[1] + i1) * g.in[2] + i2]);
            ++count;
          }
        }
      }
    }
    int64_t divisor = p_.count_include_pad ? padded_count : count;
    return divisor > 0 ? sum / static_cast<A>(divisor) : A(0);
  }

  PoolParams p_;
  Geom3 g_{};
  int64_t planes_ = 0;
};

// GlobalAveragePool / GlobalMaxPool: one value per (image, channel) plane.
template <typename T, bool kMax>
class GlobalPoolKernel final : public Kernel {
  using A = AccT<T>;

 public:
  explicit GlobalPoolKernel(const std::string& where) : where_(where) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    Dims y(x.size(), 1);
    y[0] = x[0];
    y[1] = x[1];
    QRT_RETURN_IF_ERROR(checkOutputDims(outputs[0], y, where_));
    planes_ = x[0] * x[1];
    plane_size_ = volume(Dims(x.begin() + 2, x.end()));
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    const int64_t size = plane_size_;
    parallelRange(planes_, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, size)), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const T* xp = x + plane * size;
        A r = size > 0 ? load<A>(xp[0]) : A(0);
        if constexpr (kMax) {
          for (int64_t i = 1; i < size; ++i) r = std::max(r, load<A>(xp[i]));
        } else {
          for (int64_t i = 1; i < size; ++i) r += load<A>(xp[i]);
          if (size > 0) r /= static_cast<A>(size);
        }
        y[plane] = store<T>(r);
      }
    });
    return Status::Ok();
  }

 private:
  std::string where_;
  int64_t planes_ = 0, plane_size_ = 0;
};

template <typename T> using GlobalAveragePoolKernel = GlobalPoolKernel<T, false>;
template <typename T> using GlobalMaxPoolKernel = GlobalPoolKernel<T, true>;

}  // namespace

Result<std::unique_ptr<Kernel>> createMaxPool(const ir::Node& node) {
  PoolParams p;
  QRT_ASSIGN_OR_RETURN(p.attrs, readWindowAttrs(node));
  p.column_major = node.attrInt("storage_order", 0) == 1;
  switch (node.inputs[0]->dtype) {
    case DataType::kInt8: return std::unique_ptr<Kernel>(new MaxPoolKernel<int8_t>(p));
    case DataType::kUInt8: return std::unique_ptr<Kernel>(new MaxPoolKernel<uint8_t>(p));
    default: return newFloatKernel<MaxPoolKernel>(node.inputs[0]->dtype, p, p.attrs.where);
  }
}

Result<std::unique_ptr<Kernel>> createAveragePool(const ir::Node& node) {
  PoolParams p;
  QRT_ASSIGN_OR_RETURN(p.attrs, readWindowAttrs(node));
  p.count_include_pad = node.attrInt("count_include_pad", 0) != 0;
  return newFloatKernel<AveragePoolKernel>(node.inputs[0]->dtype, p, p.attrs.where);
}

Result<std::unique_ptr<Kernel>> createGlobalAveragePool(const ir::Node& node) {
  return newFloatKernel<GlobalAveragePoolKernel>(node.inputs[0]->dtype, node.describe(), node.describe());
}

Result<std::unique_ptr<Kernel>> createGlobalMaxPool(const ir::Node& node) {
  return newFloatKernel<GlobalMaxPoolKernel>(node.inputs[0]->dtype, node.describe(), node.describe());
}

}  // namespace qrt::reference
