// QConv's dense path (own_qconv.h): qrt's INT8 implicit-GEMM kernel (qconv_igemm.cu) for dense
// 2-D layers (group 1, channels-last, C and M multiples of 16) with QConv's epilogue and the int8
// residual z, where the stored tactic is "ig<tile>" (it beat cuDNN's int8 plans at build time).
// Shapes without a tactic run on cuDNN unless QRT_CUDA_IGEMM=on (=off never takes the kernel);
// cuDNN's QConv kernel runs every shape or node the kernel does not take.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/depthwise_geometry.h"
#include "backends/cuda/own_qconv.h"
#include "core/logging.h"
#include "backends/cuda/qconv_igemm_launch.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

constexpr char kPrefix[] = "ig";

class QIgemmKernel final : public OwnQConvKernel {
 public:
  QIgemmKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act,
               std::unique_ptr<Kernel> cudnn)
      : OwnQConvKernel(n, dev, std::move(a), act, std::move(cudnn), "QRT_CUDA_IGEMM"),
        ds_(n.hasInput(kDsX)),
        ds_strides_(n.attrInts(kAttrDsStrides, {1, 1})) {}

 protected:
  bool isMine(const std::string& tactic) const override { return launch::igemmTileOf(tactic) >= 0; }
  bool byDefault() const override { return false; }
  bool writesHalf() const override { return true; }

  Status runOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::IgemmEpilogue e = epi_;
    e.z = has_z_ && !ds_ ? in[6].as<const int8_t>() : nullptr;
    e.ds_x = ds_ ? in[kDsX].as<const int8_t>() : nullptr;
    launch::qconvIgemm(static_cast<const int8_t*>(in[0].data), w_.as<int8_t>(), out[0].data, geom_, e, tile_, grid_,
                       stream());
    return launched();
  }

  Status reshapeOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out,
                    const std::string& tactic) override {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    if (x.size() != 4 || w.size() != 4 || y.size() != 4 || attrs_.group != 1 || w[1] != x[1])
      return unsupported(who_, ": not a 2-D dense convolution");
    if (in[1].dtype != DataType::kInt8 || in[0].dtype != DataType::kInt8)
      return unsupported(who_, ": the implicit-GEMM kernel takes int8 x and weights");
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(attrs_, x, w));
    if (win.rank != 2) return unsupported(who_, ": not a 2-D convolution");
    const launch::IgemmGeometry g = conv2dShape(x, w, y, win);
    if (x[0] > (1 << 30) || x[1] > (1 << 30) || x[2] > (1 << 20) || x[3] > (1 << 20) || w[0] > (1 << 30) ||
        !launch::igemmFits(g))
      return unsupported(who_, ": the implicit-GEMM kernel takes channel counts that are multiples of 16 and "
                               "32-bit indices");
    QRT_RETURN_IF_ERROR(prepareEpilogue(in, out, g.m));
    epi_ = launch::IgemmEpilogue{};
    if (has_z_) {
      if (in.size() < 8 || !in[7].data) return unsupported(who_, ": the implicit-GEMM kernel needs a constant z_scale");
      if (!ds_ && (in[6].dims != y || in[6].dtype != DataType::kInt8))
        return invalidArgument(who_, ": z_q must be int8 of the output's shape");
      epi_.z_scale = in[7].as<const float>()[0];
      if (!(epi_.z_scale > 0.f)) return invalidArgument(who_, ": z_scale must be positive");
    }
    const std::vector<int8_t> packed = launch::igemmWeights(in[1].as<const int8_t>(), w[0], w[1], w[2], w[3]);
    QRT_RETURN_IF_ERROR(w_.upload(packed.data(), packed.size(), who_));
    geom_ = g;
    epi_.act = qact_;
    epi_.lo = act_.a;
    epi_.hi = act_.b;
    epi_.y_int8 = y_int8_;
    const char* probe = std::getenv("QRT_CUDA_IGEMM_PROBE");  // measurement only (IgemmEpilogue::probe)
    epi_.probe = probe ? std::atoi(probe) : 0;
    epi_.x_l1 = envIs("QRT_CUDA_IGEMM_X_L1", "on");  // A/B switch (IgemmEpilogue::x_l1)
    epi_.y_half = out[0].dtype == DataType::kHalf;
    epi_.mult = mult_.as<float>();
    epi_.bias = bias_.as<float>();
    if (y_int8_) {  // the int8 epilogue's constants, divided by y_scale (qconv_igemm_launch.h)
      QRT_RETURN_IF_ERROR(uploadFolded(&mult_folded_, &bias_folded_));
      epi_.mult = mult_folded_.as<float>();
      epi_.bias = bias_folded_.as<float>();
      epi_.z_scale /= y_scale_;
      epi_.lo /= y_scale_;
      epi_.hi /= y_scale_;
      foldedClamp(&epi_.qlo, &epi_.qhi);  // the activation and the saturation in one clamp
    }
    // Without a tactic (QRT_CUDA_IGEMM=on): QRT_CUDA_IGEMM_TILE (tests of every tile), else narrow
    // tiles for narrow layers.
    tile_ = launch::igemmTileOf(tactic);
    const char* forced = std::getenv("QRT_CUDA_IGEMM_TILE");
    if (tile_ < 0 && forced) tile_ = launch::igemmTileOf(std::string(kPrefix) + forced);
    if (tile_ < 0) tile_ = g.m <= 64 ? 1 : 0;
    if (launch::kIgemmTiles[tile_].wgmma && dev_->sm != launch::kIgemmWgmmaSm)
      return unsupported(who_, ": the wgmma tile ", tile_, " runs on compute capability 9.0 only");
    if (launch::kIgemmTiles[tile_].tma && !launch::kIgemmTiles[tile_].resident && !launch::igemmUnit(g))
      return unsupported(who_, ": the TMA tile ", tile_, " takes 1x1 stride-1 unpadded layers only");
    if (launch::kIgemmTiles[tile_].im2col && launch::igemmUnit(g))
      return unsupported(who_, ": the TMA im2col tile ", tile_, " takes the layers tiles 24-25 do not");
    if (launch::kIgemmTiles[tile_].halo && (!launch::haloFits(g) || has_z_ || !y_int8_))
      return unsupported(who_, ": the halo tile ", tile_,
                         " takes 3x3 stride-1 pad-1 layers of at most 64 channels, int8 y and no residual");
    if (launch::kIgemmTiles[tile_].resident && (!launch::residentFits(g) || !y_int8_))
      return unsupported(who_, ": the resident-weight tile ", tile_,
                         " takes unpadded 1x1 layers of at most 256 channels with int8 y");
    if (ds_) QRT_RETURN_IF_ERROR(reshapeDownsample(in, y));
    grid_ = 0;
    if (launch::kIgemmTiles[tile_].persistent) {
      grid_ = launch::igemmPersistentGrid(g, has_z_, tile_);
      if (grid_ <= 0) return unsupported(who_, ": the persistent tile ", tile_, " does not fit this device");
    }
    return Status::Ok();
  }

 private:
  // The downsample computed in the kernel (fuseDownsampleResidual): its geometry, packed weights and
  // epilogue constants (divided by z_scale, in[7]) into epi_. Needs int8 y and a tiled kernel (the
  // mma.sync tiles 0-6 or the wgmma ones).
  Status reshapeDownsample(const std::vector<TensorView>& in, const Dims& y) {
    if (!y_int8_ || launch::kIgemmTiles[tile_].persistent)
      return unsupported(who_, ": a downsample computed in the kernel needs int8 y and a tiled (not persistent) kernel");
    if (in.size() <= kDsWScale || in[kDsX].dtype != DataType::kInt8 || in[kDsW].dtype != DataType::kInt8 ||
        !in[kDsW].data || !in[kDsXScale].data || !in[kDsWScale].data || (in[kDsBias].dtype != DataType::kUndefined &&
                                                                         !in[kDsBias].data))
      return unsupported(who_, ": the downsample needs int8 x and constant int8 weights, bias and scales");
    const Dims& x2 = in[kDsX].dims;
    const Dims& w2 = in[kDsW].dims;
    const int64_t m = y[1];
    if (x2.size() != 4 || w2.size() != 4 || w2[0] != m || w2[1] != x2[1] || w2[2] != 1 || w2[3] != 1 ||
        ds_strides_.size() != 2)
      return invalidArgument(who_, ": the downsample must be a 1x1 convolution of ", m, " output channels");
    WindowAttrs a;
    a.where = who_;
    a.strides = ds_strides_;
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(a, x2, w2));
    if (win.out != Dims{y[2], y[3]}) return invalidArgument(who_, ": the downsample's output is not y's shape");
    const launch::IgemmGeometry g2 = conv2dShape(x2, w2, y, win);
    if (!launch::igemmFits(g2)) return unsupported(who_, ": the downsample's channels are not multiples of 16");
    const int64_t nw = in[kDsWScale].numel();
    if (in[kDsXScale].numel() != 1 || (nw != 1 && nw != m))
      return invalidArgument(who_, ": the downsample's scales must be one value and 1 or ", m);
    const float zs = in[7].as<const float>()[0];
    const float xs = in[kDsXScale].as<const float>()[0];
    std::vector<float> mult(static_cast<size_t>(m)), bias(static_cast<size_t>(m), 0.f);
    for (int64_t c = 0; c < m; ++c) {
      mult[c] = xs * in[kDsWScale].as<const float>()[nw == 1 ? 0 : c] / zs;  // the QConv's mult, then / z_scale
      if (in[kDsBias].data) bias[c] = in[kDsBias].as<const float>()[c] / zs;
    }
    QRT_RETURN_IF_ERROR(ds_mult_.upload(mult.data(), mult.size() * 4, who_));
    QRT_RETURN_IF_ERROR(ds_bias_.upload(bias.data(), bias.size() * 4, who_));
    const std::vector<int8_t> packed = launch::igemmWeights(in[kDsW].as<const int8_t>(), m, x2[1], 1, 1);
    QRT_RETURN_IF_ERROR(ds_w_.upload(packed.data(), packed.size(), who_));
    epi_.ds = g2;
    epi_.ds_w = ds_w_.as<int8_t>();
    epi_.ds_mult = ds_mult_.as<float>();
    epi_.ds_bias = ds_bias_.as<float>();
    return Status::Ok();
  }

  launch::IgemmGeometry geom_;
  launch::IgemmEpilogue epi_;
  int tile_ = 0, grid_ = 0;
  DeviceBuffer w_, mult_folded_, bias_folded_;
  bool ds_;
  std::vector<int64_t> ds_strides_;
  DeviceBuffer ds_w_, ds_mult_, ds_bias_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> withQIgemm(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                           const EpilogueActivation& act, std::unique_ptr<Kernel> cudnn) {
  return aroundDense<QIgemmKernel>(node, dev, attrs, act, std::move(cudnn));
}

