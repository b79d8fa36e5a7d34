// Bit-packed XNOR / popcount convolution of 1-bit activations with 1-bit weights (CPU).
//
// Encoding: a value v is the bit !(v >= 0), i.e. -1 for negatives (and NaN), +1 for v >= 0
// including -0.0: the sign of qsrbench.quant.binary (torch.where(v >= 0, 1, -1)). 64 channels per
// uint64 word (stored in int64 tensors), the last word padded with 0 bits. For one tap,
// sum_c sign(x_c) sign(w_c) = C - 2 popcount(bx ^ bw): equal bits are +1 products, different bits
// -1, and padded bits (0 ^ 0) count nothing. Taps outside the image are skipped (zero padding
// contributes 0, as kernels/reference.py defines it). So
//   acc[n, y, x, o] = C * valid_taps(y, x) - 2 * sum_{valid taps, words} popcount(bx ^ bw[o])
// and the fused epilogue writes out = float(acc) * scale[o] + bias[o] in float32 (a multiply and
// an add, each rounded: built with -ffp-contract=off so no FMA merges them).
//
// Layouts: activations NHWC words [N, H, W, words]; weights [kh, kw, words, Cout] so that one
// vector load reads 8 output channels' words of one tap; output NHWC [N, Ho, Wo, Cout].
// Two code paths with identical results: AVX-512 (VPOPCNTDQ, 8 output channels per instruction,
// up to 64 channels in registers, epilogue in registers), chosen at run time when the CPU has it,
// and a portable scalar loop. Parallel over output rows / pixel blocks with at::parallel_for.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define QSR_X86 1
#endif

namespace {

struct Geometry {
  int64_t n, h, w, words, cin, cout, kh, kw, stride, pad, ho, wo;
};

constexpr int64_t kMaxTaps = 64;  // kh * kw of the largest kernel accepted

// The taps of output pixel (n, oy, ox) that fall inside the image: each one's input words and its
// weight words (output channel 0). Returns how many (the rest are zero padding, contributing 0).
inline int64_t inside_taps(const Geometry& g, const uint64_t* in, const uint64_t* wt, int64_t n, int64_t oy,
                           int64_t ox, const uint64_t** a, const uint64_t** w) {
  int64_t t = 0;
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    const int64_t iy = oy * g.stride - g.pad + ky;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t ix = ox * g.stride - g.pad + kx;
      if (ix < 0 || ix >= g.w) continue;
      a[t] = in + ((n * g.h + iy) * g.w + ix) * g.words;
      w[t++] = wt + (ky * g.kw + kx) * g.words * g.cout;
    }
  }
  return t;
}

// ---------------------------------------------------------------- sign packing
void pack_portable(const float* src, uint64_t* dst, int64_t c, int64_t hw, int64_t words, int64_t img,
                   int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t d = 0; d < words; ++d) dst[(img * hw + p) * words + d] = 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* row = src + (img * c + ch) * hw;
    uint64_t* o = dst + img * hw * words + ch / 64;
    const uint64_t bit = uint64_t(1) << (ch % 64);
    for (int64_t p = p0; p < p1; ++p) o[p * words] |= !(row[p] >= 0.0f) ? bit : uint64_t(0);
  }
}

#ifdef QSR_X86
// 16 pixels at a time: per channel one 16-float load, one compare to a mask, two masked ORs of
// the channel's bit into the pixels' words (two zmm of 8 words).
__attribute__((target("avx512f,avx512vl")))
void pack_avx512(const float* src, uint64_t* dst, int64_t c, int64_t hw, int64_t words, int64_t img,
                 int64_t p0, int64_t p1) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t p = p0;
  for (; p + 16 <= p1; p += 16) {
    for (int64_t d = 0; d < words; ++d) {
      __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
      const int64_t c1 = std::min<int64_t>(c, 64 * (d + 1));
      for (int64_t ch = 64 * d; ch < c1; ++ch) {
        const __m512 v = _mm512_loadu_ps(src + (img * c + ch) * hw + p);
        const __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_NGE_UQ);  // !(v >= 0)
        const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t(1) << (ch % 64)));
        lo = _mm512_mask_or_epi64(lo, static_cast<__mmask8>(neg), lo, bit);
        hi = _mm512_mask_or_epi64(hi, static_cast<__mmask8>(neg >> 8), hi, bit);
      }
      alignas(64) uint64_t tmp[16];
      _mm512_store_si512(reinterpret_cast<void*>(tmp), lo);
      _mm512_store_si512(reinterpret_cast<void*>(tmp + 8), hi);
      for (int i = 0; i < 16; ++i) dst[(img * hw + p + i) * words + d] = tmp[i];
    }
  }
  if (p < p1) pack_portable(src, dst, c, hw, words, img, p, p1);
}
#endif

bool cpu_has_avx512_kernels() {
#ifdef QSR_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vpopcntdq");
#else
  return false;
#endif
}

