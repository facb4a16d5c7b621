#include "kernel_cases.h"

#include "core/half.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>

namespace qrt::test {
namespace {

std::string str(const std::vector<int64_t>& v) { return dimsToString(v); }
std::string num(int64_t v) { return std::to_string(v); }

double product(const std::vector<int64_t>& v) {
  double p = 1;
  for (int64_t x : v) p *= static_cast<double>(x);
  return p;
}

KernelCase make(std::string family, std::string name, std::string label, std::function<OneNode()> model) {
  KernelCase k;
  k.family = std::move(family);
  k.name = std::move(name);
  k.label = std::move(label);
  k.model = std::move(model);
  return k;
}

KernelCase convCase(const ConvCase& c, std::string name, uint32_t seed) {
  KernelCase k = make("Conv", std::move(name), c.label(), [c, seed] { return convModel(c, false, seed); });
  k.flops_per_output = c.convFlopsPerOutput();
  return k;
}

KernelCase transposeCase(const ConvCase& c, std::string name, std::string label, std::function<OneNode()> model) {
  KernelCase k = make("ConvTranspose", std::move(name), std::move(label), std::move(model));
  k.flops_fixed = c.transposeFlops();
  return k;
}

const char* groupName(int g_kind) { return g_kind == 0 ? "g1" : g_kind == 1 ? "g2" : "dw"; }

// Clip's bounds are inputs since opset 11.
OneNode& clip(OneNode& m, float lo, float hi, uint32_t id) {
  m.then("Clip");
  m.constant(Tensor{"lo" + std::to_string(id), {}, {lo}}).constant(Tensor{"hi" + std::to_string(id), {}, {hi}});
  return m;
}

}  // namespace

std::string ConvCase::label() const {
  return "Conv n" + num(n) + " c" + num(c) + " m" + num(m) + " g" + num(group) + " x" + str(spatial) + " k" +
         str(kernel) + " s" + str(strides) + " d" + str(dilations) + " p" + str(pads) + (bias ? " bias" : "") +
         (weights_constant ? "" : " W-input") + (auto_pad.empty() ? "" : " " + auto_pad);
}

double ConvCase::convFlopsPerOutput() const { return 2.0 * static_cast<double>(c / group) * product(kernel); }

double ConvCase::transposeFlops() const {
  return 2.0 * static_cast<double>(n * c) * product(spatial) * static_cast<double>(m / group) * product(kernel);
}

OneNode convModel(const ConvCase& c, bool transpose, uint32_t seed) {
  OneNode m(transpose ? "ConvTranspose" : "Conv");
  Dims x{c.n, c.c};
  x.insert(x.end(), c.spatial.begin(), c.spatial.end());
  Dims w = transpose ? Dims{c.c, c.m / c.group} : Dims{c.m, c.c / c.group};
  w.insert(w.end(), c.kernel.begin(), c.kernel.end());
  m.input(randomTensor("X", x, seed));
  Tensor wt = randomTensor("W", w, seed + 1);
  for (float& v : wt.values) v *= c.weight_scale;
  if (c.weights_constant)
    m.constant(wt);
  else
    m.input(wt);
  if (c.bias) m.constant(randomTensor("B", {c.m}, seed + 2));
  m.integer("group", c.group);
  if (!c.strides.empty()) m.ints("strides", c.strides);
  if (!c.dilations.empty()) m.ints("dilations", c.dilations);
  if (!c.pads.empty()) m.ints("pads", c.pads);
  if (!c.auto_pad.empty()) m.string("auto_pad", c.auto_pad);
  return m;
}

// ---- Conv ----

// Kernel 1, 3, 5, 7 x groups 1, 2, depthwise x stride x dilation x symmetric/asymmetric pads x batch.
std::vector<KernelCase> conv2dMatrixCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 1;
  for (int64_t k : {1, 3, 5, 7})
    for (int g_kind = 0; g_kind < 3; ++g_kind)  // 1, 2, depthwise
      for (int64_t stride : {1, 2})
        for (int64_t dilation : {1, 2})
          for (int pad_kind = 0; pad_kind < 2; ++pad_kind)  // symmetric k/2, asymmetric
            for (int64_t n : {1, 3}) {
              ConvCase c;
              c.n = n;
              c.kernel = {k, k};
              c.spatial = {13 + k, 11 + k};
              if (g_kind == 1) c.group = 2;
              if (g_kind == 2) c.c = c.m = c.group = 8;
              c.strides = {stride, stride};
              c.dilations = {dilation, dilation};
              c.pads = pad_kind == 0 ? std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2}
                                     : std::vector<int64_t>{0, k / 2 + 1, k - 1, 1};
              c.bias = (seed % 3) != 0;
              std::string name = "k" + num(k) + "_" + groupName(g_kind) + "_s" + num(stride) + "_d" + num(dilation) +
                                 (pad_kind == 0 ? "_psym" : "_pasym") + "_n" + num(n);
              cases.push_back(convCase(c, name, seed));
              seed += 3;
            }
  return cases;
}