namespace {

// Whether the tuner times tile t. `forced` (QRT_CUDA_IGEMM_TILE, else -1) is the only tile timed;
// `skip` (QRT_CUDA_IGEMM_SKIP) are never timed. The wgmma tiles (compute capability 9.0 only) are
// timed with the others unless QRT_CUDA_IGEMM_WGMMA=off; =only times only them (tests). On an H100
// they beat the mma.sync tiles on every ResNet-50 layer at batch 256 (sessions 7 and 8). A forced
// tile passes the two gates below: the mma.sync persistent tiles (7-9) are timed only with
// QRT_CUDA_IGEMM_PERSISTENT=on (on an H100 they were the fastest for no ResNet-50 layer at batch
// 256, sessions 6 and 7, and each tile timed costs build time on every dense layer); the opt-in
// tiles (IgemmTile::opt_in: never the fastest where they ran) only with
// QRT_CUDA_IGEMM_WGMMA=all or =only (a faulting kernel would end the build: a CUDA error is sticky
// for the process).
bool tunerTimes(int t, int forced, const std::vector<bool>& skip, int sm) {
  if (skip[static_cast<size_t>(t)] || (forced >= 0 && t != forced)) return false;
  const launch::IgemmTile& tile = launch::kIgemmTiles[t];
  if (tile.wgmma && (sm != launch::kIgemmWgmmaSm || envIs("QRT_CUDA_IGEMM_WGMMA", "off"))) return false;
  const bool only = envIs("QRT_CUDA_IGEMM_WGMMA", "only");
  if (!tile.wgmma && only) return false;
  if (forced >= 0) return true;
  if (tile.persistent && !tile.wgmma) return envIs("QRT_CUDA_IGEMM_PERSISTENT", "on");
  return !tile.opt_in || only || envIs("QRT_CUDA_IGEMM_WGMMA", "all");
}

}  // namespace