// Sign bits of a contiguous float32 [N, C, H, W] tensor as int64 [N, H, W, words].
torch::Tensor pack_signs(torch::Tensor x, int64_t path) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat32, "pack_signs: float32 NCHW expected");
  x = x.contiguous();
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3), words = (c + 63) / 64;
  auto out = torch::empty({n, x.size(2), x.size(3), words}, x.options().dtype(torch::kInt64));
  const float* src = x.data_ptr<float>();
  auto* dst = reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>());
  const bool vec = path == 0 && cpu_has_avx512_kernels();
  at::parallel_for(0, n * hw, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end;) {
      const int64_t img = b / hw, p0 = b % hw, p1 = std::min(hw, p0 + (end - b));
#ifdef QSR_X86
      if (vec) pack_avx512(src, dst, c, hw, words, img, p0, p1); else
#endif
      pack_portable(src, dst, c, hw, words, img, p0, p1);
      b += p1 - p0;
    }
  });
  return out;
}

// ---------------------------------------------------------------- convolution
// Output channels [o0, o1) of one output pixel, scalar.
void pixel_portable(const Geometry& g, const uint64_t* in, const uint64_t* wt, const float* scale,
                    const float* bias, int64_t n, int64_t oy, int64_t ox, int64_t o0, int64_t o1,
                    int64_t* pop, float* out) {
  const uint64_t* a[kMaxTaps];
  const uint64_t* wk[kMaxTaps];
  const int64_t taps = inside_taps(g, in, wt, n, oy, ox, a, wk);
  std::fill(pop + o0, pop + o1, 0);
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t d = 0; d < g.words; ++d)
      for (int64_t o = o0; o < o1; ++o) pop[o] += __builtin_popcountll(a[t][d] ^ wk[t][d * g.cout + o]);
  const int64_t base = taps * g.cin;
  for (int64_t o = o0; o < o1; ++o) out[o] = float(base - 2 * pop[o]) * scale[o] + bias[o];
}

#ifdef QSR_X86
// B blocks of 8 output channels (from o0) of one output pixel, accumulators and epilogue in zmm
// / ymm registers (B is a compile-time constant so the accumulators stay in registers).
template <int B>
__attribute__((target("avx512f,avx512vl,avx512vpopcntdq"), always_inline)) inline
void pixel_avx512(const Geometry& g, const uint64_t* in, const uint64_t* wt, const float* scale,
                  const float* bias, int64_t n, int64_t oy, int64_t ox, int64_t o0, float* out) {
  const uint64_t* a[kMaxTaps];
  const uint64_t* wk[kMaxTaps];
  const int64_t taps = inside_taps(g, in, wt, n, oy, ox, a, wk);
  __m512i acc[B];
  for (int j = 0; j < B; ++j) acc[j] = _mm512_setzero_si512();
  for (int64_t t = 0; t < taps; ++t) {
    for (int64_t d = 0; d < g.words; ++d) {
      const __m512i av = _mm512_set1_epi64(static_cast<long long>(a[t][d]));
      const uint64_t* wd = wk[t] + d * g.cout + o0;
#pragma GCC unroll 8
      for (int j = 0; j < B; ++j) {
        const __m512i wv = _mm512_loadu_si512(reinterpret_cast<const void*>(wd + 8 * j));
        acc[j] = _mm512_add_epi64(acc[j], _mm512_popcnt_epi64(_mm512_xor_si512(av, wv)));
      }
    }
  }
  const __m256i base = _mm256_set1_epi32(static_cast<int>(taps * g.cin));
#pragma GCC unroll 8
  for (int j = 0; j < B; ++j) {
    const __m256i pop = _mm512_cvtepi64_epi32(acc[j]);
    const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(base, _mm256_slli_epi32(pop, 1)));
    const __m256 y = _mm256_add_ps(_mm256_mul_ps(v, _mm256_loadu_ps(scale + o0 + 8 * j)),
                                   _mm256_loadu_ps(bias + o0 + 8 * j));
    _mm256_storeu_ps(out + o0 + 8 * j, y);
  }
}

__attribute__((target("avx512f,avx512vl,avx512vpopcntdq")))
void row_avx512(const Geometry& g, const uint64_t* in, const uint64_t* wt, const float* scale,
                const float* bias, int64_t n, int64_t oy, float* dst, int64_t* pop) {
  const int64_t vec_cout = g.cout / 8 * 8;
  for (int64_t ox = 0; ox < g.wo; ++ox) {
    float* out = dst + ((n * g.ho + oy) * g.wo + ox) * g.cout;
    for (int64_t o0 = 0; o0 < vec_cout; o0 += 64) {
      switch (std::min<int64_t>(8, (vec_cout - o0) / 8)) {
        case 8: pixel_avx512<8>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
        case 7: pixel_avx512<7>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
        case 6: pixel_avx512<6>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
        case 5: pixel_avx512<5>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
        case 4: pixel_avx512<4>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
        case 3: pixel_avx512<3>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
        case 2: pixel_avx512<2>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
        default: pixel_avx512<1>(g, in, wt, scale, bias, n, oy, ox, o0, out); break;
      }
    }
    if (vec_cout < g.cout) pixel_portable(g, in, wt, scale, bias, n, oy, ox, vec_cout, g.cout, pop, out);
  }
}
#endif

