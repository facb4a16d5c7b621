// Reference Pad: constant, reflect, edge and wrap modes, negative pads (crops) included.
//
// Every output index along an axis maps to an input index along that axis, or to "the constant"
// (-1). The maps are built once per shape (or per run when the pads arrive only then), and the
// copy walks the output rows reading through them, so all modes share one loop.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "backends/reference/ref_util.h"
#include "backends/reference/strided_copy.h"
#include "backends/reference/tensor_kernels.h"
#include "core/threadpool.h"
#include "ops/tensor_params.h"

namespace qrt::reference::tensor_kernels {

namespace {

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Where output index o of an axis reads from. The input axis is first cropped by the negative
// pads to [lo, lo + kept); `before` is the positive begin pad.
int64_t mapIndex(PadMode mode, int64_t o, int64_t before, int64_t lo, int64_t kept) {
  int64_t j = o - before;  // index into the kept range
  if (j >= 0 && j < kept) return lo + j;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return lo + std::clamp<int64_t>(j, 0, kept - 1);
    case PadMode::kWrap: return lo + ((j % kept) + kept) % kept;
    case PadMode::kReflect: {
      if (kept == 1) return lo;
      // Reflection without repeating the edge has period 2 * (kept - 1), like numpy's "reflect".
      const int64_t period = 2 * (kept - 1);
      j = ((j % period) + period) % period;
      return lo + (j < kept ? j : period - j);
    }
  }
  return -1;
}

// One output row along the last axis: map[o] is the source element, or -1 for the constant.
template <typename T>
void padRow(void* dst, const void* src, const int64_t* map, int64_t n, const void* value) {
  T v;
  std::memcpy(&v, value, sizeof(T));
  T* d = static_cast<T*>(dst);
  const T* s = static_cast<const T*>(src);
  for (int64_t o = 0; o < n; ++o) d[o] = map[o] < 0 ? v : s[map[o]];
}

class PadKernel : public Kernel {
 public:
  PadKernel(const ir::Node& node, PadMode mode)
      : name_(node.describe()), mode_(mode), from_attrs_(node.opset < 11), value_attr_(node.attrFloat("value", 0.f)) {
    if (!from_attrs_) return;
    std::vector<int64_t> p = node.attrInts(node.opset < 2 ? "paddings" : "pads");
    pads_attr_ = HostTensor::fromInt64(p, {static_cast<int64_t>(p.size())});
    pads_view_ = pads_attr_.view();
  }

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const size_t rank = in[0].dims.size();
    if (rank > kMaxCopyRank) return unsupported(name_, ": rank ", rank, " (at most ", kMaxCopyRank, ")");
    esize_ = dataTypeSize(in[0].dtype);
    in_strides_ = stridesOf(in[0].dims);
    begin_end_.resize(2 * rank);
    map_offsets_.resize(rank + 1, 0);
    for (size_t d = 0; d < rank; ++d) map_offsets_[d + 1] = map_offsets_[d] + out[0].dims[d];
    maps_.resize(static_cast<size_t>(map_offsets_[rank]));
    std::memset(value_, 0, sizeof(value_));
    if (from_attrs_) convertElements(&value_attr_, DataType::kFloat, value_, in[0].dtype, 1);
    planned_ = false;
    const bool known = from_attrs_ || (in[1].data && (!present(in, 3) || in[3].data));
    if (known) {
      QRT_RETURN_IF_ERROR(buildMaps(in, out));
      planned_ = true;
    }
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (!planned_) QRT_RETURN_IF_ERROR(buildMaps(in, out));
    if (!from_attrs_ && present(in, 2) && in[2].data && in[2].numel() > 0) std::memcpy(value_, in[2].data, esize_);
    const Dims& od = out[0].dims;
    const size_t rank = od.size();
    if (out[0].numel() == 0) return Status::Ok();
    if (rank == 0) {
      std::memcpy(out[0].data, in[0].data, esize_);
      return Status::Ok();
    }
    const int64_t inner = od.back();
    const int64_t rows = out[0].numel() / inner;
    const char* src = in[0].as<const char>();
    char* dst = out[0].as<char>();
    const int64_t esize = static_cast<int64_t>(esize_);
    const int64_t* last_map = maps_.data() + map_offsets_[rank - 1];
    const int64_t grain = std::max<int64_t>(1, 4096 / inner);
    parallelFor(rows, grain, [&](int64_t begin, int64_t end) {
      int64_t idx[kMaxCopyRank] = {};
      for (int64_t r = begin, d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
        idx[d] = r % od[d];
        r /= od[d];
      }
      for (int64_t row = begin; row < end; ++row) {
        char* drow = dst + row * inner * esize;
        // The input row this output row reads, or none when an outer index lies in the padding.
        int64_t off = 0;
        bool inside = true;
        for (size_t d = 0; d + 1 < rank; ++d) {
          const int64_t m = maps_[map_offsets_[d] + idx[d]];
          if (m < 0) inside = false;
          off += m * in_strides_[d];
        }
        if (!inside) {
          fillElements(drow, inner, value_, esize_);
        } else {
          const char* srow = src + off * esize;
          switch (esize_) {
            case 1: padRow<uint8_t>(drow, srow, last_map, inner, value_); break;
            case 2: padRow<uint16_t>(drow, srow, last_map, inner, value_); break;
            case 4: padRow<uint32_t>(drow, srow, last_map, inner, value_); break;
            default: padRow<uint64_t>(drow, srow, last_map, inner, value_); break;
          }
        }
        for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
          if (++idx[d] < od[d]) break;
          idx[d] = 0;
        }
      }
    });
    return Status::Ok();
  }

 private:
  static bool present(const std::vector<TensorView>& v, size_t i) {
    return i < v.size() && v[i].dtype != DataType::kUndefined;
  }

  // Resolves the pads and fills the per-axis maps; allocates nothing (buffers sized in reshape).
  Status buildMaps(const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    const size_t rank = in[0].dims.size();
    const TensorView& pads = from_attrs_ ? pads_view_ : in[1];
    Status st = resolvePads(rank, pads, !from_attrs_ && present(in, 3) ? &in[3] : nullptr, begin_end_);
    if (!st.ok()) return st.withContext(name_);
    for (size_t d = 0; d < rank; ++d) {
      const int64_t size = in[0].dims[d], b = begin_end_[d], e = begin_end_[d + rank];
      const int64_t out_size = out[0].dims[d];
      if (out_size != size + b + e) return internalError(name_, ": pads disagree with the output dims");
      const int64_t lo = std::max<int64_t>(0, -b);
      const int64_t kept = size - lo - std::max<int64_t>(0, -e);
      if (mode_ != PadMode::kConstant && kept <= 0 && out_size > 0)
        return invalidArgument(name_, ": cannot pad axis ", d, " in this mode: it has no elements left");
      for (int64_t o = 0; o < out_size; ++o)
        maps_[map_offsets_[d] + o] = mapIndex(mode_, o, std::max<int64_t>(0, b), lo, kept);
    }
    return Status::Ok();
  }

  std::string name_;
  PadMode mode_;
  bool from_attrs_;
  float value_attr_;
  HostTensor pads_attr_;
  TensorView pads_view_;
  size_t esize_ = 0;
  std::vector<int64_t> in_strides_, begin_end_, map_offsets_, maps_;
  alignas(8) unsigned char value_[8] = {};
  bool planned_ = false;
};

}  // namespace

KernelResult createPad(const ir::Node& node) {
  const std::string mode = node.attrString("mode", "constant");
  static const std::pair<const char*, PadMode> kModes[] = {
      {"constant", PadMode::kConstant}, {"reflect", PadMode::kReflect}, {"edge", PadMode::kEdge}, {"wrap", PadMode::kWrap}};
  for (const auto& [name, m] : kModes)
    if (mode == name) return std::unique_ptr<Kernel>(new PadKernel(node, m));
  return unsupported(node.describe(), ": mode '", mode, "'");
}

}  // namespace qrt::reference::tensor_kernels
