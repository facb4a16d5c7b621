#include "backends/cpu/isa.h"

#include <cpuid.h>

namespace qrt::cpu {

dnnl::memory::data_type dnnlType(DataType t) {
  using dt = dnnl::memory::data_type;
  switch (t) {
    case DataType::kFloat: return dt::f32;
    case DataType::kBFloat16: return dt::bf16;
    case DataType::kHalf: return dt::f16;
    case DataType::kInt8: return dt::s8;
    case DataType::kUInt8: return dt::u8;
    case DataType::kInt32: return dt::s32;
    default: return dt::undef;
  }
}

std::string isaName() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    default: return "unknown";
  }
}

bool hasNativeBf16() {
  // oneDNN's ISA values are bit sets: every ISA that contains avx512_core_bf16 has its bits.
  const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const unsigned bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}

bool hasNativeFp16() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (d >> 23) & 1u;  // CPUID.(EAX=7,ECX=0):EDX[23] = AVX512_FP16
}

}  // namespace qrt::cpu
