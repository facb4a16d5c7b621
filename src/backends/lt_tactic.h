// The stored form of a cuBLASLt matmul algorithm (the CUDA backend's GEMM tactics,
// cuda/gemm_tactics.h), free of CUDA headers and compiled in every build so its string form is
// tested on machines without a GPU (tests/lt_tactic_test.cpp).
//
// An algorithm is kept as its public configuration (cublasLtMatmulAlgoConfigAttributes_t: the
// algorithm id, tile, stages, split-K count, reduction scheme, CTA swizzle, custom option, inner
// and cluster shape), which cublasLtMatmulAlgoInit plus ConfigSetAttribute rebuild, rather than
// the opaque 8 x uint64 of cublasLtMatmulAlgo_t, whose layout cuBLASLt does not document. The
// builder times the rebuilt algorithm, so what is stored is what was timed. Only where a
// heuristic algorithm does not rebuild from its configuration (cublasLtMatmulAlgoCheck refuses
// it) are its raw bytes kept too (":x" and 128 hex digits): they are meaningful to the same
// cuBLASLt only, which the timing cache key and the engine's metadata name, and reshape still
// runs them through cublasLtMatmulAlgoCheck (any algorithm that passes computes the product).
#pragma once

#include <cstdint>
#include <string>

namespace qrt::cuda {

// "lt:a<id>:t<tile>:s<stages>:k<splitK>:r<reduction>:w<swizzle>:c<custom>:i<inner>:g<cluster>[:x<raw>]".
struct LtTactic {
  int32_t algo = -1;
  uint32_t tile = 0, stages = 0;
  int32_t split_k = 1;
  uint32_t reduction = 0, swizzle = 0, custom = 0;
  uint16_t inner = 0, cluster = 0;
  bool has_raw = false;
  uint64_t raw[8] = {};  // cublasLtMatmulAlgo_t's bytes, where has_raw

  std::string str() const;
  // False (and *t untouched) for anything str() does not write.
  static bool parse(const std::string& s, LtTactic* t);
  bool operator==(const LtTactic&) const = default;
};

}  // namespace qrt::cuda