std::vector<KernelCase> convVariantCases() {
  std::vector<std::pair<std::string, ConvCase>> v;
  ConvCase c;
  // Wide channels (the blocked/NHWC path), a channel multiplier, one input channel.
  c = {};
  c.c = 32, c.m = 48, c.spatial = {14, 14}, c.pads = {1, 1, 1, 1};
  v.emplace_back("c32_m48", c);
  c = {};
  c.c = 8, c.m = 16, c.group = 8, c.pads = {1, 1, 1, 1};  // depthwise, multiplier 2
  v.emplace_back("dw_mult2", c);
  c = {};
  c.c = 1, c.m = 16, c.n = 3, c.spatial = {28, 28}, c.pads = {1, 1, 1, 1};
  v.emplace_back("c1_m16_n3", c);
  // Pointwise (plain NCHW GEMM path), with and without groups; strided 1x1.
  c = {};
  c.c = 16, c.m = 24, c.kernel = {1, 1}, c.n = 3;
  v.emplace_back("pw_n3", c);
  c = {};
  c.c = 16, c.m = 24, c.kernel = {1, 1}, c.group = 4;
  v.emplace_back("pw_g4", c);
  c = {};
  c.c = 16, c.m = 24, c.kernel = {1, 1}, c.strides = {2, 2};
  v.emplace_back("pw_s2", c);
  // Weights computed at run time (reordered every run), rectangular kernels, auto_pad.
  c = {};
  c.weights_constant = false, c.pads = {1, 1, 1, 1};
  v.emplace_back("w_input", c);
  c = {};
  c.kernel = {1, 5}, c.pads = {0, 2, 0, 2};
  v.emplace_back("k1x5", c);
  c = {};
  c.kernel = {3, 3}, c.strides = {2, 2}, c.auto_pad = "SAME_UPPER";
  v.emplace_back("same_upper_s2", c);
  c = {};
  c.kernel = {4, 4}, c.strides = {2, 2}, c.auto_pad = "SAME_LOWER";
  v.emplace_back("same_lower_k4_s2", c);
  c = {};
  c.kernel = {3, 3}, c.auto_pad = "VALID", c.bias = false;
  v.emplace_back("valid_nobias", c);
  // 1-D and 3-D.
  c = {};
  c.spatial = {31}, c.kernel = {5}, c.pads = {2, 1}, c.strides = {2}, c.n = 3;
  v.emplace_back("1d_k5_s2_n3", c);
  c = {};
  c.spatial = {31}, c.kernel = {3}, c.dilations = {3}, c.group = 4, c.c = 4, c.m = 4;
  v.emplace_back("1d_d3_dw", c);
  c = {};
  c.spatial = {6, 7, 8}, c.kernel = {3, 3, 3}, c.pads = {1, 0, 1, 1, 2, 0}, c.strides = {1, 2, 1};
  v.emplace_back("3d_k3", c);
  std::vector<KernelCase> cases;
  uint32_t seed = 1000;
  for (const auto& [name, cc] : v) {
    cases.push_back(convCase(cc, name, seed));
    seed += 3;
  }
  return cases;
}

// ---- ConvTranspose ----

std::vector<KernelCase> convTransposeMatrixCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 2000;
  for (int64_t k : {1, 3, 5})
    for (int g_kind = 0; g_kind < 3; ++g_kind)
      for (int64_t stride : {1, 2, 3})
        for (int64_t dilation : {1, 2})
          for (int64_t n : {1, 3}) {
            ConvCase c;
            c.n = n;
            c.kernel = {k, k};
            c.spatial = {7, 6};
            if (g_kind == 1) c.group = 2;
            if (g_kind == 2) c.c = c.m = c.group = 8;
            c.strides = {stride, stride};
            c.dilations = {dilation, dilation};
            c.pads = k > 1 ? std::vector<int64_t>{1, 0, 0, 1} : std::vector<int64_t>{};
            c.bias = (seed % 2) != 0;
            std::string name =
                "k" + num(k) + "_" + groupName(g_kind) + "_s" + num(stride) + "_d" + num(dilation) + "_n" + num(n);
            cases.push_back(
                transposeCase(c, name, "ConvTranspose " + c.label(), [c, seed] { return convModel(c, true, seed); }));
            seed += 3;
          }
  return cases;
}

std::vector<KernelCase> convTransposeVariantCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 3000;
  ConvCase c;  // output_padding
  c.strides = {2, 2}, c.kernel = {3, 3}, c.pads = {1, 1, 1, 1};
  cases.push_back(transposeCase(c, "output_padding", "ConvTranspose output_padding", [c, seed] {
    OneNode m = convModel(c, true, seed);
    m.ints("output_padding", {1, 0});
    return m;
  }));
  c = {};  // output_shape (pads from it)
  c.strides = {2, 2}, c.kernel = {3, 3}, c.spatial = {5, 5};
  cases.push_back(transposeCase(c, "output_shape", "ConvTranspose output_shape", [c, seed] {
    OneNode m = convModel(c, true, seed + 3);
    m.ints("output_shape", {10, 11});
    return m;
  }));
  // 1-D, 3-D, wide channels, weights at run time.
  c = {};
  c.spatial = {17}, c.kernel = {4}, c.strides = {2}, c.pads = {1, 2};
  cases.push_back(transposeCase(c, "1d", "ConvTranspose 1-D", [c, seed] { return convModel(c, true, seed + 6); }));
  c = {};
  c.spatial = {4, 5, 3}, c.kernel = {3, 2, 3}, c.strides = {2, 1, 2};
  cases.push_back(transposeCase(c, "3d", "ConvTranspose 3-D", [c, seed] { return convModel(c, true, seed + 9); }));
  c = {};
  c.c = 32, c.m = 32, c.spatial = {14, 14}, c.kernel = {4, 4}, c.strides = {2, 2}, c.pads = {1, 1, 1, 1};
  cases.push_back(transposeCase(c, "wide", "ConvTranspose wide", [c, seed] { return convModel(c, true, seed + 12); }));
  c.weights_constant = false;
  cases.push_back(
      transposeCase(c, "wide_w_input", "ConvTranspose W-input", [c, seed] { return convModel(c, true, seed + 15); }));
  return cases;
}

// ---- Gemm ----

