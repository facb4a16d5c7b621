// The ONNX exporter: ir::Graph -> ModelProto. Used by `qrt export-qdq` to write QDQ models for
// ONNX Runtime and TensorRT, and by tests to check that import -> export -> import is lossless.
//
// What is written: every node with all its attributes; constants as initializers (raw_data,
// little-endian); graph inputs and outputs with dtypes and dims (a dynamic dim becomes the
// dim_param "<tensor>_dim<i>"); value_info for intermediate values whose dtype is known (with
// their dims when known; dynamic dims stay anonymous); one opset per domain; producer "qrt".
//
// One opset per domain: qrt keeps an opset per node, ONNX one per model. The default-domain
// opset written is the largest of the graph's, every node's, the first opset of every op used
// (a pass may make HardSwish, opset 14, in an older model) and ExportOptions::min_opset; nodes
// below it are rewritten into that opset's form (onnx/opset_upgrade.h). A graph with per-axis
// QuantizeLinear/DequantizeLinear is written at opset 13 or later, where they exist.
//
// qrt's internal ops (domain "qrt": FusedConv, QConv, ...) have no ONNX form. A graph holding
// them is refused: export the graph before fusion and foldQdq (the QDQ form).
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt {

struct ExportOptions {
  // The least default-domain opset to write (0: the graph's own).
  int min_opset = 0;
  // Write value_info (type and shape) for intermediate values.
  bool value_info = true;
  std::string graph_name;  // "" keeps the graph's name ("qrt" when it has none)
  std::string doc_string;  // the model's doc_string
  std::map<std::string, std::string> metadata;  // metadata_props

  // Where exportOnnxFile puts initializers: in the model, or in "<model file name>.data" beside
  // it (ONNX external data) for initializers of at least external_min_bytes. kAuto uses external
  // data only when the model would not fit protobuf's 2 GB limit.
  enum class ExternalData { kAuto, kNever, kAlways };
  ExternalData external_data = ExternalData::kAuto;
  size_t external_min_bytes = 1024;
};

// The default-domain opset exportOnnx writes for this graph and these options.
int exportOpset(const ir::Graph& graph, const ExportOptions& options);

// The ONNX IR version written with a default-domain opset: 8 up to opset 18 (ONNX 1.10 to 1.13,
// which every ONNX Runtime and TensorRT 8.6+ read), then 9 (opsets 19, 20) and 10 (21).
int irVersionForOpset(int opset);

// The serialized ModelProto. Fails (kUnsupported) for qrt-domain nodes, for values of types
// ONNX files cannot hold here, and for models over 2 GB (use exportOnnxFile).
Result<std::string> exportOnnx(const ir::Graph& graph, const ExportOptions& options = {});

// Writes the model to `path` atomically (temporary file, then rename); with external data, the
// data file is written first, also atomically.
Status exportOnnxFile(const ir::Graph& graph, const std::string& path, const ExportOptions& options = {});

}  // namespace qrt
