// The CUDA backend as the rest of qrt sees it (see runtime/kernel_factory.h): the builder step,
// the per-context device runtime, and kernel creation.
#pragma once

#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/kernel.h"
#include "runtime/kernel_factory.h"
#include "passes/unfold_qconv.h"

namespace qrt::cuda {

class DeviceContext;

// Builder step of a --device cuda build (see prepareGraphForDevice).
Status prepareGraph(ir::Graph& graph, const BuilderConfig& config, std::map<std::string, std::string>& metadata);
// The device runtime of one execution context.
Result<std::unique_ptr<DeviceRuntime>> createRuntime(const std::shared_ptr<const Engine::Impl>& engine);
// The node's CUDA kernel (dev == nullptr: validation only).
Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node, DeviceContext* dev);

// The graph steps of prepareGraph, one file each.
// Nodes that run on the host at reshape time (the builder's rule for "host" nodes).
std::set<const ir::Node*> hostNodes(const ir::Graph& g);
// Float values between half-capable device nodes become fp16; Casts at the boundaries. fp16.cpp
Status convertToHalf(ir::Graph& g, int* converted_nodes);
// Channels-last storage for FP16 convolutions and the nodes around them. layout.cpp
Status assignChannelsLast(ir::Graph& g, int* nhwc_nodes, int* layout_changes);
// INT8 convolutions over <= 4 input channels (stems) back to float, before convertToHalf
// (QRT_CUDA_INT8_STEM=int8 keeps them); after it, their requantization reads fp16 directly and
// the engine's layer info gets the reason. int8_stems.cpp
Status unfoldInt8Stems(ir::Graph& g, passes::UnfoldReport* report);
Status finishInt8Stems(ir::Graph& g, const passes::UnfoldReport& report, std::map<std::string, std::string>& metadata);
// INT8 residual tails Add [-> Relu] -> QuantizeLinear as one AddQuantize node. fuse_add_quantize.cpp
Status fuseAddQuantize(ir::Graph& g, int* fused);
// After the tactics: a stem FusedConv on qrt's stem kernel reads its input through the Cast and
// NCHW -> NHWC layout change that fed it, which go. stem_input.cpp
Status fuseStemInput(ir::Graph& g, int* fused);
// The chain fuseStemInput removes in front of a stem FusedConv `n` (the Identity to NHWC, and
// the Cast before it where there is one), and the value the stem then reads; nullopt where n is
// no such stem or its input comes otherwise. Needs the graph's uses built. stem_input.cpp
struct StemInputChain {
  std::vector<ir::Node*> nodes;
  ir::Value* src = nullptr;
};
std::optional<StemInputChain> stemInputChain(const ir::Graph& g, const ir::Node& n);
// Then an INT8 stem on that kernel quantizes its own output: its pool (MaxPoolQuantize) runs on
// int8 as a MaxPool, or its QuantizeLinear goes. stem_quantize.cpp
Status fuseStemQuantize(ir::Graph& g, int* fused);
// The only reader of the stem `n`'s fp16 output that the stem kernel can quantize for (a
// MaxPoolQuantize, or a per-tensor QuantizeLinear), or nullptr; `reads_nchw`: whether n reads
// the engine's NCHW input (fuseStemInput done or about to be). stem_quantize.cpp
ir::Node* stemQuantizeReader(const ir::Node& n, bool reads_nchw);
// Whether the stem kernel should take `n` though another tactic (`best_tactic`, best_us alone)
// timed faster on the layer alone: on the stem kernel n reads the engine's NCHW input itself and
// quantizes for a QuantizeLinear reader, so the Cast, the layout copy and the QuantizeLinear the
// other tactic needs around it do not run. Times the stem kernel as it will run and those nodes'
// kernels on scratch data (stem_choice.cpp); `why` says what was compared.
Result<bool> stemSavesMore(const ir::Graph& g, const ir::Node& n, DeviceContext* dev, double best_us,
                           const std::string& best_tactic, std::string* why);
// Then such a stem whose only reader is a 3x3 / 2 / pad 1 MaxPool pools its own output (by default
// the fp16 stem, where the batch gives the pooled kernel a block for each of the sm_count SMs;
// QRT_CUDA_STEM_POOL=on: every such stem, int8 too, at any batch; =off: none). stem_pool.cpp
Status fuseStemPool(ir::Graph& g, int sm_count, int* fused);
// A residual block's downsample QConv computed inside the QConv that adds it (plain implicit-GEMM
// tiles for both; timed, QRT_CUDA_DS_FUSE=off skips it). downsample_fuse.cpp
// With a timing cache (cache_path; `where`: convCacheWhere), a pair's timed verdict is stored there
// and read back by the next build instead of timing it again.
Status fuseDownsampleResidual(ir::Graph& g, int* fused, const std::string& cache_path = {},
                              const std::string& where = {});

}  // namespace qrt::cuda