std::vector<KernelCase> gemmMatrixCases() {
  const int64_t M = 7, K = 33, N = 19;
  const std::vector<Dims> c_shapes = {{}, {N}, {1, N}, {M, 1}, {M, N}, {1}, {1, 1}};
  const char* alpha_beta_names[] = {"a1_b1", "a05_b2", "a15_b0"};
  std::vector<KernelCase> cases;
  uint32_t seed = 4000;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (int c_kind = -1; c_kind < static_cast<int>(c_shapes.size()); ++c_kind) {
        int ab = 0;
        for (auto [alpha, beta] : {std::pair{1.f, 1.f}, std::pair{0.5f, 2.f}, std::pair{1.5f, 0.f}}) {
          for (bool b_const : {true, false}) {
            std::string c_name = c_kind < 0 ? "none" : c_shapes[c_kind].empty() ? "scalar" : str(c_shapes[c_kind]);
            std::string name = "ta" + num(ta) + "_tb" + num(tb) + "_c" + c_name + "_" + alpha_beta_names[ab] +
                               (b_const ? "_bconst" : "_binput");
            std::string label = "Gemm transA " + num(ta) + " transB " + num(tb) + " C " +
                                (c_kind >= 0 ? str(c_shapes[c_kind]) : "none") + " alpha " + std::to_string(alpha) +
                                " beta " + std::to_string(beta) + (b_const ? "" : " B-input");
            Dims c_shape = c_kind >= 0 ? c_shapes[c_kind] : Dims{};
            KernelCase k = make("Gemm", name, label, [=] {
              OneNode m("Gemm", 13);
              m.input(randomTensor("A", ta ? Dims{K, M} : Dims{M, K}, seed));
              Tensor b = randomTensor("B", tb ? Dims{N, K} : Dims{K, N}, seed + 1);
              if (b_const)
                m.constant(b);
              else
                m.input(b);
              if (c_kind >= 0) m.constant(randomTensor("C", c_shape, seed + 2));
              m.integer("transA", ta).integer("transB", tb).real("alpha", alpha).real("beta", beta);
              return m;
            });
            k.flops_per_output = 2.0 * K;
            cases.push_back(std::move(k));
            seed += 3;
          }
          ++ab;
        }
      }
  return cases;
}

// A fully connected layer (batch 1 and 100), a tall-skinny and a K = 1 product, C as an input.
std::vector<KernelCase> gemmShapeCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 5000;
  for (auto [m, k, n] : {std::tuple{1, 512, 1000}, std::tuple{100, 32, 10}, std::tuple{300, 4, 5}, std::tuple{5, 1, 7},
                         std::tuple{64, 256, 64}}) {
    std::string shape = num(m) + "x" + num(k) + "x" + num(n);
    KernelCase c = make("Gemm", "mkn_" + shape, "Gemm " + shape, [m, k, n, seed] {
      OneNode g("Gemm", 13);
      g.input(randomTensor("A", {m, k}, seed)).constant(randomTensor("B", {n, k}, seed + 1));
      g.input(randomTensor("C", {n}, seed + 2)).integer("transB", 1);
      return g;
    });
    c.flops_per_output = 2.0 * k;
    cases.push_back(std::move(c));
    seed += 3;
  }
  return cases;
}

// ---- MatMul ----

std::vector<KernelCase> matMulCases() {
  struct Case {
    Dims a, b;
  };
  const std::vector<Case> shapes = {
      {{5, 7}, {7, 3}},
      {{1, 64}, {64, 100}},
      {{7}, {7, 3}},
      {{5, 7}, {7}},
      {{7}, {7}},
      {{2, 3, 5, 7}, {2, 3, 7, 4}},
      {{2, 1, 5, 7}, {3, 7, 4}},
      {{5, 7}, {2, 7, 4}},
      {{2, 5, 7}, {7, 4}},
      {{3, 1, 6, 8}, {1, 2, 8, 5}},
      {{4, 16, 32}, {4, 32, 16}},
      {{2, 2, 2, 2, 3, 4}, {4, 5}},
  };
  std::vector<KernelCase> cases;
  uint32_t seed = 6000;
  for (const Case& c : shapes)
    for (bool b_const : {false, true}) {
      Dims a = c.a, b = c.b;
      KernelCase k = make("MatMul", str(a) + "_" + str(b) + (b_const ? "_bconst" : ""),
                          "MatMul " + str(a) + " x " + str(b) + (b_const ? " B-constant" : ""), [a, b, b_const, seed] {
                            OneNode m("MatMul", 13);
                            m.input(randomTensor("A", a, seed));
                            Tensor bt = randomTensor("B", b, seed + 1);
                            if (b_const)
                              m.constant(bt);
                            else
                              m.input(bt);
                            return m;
                          });
      k.flops_per_output = 2.0 * static_cast<double>(a.back());
      cases.push_back(std::move(k));
      seed += 2;
    }
  return cases;
}

// ---- pools ----

namespace {

struct PoolCase {
  std::string op;
  Dims x;
  std::vector<int64_t> kernel, strides, pads, dilations;
  int64_t ceil_mode = 0, count_include_pad = 0;
  std::string auto_pad;

  std::string label() const {
    return op + " x" + str(x) + " k" + str(kernel) + " s" + str(strides) + " p" + str(pads) + " d" + str(dilations) +
           (ceil_mode ? " ceil" : "") + (count_include_pad ? " count_include_pad" : "") + " " + auto_pad;
  }
};

KernelCase poolCase(const PoolCase& c, std::string name, uint32_t seed) {
  KernelCase k = make("Pool", std::move(name), c.label(), [c, seed] {
    OneNode m(c.op, 12);
    m.input(randomTensor("X", c.x, seed));
    m.ints("kernel_shape", c.kernel);
    if (!c.strides.empty()) m.ints("strides", c.strides);
    if (!c.pads.empty()) m.ints("pads", c.pads);
    if (!c.dilations.empty()) m.ints("dilations", c.dilations);
    if (c.ceil_mode) m.integer("ceil_mode", 1);
    if (c.count_include_pad) m.integer("count_include_pad", 1);
    if (!c.auto_pad.empty()) m.string("auto_pad", c.auto_pad);
    return m;
  });
  // An average counting padding over a ceil_mode window that runs past the pads has no oneDNN
  // primitive (pool.cpp): those shapes may run on the reference kernel.
  if (c.op == "AveragePool" && c.count_include_pad && c.ceil_mode) k.expect = Expect::kEither;
  k.flops_per_output = product(c.kernel);
  return k;
}

}  // namespace