Status qconvIgemmCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                           double* us) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<QIgemmKernel> kp, denseCandidateKernel<QIgemmKernel>(node, dev, "QRT_CUDA_IGEMM"));
  QIgemmKernel& k = *kp;
  double best = 0;
  // QRT_CUDA_IGEMM_TILE=<t>: the tuner times that tile alone (tests of one tile through the tuned
  // path, the downsample fusion included).
  const char* forced_env = std::getenv("QRT_CUDA_IGEMM_TILE");
  const int forced = forced_env ? launch::igemmTileOf(std::string(kPrefix) + forced_env) : -1;
  // QRT_CUDA_IGEMM_SKIP=<t>,<t>...: tiles the tuner leaves out (a tile that failed its tests).
  std::vector<bool> skip(launch::kIgemmTileCount, false);
  if (const char* list = std::getenv("QRT_CUDA_IGEMM_SKIP")) {
    std::istringstream in(list);
    for (std::string item; std::getline(in, item, ',');)
      if (const int t = launch::igemmTileOf(std::string(kPrefix) + item); t >= 0) skip[static_cast<size_t>(t)] = true;
  }
  for (int t = 0; t < launch::kIgemmTileCount; ++t) {
    if (!tunerTimes(t, forced, skip, dev->sm)) continue;
    const std::string name = kPrefix + std::to_string(t);
    double t_us = 0;
    Status st = timeOwnQConv(node, dev, k, name, time, &t_us);
    if (envIs("QRT_CUDA_TACTICS_LOG", "1"))  // every tile's time (conv_tactics.cpp logs the chosen one)
      std::fprintf(stderr, "[tactics] %s: tile %s: %s\n", node.describe().c_str(), name.c_str(),
                   st.ok() ? strCat(t_us, " us").c_str() : st.message().c_str());
    if (st.code() == StatusCode::kUnsupported && t > 0) continue;  // a tile that does not take the layer
    QRT_RETURN_IF_ERROR(st);
    if (tactic->empty() || t_us < best) {
      best = t_us;
      *tactic = name;
    }
  }
  if (tactic->empty()) return unsupported(node.describe(), ": no implicit-GEMM tile was timed");
  *us = best;
  // The fastest tile must agree with cuDNN on scratch data: the kernels are timed, and here checked.
  if (Status c = checkOwnQConv(node, dev, k, *tactic); !c.ok()) {
    if (c.code() == StatusCode::kUnsupported) logWarning(c.message(), "; not a candidate");
    return c;
  }
  return Status::Ok();
}

}  // namespace qrt::cuda
