// What the CPU can compute natively, as oneDNN sees it (its ISA query honours DNNL_MAX_CPU_ISA),
// for the builder's precision choice (src/builder/precision.cpp) and `qrt inspect`'s reasons.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

#include "qrt/types.h"

namespace qrt::cpu {

// The oneDNN data type of a qrt dtype (undef for those oneDNN has none of).
dnnl::memory::data_type dnnlType(DataType t);

// oneDNN's effective ISA, e.g. "avx512_core_bf16".
std::string isaName();
// BF16 dot products in hardware (AVX512_BF16, as oneDNN's avx512_core_bf16 or AMX): oneDNN's
// bf16 convolutions and matmuls run at about twice the fp32 rate. Without it oneDNN emulates
// bf16 (or uses its reference code), which is slower than fp32.
bool hasNativeBf16();
// FP16 arithmetic (AVX512_FP16, from CPUID). The cpu backend has no fp16 kernels either way.
bool hasNativeFp16();

}  // namespace qrt::cpu