std::vector<KernelCase> poolCases() {
  std::vector<std::pair<std::string, PoolCase>> v;
  for (const char* op : {"MaxPool", "AveragePool"})
    for (int64_t k : {2, 3, 5})
      for (int64_t s : {1, 2})
        for (int64_t ceil : {0, 1})
          for (int64_t include : {0, 1}) {
            if (std::string(op) == "MaxPool" && include) continue;
            PoolCase p;
            p.op = op;
            p.x = {2, 5, 12, 13};
            p.kernel = {k, k};
            p.strides = {s, s};
            p.pads = {k / 2, 0, k / 2, k - 1 - k / 2};
            p.ceil_mode = ceil;
            p.count_include_pad = include;
            v.emplace_back(std::string(p.op == "MaxPool" ? "max" : "avg") + "_k" + num(k) + "_s" + num(s) +
                               (ceil ? "_ceil" : "") + (include ? "_incl" : ""),
                           p);
          }
  PoolCase p;
  p = {};
  p.op = "MaxPool", p.x = {1, 3, 17, 15}, p.kernel = {3, 3}, p.dilations = {2, 2}, p.strides = {2, 1};
  v.emplace_back("max_d2", p);
  p = {};
  p.op = "MaxPool", p.x = {3, 4, 20}, p.kernel = {4}, p.strides = {3}, p.pads = {1, 2};
  v.emplace_back("max_1d", p);
  p = {};
  p.op = "AveragePool", p.x = {1, 2, 6, 7, 8}, p.kernel = {2, 3, 2}, p.strides = {2, 2, 2}, p.ceil_mode = 1;
  v.emplace_back("avg_3d_ceil", p);
  p = {};
  p.op = "AveragePool", p.x = {1, 3, 9, 9}, p.kernel = {3, 3}, p.strides = {2, 2}, p.auto_pad = "SAME_UPPER";
  v.emplace_back("avg_same_upper", p);
  p = {};
  p.op = "MaxPool", p.x = {1, 3, 9, 9}, p.kernel = {2, 2}, p.strides = {2, 2}, p.auto_pad = "SAME_LOWER";
  v.emplace_back("max_same_lower", p);
  std::vector<KernelCase> cases;
  uint32_t seed = 7000;
  for (const auto& [name, pc] : v) cases.push_back(poolCase(pc, name, seed++));
  return cases;
}

std::vector<KernelCase> globalPoolCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 8000;
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"})
    for (const Dims& x : {Dims{1, 64, 7, 7}, Dims{3, 5, 13, 11}, Dims{2, 4, 9}, Dims{1, 3, 4, 5, 6}}) {
      std::string o = op;
      KernelCase k = make("GlobalPool", std::string(o == "GlobalMaxPool" ? "max_" : "avg_") + str(x), o + " " + str(x),
                          [o, x, seed] {
                            OneNode m(o, 13);
                            m.input(randomTensor("X", x, seed));
                            return m;
                          });
      k.flops_fixed = static_cast<double>(volume(x));
      cases.push_back(std::move(k));
      ++seed;
    }
  return cases;
}

// ---- fused layers (the fuse_conv_activation pass makes them out of chains) ----

std::vector<KernelCase> fusedConvCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 9000;
  const char* names[] = {"none", "Relu", "LeakyRelu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "Swish"};
  const char* short_names[] = {"none", "relu", "leaky", "clip", "hswish", "hsigmoid", "sigmoid", "swish"};
  for (int wide = 0; wide < 2; ++wide)  // 8 channels, and 32 (the NHWC path with reorders)
    for (int act = 0; act < 8; ++act)
      for (int residual = 0; residual < 2; ++residual) {
        if (act == 0 && !residual) continue;  // nothing to fuse
        ConvCase c;
        c.n = 2, c.pads = {1, 1, 1, 1};
        if (wide) c.c = 32, c.m = 32, c.spatial = {14, 14};
        std::string name = std::string(short_names[act]) + (residual ? "_res" : "") + (wide ? "_wide" : "");
        std::string label =
            std::string("FusedConv ") + names[act] + (residual ? " + residual" : "") + (wide ? " wide" : "");
        KernelCase k = make("FusedConv", name, label, [c, act, residual, seed] {
          OneNode m = convModel(c, false, seed);
          Dims y{c.n, c.m, c.spatial[0], c.spatial[1]};
          if (residual) m.then("Add").input(randomTensor("Z", y, seed + 5));
          switch (act) {
            case 1: m.then("Relu"); break;
            case 2: m.then("LeakyRelu").real("alpha", 0.1f); break;
            case 3: clip(m, -0.5f, 0.75f, seed); break;
            case 4: m.then("HardSwish"); break;
            case 5: m.then("HardSigmoid").real("alpha", 0.3f).real("beta", 0.4f); break;
            case 6: m.then("Sigmoid"); break;
            case 7: m.thenSwish(); break;
            default: break;
          }
          return m;
        });
        k.layer_op = "FusedConv";
        k.flops_per_output = c.convFlopsPerOutput();
        cases.push_back(std::move(k));
        seed += 7;
      }
  // A residual that broadcasts ([M, 1, 1]) runs on the reference kernel inside the cpu kernel.
  ConvCase c;
  c.pads = {1, 1, 1, 1};
  KernelCase k = make("FusedConv", "bcast_res_relu", "FusedConv broadcast residual", [c, seed] {
    OneNode m = convModel(c, false, seed);
    m.then("Add").input(randomTensor("Z", {c.m, 1, 1}, seed + 1)).then("Relu");
    return m;
  });
  k.layer_op = "FusedConv";
  k.expect = Expect::kFallback;
  k.flops_per_output = c.convFlopsPerOutput();
  cases.push_back(std::move(k));
  return cases;
}

