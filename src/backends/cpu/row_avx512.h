// AVX-512 helpers for the cpu backend's own row loops (softmax.cpp, layer_norm.cpp): the ISA
// check and a vector exp. Why own loops at all: on PP-OCR's small rows oneDNN 2.6's softmax and
// layer normalization took 40-45 us a call on the 2-core dev machine (a fixed cost: 0.1 to 5 us
// of work), where these loops over qrt's pool take 1.5-12 us
// (bench/results/cpu-ops-2026-11-27.md). Functions carry target attributes: the build has no
// -march flag, and callers check hasAvx512() first.
#pragma once

#include <immintrin.h>

// GCC 12 reports the intrinsics' own _mm512_undefined_* placeholders as "maybe uninitialized"
// where they are inlined, i.e. in the files including this one (which use no other pragma).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace qrt::cpu {

inline bool hasAvx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

// e^x for every lane, within a few ulp of the exact result for x in [-87.3, 88.7];
// below that 0 or a subnormal (through scalef), NaN stays NaN. x = n ln2 + r with |r| <= ln2/2
// (ln2 split in two for an exact product), e^r by its degree-6 Taylor polynomial (truncation
// error 1.2e-7 relative on that interval), scaled by 2^n.
__attribute__((target("avx512f"))) inline __m512 expAvx512(__m512 x) {
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
  // min/max return their second operand when one is NaN: x last keeps a NaN a NaN.
  x = _mm512_max_ps(_mm512_set1_ps(-104.f), _mm512_min_ps(_mm512_set1_ps(88.7f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
  r = _mm512_fnmadd_ps(n, ln2_lo, r);
  __m512 p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// Sum of the 16 lanes.
__attribute__((target("avx512f"))) inline float sumAvx512(__m512 v) { return _mm512_reduce_add_ps(v); }

}  // namespace qrt::cpu
