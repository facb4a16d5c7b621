// qrt public API: a network imported from ONNX, before it is built into an engine.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt {

namespace ir {
class Graph;
}

struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Dims dims;  // -1 for dynamic dimensions
};

// One layer (node) as shown by `qrt inspect`.
struct LayerInfo {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<Dims> output_dims;  // as inferred at build time (-1 where dynamic)
  std::string precision;          // "fp32", "fp16", "int8", ... (the dtype of the first output)
  std::string backend;            // "reference", "cpu", "cuda", or "host" for shape computations
  // Why the builder chose this precision and kernel (empty when nothing was to choose), and the
  // candidates it timed ("cpu bf16" -> median ms).
  std::string reason;
  std::vector<std::pair<std::string, double>> timings_ms;
};

class Network {
 public:
  explicit Network(std::unique_ptr<ir::Graph> graph);
  ~Network();
  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;

  std::vector<TensorInfo> inputs() const;
  std::vector<TensorInfo> outputs() const;
  std::vector<LayerInfo> layers() const;
  // A readable dump of the graph (one line per node).
  std::string toString() const;

  // Internal access for the builder and tools inside qrt.
  ir::Graph& graph() { return *graph_; }
  const ir::Graph& graph() const { return *graph_; }

 private:
  std::unique_ptr<ir::Graph> graph_;
};

// Parses an ONNX model file. External data files are resolved relative to the model's folder
// and may not escape it. Unsupported operators are reported here, with the node's name.
Result<std::unique_ptr<Network>> parseOnnxFile(const std::string& path);
// Parses an in-memory ONNX model; `base_dir` resolves external data ("" forbids it).
Result<std::unique_ptr<Network>> parseOnnxBuffer(const void* data, size_t size, const std::string& base_dir);

}  // namespace qrt