std::vector<KernelCase> fusedGemmCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 9500;
  // A fully connected layer + ReLU (bias path).
  cases.push_back(make("FusedGemm", "fc_relu", "FusedGemm fc relu", [seed] {
    OneNode m("Gemm", 13);
    m.input(randomTensor("A", {5, 64}, seed)).constant(randomTensor("B", {32, 64}, seed + 1));
    m.constant(randomTensor("C", {32}, seed + 2)).integer("transB", 1);
    m.then("Relu");
    return m;
  }));
  cases.back().flops_per_output = 2.0 * 64;
  // alpha, beta, C [M, N], a residual and a clip (prefill path).
  cases.push_back(make("FusedGemm", "alpha_beta_res_clip", "FusedGemm alpha beta residual clip", [seed] {
    OneNode m("Gemm", 13);
    m.input(randomTensor("A", {24, 7}, seed + 3)).input(randomTensor("B", {24, 9}, seed + 4));
    m.constant(randomTensor("C", {7, 9}, seed + 5)).integer("transA", 1).real("alpha", 0.5f).real("beta", 2.f);
    m.then("Add").input(randomTensor("Z", {7, 9}, seed + 6));
    clip(m, -1.f, 1.f, seed);
    return m;
  }));
  cases.back().flops_per_output = 2.0 * 24;
  // MatMul of a 3-D A by constant weights, + bias + broadcast residual + swish.
  cases.push_back(make("FusedGemm", "matmul_bias_res_swish", "FusedGemm matmul bias residual swish", [seed] {
    OneNode m("MatMul", 13);
    m.input(randomTensor("A", {2, 6, 16}, seed + 7)).constant(randomTensor("B", {16, 12}, seed + 8));
    m.then("Add").constant(randomTensor("bias", {12}, seed + 9));
    m.then("Add").input(randomTensor("Z", {6, 1}, seed + 10));
    m.thenSwish();
    return m;
  }));
  cases.back().flops_per_output = 2.0 * 16;
  for (KernelCase& k : cases) k.layer_op = "FusedGemm";
  return cases;
}

// ---- layers of real networks ----

std::vector<KernelCase> networkLayerCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 9700;
  auto conv = [&](const std::string& name, int64_t c, int64_t m, int64_t hw, int64_t k, int64_t stride,
                  int64_t group = 1) {
    ConvCase cc;
    cc.c = c, cc.m = m, cc.group = group, cc.spatial = {hw, hw}, cc.kernel = {k, k}, cc.strides = {stride, stride};
    cc.pads = {k / 2, k / 2, k / 2, k / 2};
    cc.weight_scale = static_cast<float>(1 / std::sqrt(static_cast<double>(c / group * k * k)));
    cases.push_back(convCase(cc, name, seed));
    seed += 3;
    return cc;
  };
  // ResNet-50: the stem, a 3x3 and the two 1x1s of a stage-1 bottleneck, a stage-4 3x3.
  conv("r50_stem_7x7_s2", 3, 64, 224, 7, 2);
  conv("r50_3x3_64_56", 64, 64, 56, 3, 1);
  conv("r50_1x1_256to64_56", 256, 64, 56, 1, 1);
  ConvCase expand = conv("r50_1x1_64to256_56", 64, 256, 56, 1, 1);
  conv("r50_3x3_512_7", 512, 512, 7, 3, 1);
  // MobileNetV2: a depthwise 3x3 (stride 1 and 2) and the projection after it.
  conv("mv2_dw_144_56", 144, 144, 56, 3, 1, 144);
  conv("mv2_dw_144_56_s2", 144, 144, 56, 3, 2, 144);
  conv("mv2_1x1_144to24_56", 144, 24, 56, 1, 1);
  // The bottleneck's expansion with its residual and ReLU: one FusedConv.
  KernelCase fused = make("FusedConv", "r50_1x1_64to256_56_res_relu", "FusedConv ResNet-50 expansion + residual + relu",
                          [expand, seed] {
                            OneNode m = convModel(expand, false, seed);
                            m.then("Add").input(randomTensor("Z", {1, 256, 56, 56}, seed + 5)).then("Relu");
                            return m;
                          });
  fused.layer_op = "FusedConv";
  fused.flops_per_output = expand.convFlopsPerOutput();
  cases.push_back(std::move(fused));
  seed += 7;
  // The classifier at batch 1 and 8.
  for (int64_t batch : {1, 8}) {
    KernelCase k = make("Gemm", "r50_fc_b" + num(batch), "Gemm ResNet-50 classifier batch " + num(batch), [batch, seed] {
      OneNode g("Gemm", 13);
      Tensor b = randomTensor("B", {1000, 2048}, seed + 1);
      for (float& v : b.values) v /= std::sqrt(2048.f);  // as ConvCase::weight_scale
      g.input(randomTensor("A", {batch, 2048}, seed)).constant(b);
      g.constant(randomTensor("C", {1000}, seed + 2)).integer("transB", 1);
      return g;
    });
    k.flops_per_output = 2.0 * 2048;
    cases.push_back(std::move(k));
    seed += 3;
  }
  // Attention scores of a BERT-base layer (12 heads, 128 tokens, head size 64).
  KernelCase attn = make("MatMul", "bert_qk_12x128x64", "MatMul BERT-base Q K^T", [seed] {
    OneNode m("MatMul", 13);
    m.input(randomTensor("A", {1, 12, 128, 64}, seed)).input(randomTensor("B", {1, 12, 64, 128}, seed + 1));
    return m;
  });
  attn.flops_per_output = 2.0 * 64;
  cases.push_back(std::move(attn));
  seed += 2;
  // ResNet-50's max pool after the stem and its global average pool.
  PoolCase p;
  p.op = "MaxPool", p.x = {1, 64, 112, 112}, p.kernel = {3, 3}, p.strides = {2, 2}, p.pads = {1, 1, 1, 1};
  cases.push_back(poolCase(p, "r50_max_3x3_s2_112", seed++));
  // The same pool where ResNet-50 has it, after the stem and its ReLU (one FusedConv): it then
  // reads the convolution's NHWC output (passes/cpu_layout) instead of plain NCHW. FLOP and the
  // "own layer" share count the pool only.
  ConvCase stem;
  stem.c = 3, stem.m = 64, stem.spatial = {224, 224}, stem.kernel = {7, 7}, stem.strides = {2, 2};
  stem.pads = {3, 3, 3, 3};
  stem.weight_scale = static_cast<float>(1 / std::sqrt(3.0 * 49));
  KernelCase chain = make("Pool", "r50_max_after_stem", "MaxPool 3x3/2 after the ResNet-50 stem + ReLU", [stem, seed] {
    OneNode m = convModel(stem, false, seed);
    m.then("Relu").then("MaxPool").ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("pads", {1, 1, 1, 1});
    return m;
  });
  chain.layer_op = "MaxPool";
  chain.flops_per_output = 9;
  cases.push_back(std::move(chain));
  seed += 3;
  KernelCase gap = make("GlobalPool", "r50_avg_2048x7x7", "GlobalAveragePool ResNet-50 head", [seed] {
    OneNode m("GlobalAveragePool", 13);
    m.input(randomTensor("X", {1, 2048, 7, 7}, seed));
    return m;
  });
  gap.flops_fixed = 2048.0 * 49;
  cases.push_back(std::move(gap));
  return cases;
}