// x_bits [N, H, W, words], w_bits [kh, kw, words, Cout] (int64), scale/bias float32 [Cout].
// Returns float32 [N, Ho, Wo, Cout]. path: 0 = best available, 1 = portable.
torch::Tensor xnor_conv2d(torch::Tensor x_bits, torch::Tensor w_bits, int64_t cin, int64_t height, int64_t width,
                          int64_t stride, int64_t pad, torch::Tensor scale, torch::Tensor bias, int64_t path) {
  TORCH_CHECK(x_bits.dim() == 4 && w_bits.dim() == 4, "xnor_conv2d: 4-d bit tensors expected");
  TORCH_CHECK(x_bits.scalar_type() == torch::kInt64 && w_bits.scalar_type() == torch::kInt64,
              "xnor_conv2d: int64 words expected");
  TORCH_CHECK(x_bits.size(3) == w_bits.size(2), "xnor_conv2d: input and weight word counts differ");
  TORCH_CHECK(w_bits.size(0) * w_bits.size(1) <= kMaxTaps, "xnor_conv2d: kernels up to 8x8 taps");
  TORCH_CHECK(stride >= 1 && pad >= 0, "xnor_conv2d: stride >= 1 and padding >= 0 expected");
  TORCH_CHECK(cin > 64 * (x_bits.size(3) - 1) && cin <= 64 * x_bits.size(3), "xnor_conv2d: cin does not fit the words");
  TORCH_CHECK(cin * w_bits.size(0) * w_bits.size(1) < (int64_t(1) << 30), "xnor_conv2d: reduction too long for int32");
  x_bits = x_bits.contiguous();
  w_bits = w_bits.contiguous();
  scale = scale.contiguous().to(torch::kFloat32);
  bias = bias.contiguous().to(torch::kFloat32);
  Geometry g{x_bits.size(0), height, width, x_bits.size(3), cin, w_bits.size(3), w_bits.size(0), w_bits.size(1),
             stride, pad, 0, 0};
  TORCH_CHECK(x_bits.size(1) == height && x_bits.size(2) == width, "xnor_conv2d: geometry mismatch");
  TORCH_CHECK(scale.numel() == g.cout && bias.numel() == g.cout, "xnor_conv2d: scale and bias need Cout entries");
  g.ho = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
  g.wo = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
  TORCH_CHECK(g.h + 2 * g.pad >= g.kh && g.w + 2 * g.pad >= g.kw, "xnor_conv2d: output would be empty");
  auto out = torch::empty({g.n, g.ho, g.wo, g.cout}, scale.options());
  const auto* in = reinterpret_cast<const uint64_t*>(x_bits.data_ptr<int64_t>());
  const auto* wt = reinterpret_cast<const uint64_t*>(w_bits.data_ptr<int64_t>());
  const float* sc = scale.data_ptr<float>();
  const float* bi = bias.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const bool vec = path == 0 && cpu_has_avx512_kernels();
  at::parallel_for(0, g.n * g.ho, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> pop(g.cout);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / g.ho, oy = r % g.ho;
#ifdef QSR_X86
      if (vec) { row_avx512(g, in, wt, sc, bi, n, oy, dst, pop.data()); continue; }
#endif
      for (int64_t ox = 0; ox < g.wo; ++ox)
        pixel_portable(g, in, wt, sc, bi, n, oy, ox, 0, g.cout, pop.data(), dst + ((n * g.ho + oy) * g.wo + ox) * g.cout);
    }
  });
  return out;
}

// Clock estimate for peak figures: the thread's CPU seconds (CLOCK_THREAD_CPUTIME_ID, so time
// spent descheduled on a busy machine does not count) of a chain of dependent register-register
// integer adds, one cycle each on every x86 core of the last decade (10 adds per loop trip; the
// loop's own compare and branch run beside the chain). Register, not immediate, operands: Intel
// cores from Golden Cove on fold chains of immediate adds at rename, several per cycle (an Intel
// Xeon here measured "16 GHz" with `add $1`). Returns adds per second, i.e. the core clock in Hz.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double dependent_add_hz(int64_t adds) {
  uint64_t x = 0, one = 1;
  const double t0 = thread_seconds();
  for (int64_t i = 0; i < adds / 10; ++i) {
#if defined(__GNUC__) && defined(QSR_X86)
    asm volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                 "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0" : "+r"(x) : "r"(one));
#else
    x += 10;
#endif
  }
  const double s = thread_seconds() - t0;
  TORCH_CHECK(x == uint64_t(adds / 10 * 10), "dependent_add_hz: chain miscounted");
  return double(adds / 10 * 10) / s;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("pack_signs", &pack_signs, "sign bits !(x >= 0) of float32 NCHW as int64 NHWC words; path 0 best, 1 portable");
  m.def("xnor_conv2d", &xnor_conv2d, "bit-packed XNOR/popcount conv with a fused per-channel scale and bias");
  m.def("dependent_add_hz", &dependent_add_hz, "core clock estimate (Hz) from a chain of dependent adds");
  m.def("has_avx512", &cpu_has_avx512_kernels, "whether the AVX-512 (F, VL, VPOPCNTDQ) paths run on this CPU");
}
