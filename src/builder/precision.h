// Precision choice per layer for host (CPU) builds, TensorRT's way: the builder flags allow
// FP16 / BF16, layer precisions (BuilderConfig::setLayerPrecision) constrain single layers, and
// where more than one kernel is allowed for a layer the builder times each on the layer's real
// shapes and keeps the fastest. The choice becomes dtypes in the IR (passes::convertPrecision);
// the reasons and timings go into the "layer_tactics" metadata, which Engine::layers() and
// `qrt inspect` show. See docs/precision.md.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/builder.h"

namespace qrt {

// Runs after the graph passes and before finalizeEngine on a host build. `cpu_allowed` is false
// under QRT_BACKEND=reference (then only the reference backend's kernels are candidates).
Status assignPrecisions(ir::Graph& g, const BuilderConfig& config, bool cpu_allowed,
                        std::map<std::string, std::string>* metadata);

// "fp32", "fp16", "bf16" (as --layer-precisions spells them) -> Precision.
Result<Precision> parsePrecision(const std::string& name);

// Whether a --layer-precisions name names the layer `layer`: its name, or names that a fused layer's
// name joins with " + " ("conv1" and "conv1 + bn1" name "conv1 + bn1 + relu1": the model's node
// names, and an INT8 engine's layer names, still name a layer fused further).
bool layerNameMatches(const std::string& layer, const std::string& name);
// The model's node names a fused layer's name joins with " + " ("conv1 + relu1" -> conv1, relu1);
// a plain name is its own one part.
std::vector<std::string> layerNameParts(const std::string& name);

// An integer layer: qrt's QConv / QGemm / QMatMul (and the other fused ops whose names start with Q
// in the qrt domain), ConvInteger, MatMulInteger.
bool isIntegerLayer(const ir::Node& n);

// Every --layer-precisions name names a layer of g (layerNameMatches; "*" aside), and none asks
// for int8 (INT8 comes from --int8): else the error names it.
Status checkLayerPrecisionNames(const ir::Graph& g, const BuilderConfig& config);

// The layers a float layer precision keeps out of INT8 (builder.cpp gives them to insertQdq): with
// --precision-constraints prefer or obey, every layer named at fp32, fp16 or bf16 (a fused name
// "a + b" names a and b), as TensorRT's constraint overrides its INT8 flag. "*" names the float
// layers only; it takes nothing out of INT8.
std::set<std::string> layersKeptOutOfInt8(const BuilderConfig& config);

// After foldQdq: a layer named at a float precision that still runs in INT8 (the model's own Q/DQ
// put it there, or a name insertQdq did not see): obey fails naming it, prefer warns, and without
// constraints a warning says how to keep it out of INT8.
Status checkInt8LayerPrecisions(const ir::Graph& g, const BuilderConfig& config);

// Layer precisions on a device build (CUDA), after its graph steps: a CUDA engine runs every float
// layer at one precision, fp16 with --fp16, else fp32, so a layer precision is honoured when it is
// that one (in an INT8 build a named layer is then kept out of INT8: layersKeptOutOfInt8). Another
// precision fails under obey and warns otherwise; a name that names no layer fails; int8 is refused
// (INT8 comes from --int8).
Status checkDeviceLayerPrecisions(const ir::Graph& g, const BuilderConfig& config);

}  // namespace qrt