// ---- INT8 layers of real networks (QDQ models the builder folds into QConv / QGemm) ----

namespace {

constexpr float kXScale = 1.f / 127;  // activations uniform in [-1.1, 1.1]: a few saturate

// Float input `name` uniform in [-1.1, 1.1], then QuantizeLinear -> DequantizeLinear (per-tensor
// scale kXScale, zero point 0): the chain's current value is the dequantized activation.
OneNode quantizedInput(const std::string& name, const Dims& dims, uint32_t seed) {
  OneNode m("QuantizeLinear", 13);
  Tensor x = randomTensor(name, dims, seed);
  for (float& v : x.values) v *= 1.1f;
  m.input(x).constant(scalarTensor("x_s", DataType::kFloat, kXScale)).constant(scalarTensor("x_z", DataType::kInt8, 0));
  m.then("DequantizeLinear").inputName("x_s").inputName("x_z");
  return m;
}

// A constant int8 weight W [dims] (values in [-127, 127]) with per-channel scales in
// [0.002, 0.01] on `axis`, dequantized by a prepended node into "W_dq".
void quantizedWeight(OneNode& m, const Dims& dims, int64_t axis, uint32_t seed) {
  int64_t channels = dims[static_cast<size_t>(axis)];
  m.initializer(randomIntTensor("W", dims, DataType::kInt8, -127, 127, seed));
  Tensor s = randomTensor("W_s", {channels}, seed + 1);
  for (float& v : s.values) v = 0.006f + 0.004f * v;
  m.initializer(s).initializer(scalarTensor("W_z", DataType::kInt8, 0, {channels}));
  m.prepend("DequantizeLinear", {"W", "W_s", "W_z"}, "W_dq", {{"axis", axis}});
}

// Quantizes the chain's value to the int8 output Y. Outputs are about +-0.2 * sqrt(depth):
// y_scale puts 3 sigma at 127, so a few saturate.
void quantizedOutput(OneNode& m, double depth) {
  float y_scale = static_cast<float>(3 * 0.2 * std::sqrt(depth) / 127);
  m.then("QuantizeLinear").constant(scalarTensor("y_s", DataType::kFloat, y_scale));
  m.constant(scalarTensor("y_z", DataType::kInt8, 0)).outputType(DataType::kInt8);
}

KernelCase qconvCase(const ConvCase& c, bool relu, std::string name, uint32_t seed) {
  std::string label = "QConv " + c.label().substr(5) + (relu ? " relu" : "") + " int8";
  KernelCase k = make("QConv", std::move(name), label, [c, relu, seed] {
    Dims x{c.n, c.c}, w{c.m, c.c / c.group};
    x.insert(x.end(), c.spatial.begin(), c.spatial.end());
    w.insert(w.end(), c.kernel.begin(), c.kernel.end());
    OneNode m = quantizedInput("X", x, seed);
    quantizedWeight(m, w, 0, seed + 1);
    m.then("Conv").inputName("W_dq");
    if (c.bias) m.constant(randomTensor("B", {c.m}, seed + 3));
    m.integer("group", c.group);
    if (!c.strides.empty()) m.ints("strides", c.strides);
    if (!c.pads.empty()) m.ints("pads", c.pads);
    if (relu) m.then("Relu");
    quantizedOutput(m, static_cast<double>(c.c / c.group) * product(c.kernel));
    return m;
  });
  k.layer_op = "QConv";
  k.flops_per_output = c.convFlopsPerOutput();
  return k;
}

}  // namespace

