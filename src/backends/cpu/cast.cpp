// Cast on the cpu backend: fp32 <-> fp16, fp32 <-> bf16 in AVX-512 (16 values per step), and
// int8 / uint8 / int32 / int64 / bool -> fp32 in plain loops the compiler vectorizes. Results are
// bit-identical to the reference backend's (backends/reference/cast.cpp, core/half.h): round
// to nearest even, overflow to infinity, NaN kept NaN with its payload truncated and the quiet
// bit set (fp32 -> fp16/bf16), fp16 NaN payloads widened without quieting (fp16 -> fp32).
// Why not the hardware instructions everywhere: VCVTNEPS2BF16 flushes fp32 subnormals to zero
// and VCVTPH2PS quiets signalling NaNs, where the reference does neither; those two directions
// use integer arithmetic on the bits instead (fp32 -> bf16 entirely, fp16 -> fp32 for NaN
// lanes). VCVTPS2PH with round-to-nearest-even matches the reference exactly.
// Pairs not listed (to integers, with their saturation rules; fp16 <-> bf16; doubles) are
// refused at creation and run on the reference backend.
#include <immintrin.h>

#include <cstring>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/row_avx512.h"
#include "core/half.h"
#include "core/threadpool.h"

namespace qrt::cpu {

namespace {

// Elements per chunk sent to another thread: a conversion is a few cycles per element.
constexpr int64_t kGrain = 32768;

// ---- AVX-512 bodies: whole groups of 16, return how many they did ------------------------

__attribute__((target("avx512f"))) int64_t f32ToF16Avx512(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), h);
  }
  return i;
}

__attribute__((target("avx512f"))) int64_t f16ToF32Avx512(const uint16_t* x, float* y, int64_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fff), inf16 = _mm512_set1_epi32(0x7c00);
  const __m512i sign16 = _mm512_set1_epi32(0x8000), mant16 = _mm512_set1_epi32(0x3ff);
  const __m512i exp32 = _mm512_set1_epi32(0x7f800000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    __m512 f = _mm512_cvtph_ps(h);
    const __m512i w = _mm512_cvtepu16_epi32(h);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(w, abs_mask), inf16);
    if (nan) {
      // sign << 16 | exponent all ones | payload << 13, unquieted (as halfToFloat).
      const __m512i bits = _mm512_or_si512(
          _mm512_slli_epi32(_mm512_and_si512(w, sign16), 16),
          _mm512_or_si512(exp32, _mm512_slli_epi32(_mm512_and_si512(w, mant16), 13)));
      f = _mm512_mask_blend_ps(nan, f, _mm512_castsi512_ps(bits));
    }
    _mm512_storeu_ps(y + i, f);
  }
  return i;
}

__attribute__((target("avx512f"))) int64_t f32ToBf16Avx512(const float* x, uint16_t* y, int64_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i u = _mm512_castps_si512(_mm512_loadu_ps(x + i));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
    // Round to nearest even: add 0x7fff plus the lowest kept bit, keep the high half.
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, lsb)), 16);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), quiet);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtepi32_epi16(r));
  }
  return i;
}

__attribute__((target("avx512f"))) int64_t bf16ToF32Avx512(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  return i;
}

// ---- the pairs ------------------------------------------------------------------------------

using Converter = void (*)(const void* x, void* y, int64_t n);  // one chunk, single-threaded

void f32ToF16(const void* xv, void* yv, int64_t n) {
  const float* x = static_cast<const float*>(xv);
  uint16_t* y = static_cast<uint16_t*>(yv);
  for (int64_t i = hasAvx512() ? f32ToF16Avx512(x, y, n) : 0; i < n; ++i) y[i] = floatToHalf(x[i]);
}
void f16ToF32(const void* xv, void* yv, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(xv);
  float* y = static_cast<float*>(yv);
  for (int64_t i = hasAvx512() ? f16ToF32Avx512(x, y, n) : 0; i < n; ++i) y[i] = halfToFloat(x[i]);
}
void f32ToBf16(const void* xv, void* yv, int64_t n) {
  const float* x = static_cast<const float*>(xv);
  uint16_t* y = static_cast<uint16_t*>(yv);
  for (int64_t i = hasAvx512() ? f32ToBf16Avx512(x, y, n) : 0; i < n; ++i) y[i] = floatToBFloat16(x[i]);
}
void bf16ToF32(const void* xv, void* yv, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(xv);
  float* y = static_cast<float*>(yv);
  for (int64_t i = hasAvx512() ? bf16ToF32Avx512(x, y, n) : 0; i < n; ++i) y[i] = bfloat16ToFloat(x[i]);
}
// Integers and bool to fp32: a conversion instruction (round to nearest even, as static_cast).
template <typename From>
void toF32(const void* xv, void* yv, int64_t n) {
  const From* x = static_cast<const From*>(xv);
  float* y = static_cast<float*>(yv);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

Converter converter(DataType from, DataType to) {
  using T = DataType;
  if (to == T::kHalf && from == T::kFloat) return &f32ToF16;
  if (to == T::kBFloat16 && from == T::kFloat) return &f32ToBf16;
  if (to != T::kFloat) return nullptr;
  switch (from) {
    case T::kHalf: return &f16ToF32;
    case T::kBFloat16: return &bf16ToF32;
    case T::kInt8: return &toF32<int8_t>;
    case T::kUInt8: return &toF32<uint8_t>;
    case T::kInt32: return &toF32<int32_t>;
    case T::kInt64: return &toF32<int64_t>;
    case T::kBool: return &toF32<bool>;
    default: return nullptr;
  }
}

class CastKernel final : public Kernel {
 public:
  CastKernel(Converter convert, size_t in_size, size_t out_size)
      : convert_(convert), in_size_(in_size), out_size_(out_size) {}

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const auto* x = static_cast<const unsigned char*>(inputs[0].data);
    auto* y = static_cast<unsigned char*>(outputs[0].data);
    const Converter convert = convert_;
    const size_t in_size = in_size_, out_size = out_size_;
    parallelFor(outputs[0].numel(), kGrain, [&](int64_t b, int64_t e) {
      convert(x + static_cast<size_t>(b) * in_size, y + static_cast<size_t>(b) * out_size, e - b);
    });
    return Status::Ok();
  }

 private:
  Converter convert_;
  size_t in_size_, out_size_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createCast(const ir::Node& node) {
  if (!node.hasInput(0) || node.outputs.empty() || node.outputs[0] == nullptr)
    return invalidArgument(node.describe(), ": Cast needs one input and one output");
  const DataType from = node.inputs[0]->dtype, to = node.outputs[0]->dtype;
  const Converter convert = converter(from, to);
  if (convert == nullptr) return unsupported(node.describe(), ": no cpu Cast for this pair of dtypes");
  return std::unique_ptr<Kernel>(new CastKernel(convert, dataTypeSize(from), dataTypeSize(to)));
}

}  // namespace qrt::cpu
