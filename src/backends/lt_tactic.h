// The stored form of a cuBLASLt matmul algorithm (the CUDA backend's GEMM tactics,
// cuda/gemm_tactics.h), free of CUDA headers and compiled in every build so its string form is
// tested on machines without a GPU (tests/lt_tactic_test.cpp).
//
// An algorithm is kept as its public configuration (cublasLtMatmulAlgoConfigAttributes_t: the
// algorithm id, tile, stages, split-K count, reduction scheme, CTA swizzle, custom option, inner
// and cluster shape), which cublasLtMatmulAlgoInit plus ConfigSetAttribute rebuild, rather than
// the opaque 8 x uint64 of cublasLtMatmulAlgo_t, whose layout cuBLASLt does not document. The
// builder times the rebuilt algorithm, so what is stored is what was timed.
#pragma once

#include <cstdint>
#include <string>

namespace qrt::cuda {

// "lt:a<id>:t<tile>:s<stages>:k<splitK>:r<reduction>:w<swizzle>:c<custom>:i<inner>:g<cluster>".
struct LtTactic {
  int32_t algo = -1;
  uint32_t tile = 0, stages = 0;
  int32_t split_k = 1;
  uint32_t reduction = 0, swizzle = 0, custom = 0;
  uint16_t inner = 0, cluster = 0;

  std::string str() const;
  // False (and *t untouched) for anything str() does not write.
  static bool parse(const std::string& s, LtTactic* t);
  bool operator==(const LtTactic&) const = default;
};

}  // namespace qrt::cuda