std::vector<KernelCase> int8NetworkLayerCases() {
  std::vector<KernelCase> cases;
  uint32_t seed = 9900;
  auto conv = [&](const std::string& name, int64_t c, int64_t m, int64_t hw, int64_t k, int64_t stride, bool relu,
                  int64_t group = 1) {
    ConvCase cc;
    cc.c = c, cc.m = m, cc.group = group, cc.spatial = {hw, hw}, cc.kernel = {k, k}, cc.strides = {stride, stride};
    cc.pads = {k / 2, k / 2, k / 2, k / 2};
    cases.push_back(qconvCase(cc, relu, name, seed));
    seed += 4;
  };
  // The FP32 list's ResNet-50 and MobileNetV2 layers, quantized (with the ReLU that follows).
  conv("r50_stem_7x7_s2_relu", 3, 64, 224, 7, 2, true);
  conv("r50_3x3_64_56_relu", 64, 64, 56, 3, 1, true);
  conv("r50_1x1_256to64_56_relu", 256, 64, 56, 1, 1, true);
  conv("r50_1x1_64to256_56", 64, 256, 56, 1, 1, false);
  conv("r50_3x3_512_7_relu", 512, 512, 7, 3, 1, true);
  conv("mv2_dw_144_56_relu", 144, 144, 56, 3, 1, true, 144);
  conv("mv2_1x1_144to24_56", 144, 24, 56, 1, 1, false);
  // The classifier at batch 1 and 8.
  for (int64_t batch : {1, 8}) {
    KernelCase k = make("QGemm", "r50_fc_b" + num(batch), "QGemm ResNet-50 classifier batch " + num(batch) + " int8",
                        [batch, seed] {
                          OneNode m = quantizedInput("A", {batch, 2048}, seed);
                          quantizedWeight(m, {1000, 2048}, 0, seed + 1);
                          m.then("Gemm").inputName("W_dq").constant(randomTensor("C", {1000}, seed + 3));
                          m.integer("transB", 1);
                          quantizedOutput(m, 2048);
                          return m;
                        });
    k.layer_op = "QGemm";
    k.flops_per_output = 2.0 * 2048;
    cases.push_back(std::move(k));
    seed += 4;
  }
  return cases;
}

std::vector<KernelCase> bf16NetworkLayerCases() {
  BuilderConfig bf16;
  bf16.setLayerPrecision("*", Precision::kBF16);
  bf16.setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  std::vector<KernelCase> cases;
  for (KernelCase& k : networkLayerCases()) {
    if (k.family != "Conv" && k.family != "FusedConv" && k.family != "Gemm" && k.family != "MatMul") continue;
    if (k.layer_op.empty()) k.layer_op = k.family;  // its share against the Casts at the edges
    k.family = "Bf16" + k.family;
    k.label = "BF16 " + k.label;
    k.model = [make = std::move(k.model)] {
      OneNode m = make();
      m.roundFloatsTo(DataType::kBFloat16);
      return m;
    };
    k.config = bf16;
    k.reference_fp32 = true;
    // bf16 output (8-bit mantissa): one rounding, 2^-9 relative, plus f32 accumulation order.
    k.tolerance = std::ldexp(1.0, -8);
    cases.push_back(std::move(k));
  }
  return cases;
}

namespace {

// Softmax / LogSoftmax of X [dims] at `axis` (none: the opset's default), opset 11 (coerced to
// 2-D at axis) or 13 (one axis). X uniform in [-scale, scale).
KernelCase softmaxCase(const std::string& op, int opset, Dims x, std::optional<int64_t> axis, float scale,
                       std::string name, uint32_t seed) {
  std::string label = op + " opset " + num(opset) + " X" + str(x) + (axis ? " axis " + num(*axis) : " default axis");
  KernelCase k = make("Softmax", std::move(name), label, [=] {
    OneNode m(op, opset);
    Tensor t = randomTensor("X", x, seed);
    for (float& v : t.values) v *= scale;
    m.input(t);
    if (axis) m.integer("axis", *axis);
    return m;
  });
  k.flops_per_output = 5;  // max, subtract, exp, sum, divide
  return k;
}

// LayerNormalization (opset 17) of X at `axis` with Scale (and B) of the given dims.
KernelCase layerNormCase(Dims x, int64_t axis, Dims scale, std::optional<Dims> bias, float epsilon, std::string name,
                         uint32_t seed) {
  std::string label = "LayerNormalization X" + str(x) + " axis " + num(axis) + " Scale" + str(scale) +
                      (bias ? " B" + str(*bias) : " no B") + " epsilon " + std::to_string(epsilon);
  KernelCase k = make("LayerNorm", std::move(name), label, [=] {
    OneNode m("LayerNormalization", 17);
    Tensor t = randomTensor("X", x, seed);
    for (size_t i = 0; i < t.values.size(); ++i) t.values[i] = t.values[i] * 3 + 0.5f;  // mean and spread not 0, 1
    m.input(t);
    m.constant(randomTensor("Scale", scale, seed + 1));
    if (bias) m.constant(randomTensor("B", *bias, seed + 2));
    m.integer("axis", axis);
    m.real("epsilon", epsilon);
    return m;
  });
  k.flops_per_output = 8;
  return k;
}

// Cast of X (stored as `from`: fp16/bf16 from random fp32 values, integers in their range) to fp32.
KernelCase castCase(DataType from, Dims x, std::string name, uint32_t seed) {
  KernelCase k = make("Cast", std::move(name), std::string("Cast ") + dataTypeName(from) + " -> float X" + str(x), [=] {
    OneNode m("Cast", 19);
    Tensor t;
    if (from == DataType::kHalf || from == DataType::kBFloat16) {
      t = randomTensor("X", x, seed);
      t.type = from;
      t.raw.resize(t.values.size() * 2);
      for (size_t i = 0; i < t.values.size(); ++i) {
        const float v = t.values[i] * 1000;
        const uint16_t b = from == DataType::kHalf ? floatToHalf(v) : floatToBFloat16(v);
        std::memcpy(&t.raw[i * 2], &b, 2);
      }
      t.values.clear();
    } else {
      const bool u8 = from == DataType::kUInt8, s8 = from == DataType::kInt8;
      const int64_t lo = s8 ? -128 : u8 ? 0 : -(int64_t{1} << 30), hi = s8 ? 127 : u8 ? 255 : int64_t{1} << 30;
      t = randomIntTensor("X", x, from, lo, hi, seed);
    }
    m.input(t);
    m.integer("to", static_cast<int64_t>(DataType::kFloat));
    return m;
  });
  k.tolerance = 0;  // exact: every one of these values is a float
  return k;
}

}  // namespace

std::vector<KernelCase> softmaxCases() {
  uint32_t seed = 9100;
  std::vector<KernelCase> v;
  v.push_back(softmaxCase("Softmax", 13, {2, 3, 37}, -1, 4, "o13_last_tail", seed++));
  v.push_back(softmaxCase("Softmax", 13, {2, 5, 7, 3}, 1, 4, "o13_axis1_inner", seed++));
  v.push_back(softmaxCase("Softmax", 13, {6, 4, 5}, 0, 4, "o13_axis0", seed++));
  v.push_back(softmaxCase("Softmax", 13, {3, 17}, std::nullopt, 4, "o13_default", seed++));
  v.push_back(softmaxCase("Softmax", 13, {4, 5003}, -1, 20, "o13_large_row", seed++));
  v.push_back(softmaxCase("Softmax", 11, {2, 3, 4, 5}, 1, 4, "o11_axis1_flatten", seed++));
  v.push_back(softmaxCase("Softmax", 11, {2, 3, 4, 5}, 2, 4, "o11_axis2_flatten", seed++));
  v.push_back(softmaxCase("Softmax", 11, {5, 33}, std::nullopt, 4, "o11_default", seed++));
  v.push_back(softmaxCase("Softmax", 11, {2, 3, 7}, 0, 4, "o11_axis0_one_row", seed++));
  // PP-OCRv4 rec: attention scores [1, 8, 40, 40] and the classifier's [1, 40, 6625].
  v.push_back(softmaxCase("Softmax", 11, {1, 8, 40, 40}, -1, 8, "ppocr_rec_attention", seed++));
  v.push_back(softmaxCase("Softmax", 11, {1, 40, 6625}, 2, 8, "ppocr_rec_classes", seed++));
  v.push_back(softmaxCase("LogSoftmax", 13, {3, 129}, -1, 4, "log_o13_last", seed++));
  v.push_back(softmaxCase("LogSoftmax", 13, {2, 9, 5}, 1, 4, "log_o13_axis1_inner", seed++));
  v.push_back(softmaxCase("LogSoftmax", 11, {2, 3, 17}, 1, 4, "log_o11_flatten", seed++));
  v.push_back(softmaxCase("LogSoftmax", 13, {2, 4099}, -1, 20, "log_o13_large_row", seed++));
  // Strided rows (an axis before the last, opset 13) run the reference kernel inside the cpu one.
  for (KernelCase& k : v)
    if (k.name == "o13_axis1_inner" || k.name == "o13_axis0" || k.name == "log_o13_axis1_inner")
      k.expect = Expect::kFallback;
  return v;
}

std::vector<KernelCase> layerNormCases() {
  uint32_t seed = 9200;
  std::vector<KernelCase> v;
  v.push_back(layerNormCase({2, 7, 33}, -1, {33}, Dims{33}, 1e-5f, "last_tail", seed += 3));
  v.push_back(layerNormCase({2, 5, 6, 7}, 1, {5, 6, 7}, Dims{5, 6, 7}, 1e-5f, "axis1", seed += 3));
  v.push_back(layerNormCase({3, 4, 19}, -1, {19}, std::nullopt, 1e-6f, "no_bias", seed += 3));
  v.push_back(layerNormCase({3, 4, 19}, -1, {1}, Dims{1}, 1e-5f, "scalar_scale_bias", seed += 3));
  v.push_back(layerNormCase({4, 4096}, -1, {4096}, Dims{4096}, 1e-5f, "large_row", seed += 3));
  v.push_back(layerNormCase({1, 40, 120}, -1, {120}, Dims{120}, 1e-6f, "ppocr_rec_svtr", seed += 3));
  // Scale broadcast over part of the normalized dims: the reference kernel inside the cpu one.
  KernelCase k = layerNormCase({2, 5, 6, 7}, 1, {1, 6, 7}, Dims{5, 1, 1}, 1e-5f, "partial_broadcast", seed += 3);
  k.expect = Expect::kFallback;
  v.push_back(std::move(k));
  return v;
}

std::vector<KernelCase> castToFloatCases() {
  uint32_t seed = 9300;
  std::vector<KernelCase> v;
  v.push_back(castCase(DataType::kHalf, {3, 1001}, "f16_f32", seed++));
  v.push_back(castCase(DataType::kBFloat16, {3, 1001}, "bf16_f32", seed++));
  v.push_back(castCase(DataType::kInt8, {2, 517}, "s8_f32", seed++));
  v.push_back(castCase(DataType::kUInt8, {2, 517}, "u8_f32", seed++));
  v.push_back(castCase(DataType::kInt32, {2, 517}, "s32_f32", seed++));
  v.push_back(castCase(DataType::kInt64, {2, 517}, "s64_f32", seed++));
  v.push_back(castCase(DataType::kHalf, {1, 64, 80, 80}, "f16_f32_large", seed++));
  return v;
}

const std::vector<CaseList>& caseLists() {
  static const std::vector<CaseList> lists = {
      {"Conv2dMatrix", conv2dMatrixCases},
      {"ConvVariants", convVariantCases},
      {"ConvTransposeMatrix", convTransposeMatrixCases},
      {"ConvTransposeVariants", convTransposeVariantCases},
      {"GemmMatrix", gemmMatrixCases},
      {"GemmShapes", gemmShapeCases},
      {"MatMulMatrix", matMulCases},
      {"Pools", poolCases},
      {"GlobalPools", globalPoolCases},
      {"FusedConv", fusedConvCases},
      {"FusedGemm", fusedGemmCases},
      {"NetworkLayers", networkLayerCases},
      {"Int8NetworkLayers", int8NetworkLayerCases},
      {"Bf16NetworkLayers", bf16NetworkLayerCases},
      {"Softmax", softmaxCases},
      {"LayerNorm", layerNormCases},
      {"CastToFloat", castToFloatCases},
  };
  return lists;
}

}  // namespace qrt::test
