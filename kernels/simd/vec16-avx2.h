/* kernels/simd/vec16-avx2.h — the 16-float vector of the SIMD kernel bodies
 * (kernels/simd/<family>-body.h) on AVX2+FMA: two YMM registers, lanes 0-7 and 8-15.
 * Every operation is one correctly rounded IEEE operation per lane, so a body
 * written with these gives the same bits on every tier. */
#ifndef WSK_VEC16_AVX2_H
#define WSK_VEC16_AVX2_H
#if !defined(__AVX2__) || !defined(__FMA__)
#error "vec16-avx2.h needs -mavx2 -mfma"
#endif
#include <immintrin.h>
#include <stddef.h>

typedef struct v16 {
  __m256 lo, hi;
} v16;

/* v16 values the register file holds at once */
#define V16_REGS 8

static inline v16 v16_set1(float a) {
  const __m256 v = _mm256_set1_ps(a);
  return (v16){v, v};
}
static inline v16 v16_loadu(const float *p) {
  return (v16){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
/* mask of lanes [0, n) of the 8-lane half that starts at lane `base` */
static inline __m256i v16__mask(size_t n, size_t base) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - (int)base), idx);
}
/* lanes [0, n) from p, the others = fill; 0 < n < 16 */
static inline v16 v16_load_part(const float *p, size_t n, float fill) {
  const __m256 f = _mm256_set1_ps(fill);
  const __m256i mlo = v16__mask(n, 0), mhi = v16__mask(n, 8);
  const __m256 lo = _mm256_blendv_ps(f, _mm256_maskload_ps(p, mlo), _mm256_castsi256_ps(mlo));
  const __m256 hi = _mm256_blendv_ps(f, _mm256_maskload_ps(p + 8, mhi), _mm256_castsi256_ps(mhi));
  return (v16){lo, hi};
}
static inline void v16_storeu(float *p, v16 a) {
  _mm256_storeu_ps(p, a.lo);
  _mm256_storeu_ps(p + 8, a.hi);
}
static inline void v16_store_part(float *p, v16 a, size_t n) {
  _mm256_maskstore_ps(p, v16__mask(n, 0), a.lo);
  _mm256_maskstore_ps(p + 8, v16__mask(n, 8), a.hi);
}
static inline v16 v16_add(v16 a, v16 b) {
  return (v16){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
static inline v16 v16_div(v16 a, v16 b) {
  return (v16){_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)};
}
/* a * b + c with one rounding */
static inline v16 v16_fma(v16 a, v16 b, v16 c) {
  return (v16){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}

/* The halving tree down to c lanes (c = 1, 2, 4, 8 or 16): for h = 8, 4, ..
 * while h >= c, lanes q < h += lanes q + h. Lanes [0, c) of the result hold
 * the sums; the scalar twin is the same loop over an array. */
static inline v16 v16_fold(v16 a, size_t c) {
  if (c <= 8) a.lo = _mm256_add_ps(a.lo, a.hi);
  if (c <= 4) a.lo = _mm256_add_ps(a.lo, _mm256_permute2f128_ps(a.lo, a.lo, 0x01));
  if (c <= 2) a.lo = _mm256_add_ps(a.lo, _mm256_permute_ps(a.lo, 0x4E));
  if (c <= 1) a.lo = _mm256_add_ps(a.lo, _mm256_permute_ps(a.lo, 0xB1));
  return a;
}

/* ---- added for the eltwise family (kernels/simd/eltwise-body.h) ---- */
#include <sleef.h>

static inline v16 v16_sub(v16 a, v16 b) {
  return (v16){_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)};
}
static inline v16 v16_mul(v16 a, v16 b) {
  return (v16){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)};
}
static inline v16 v16_neg(v16 a) {
  const __m256 s = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
  return (v16){_mm256_xor_ps(a.lo, s), _mm256_xor_ps(a.hi, s)};
}
/* b > a ? b : a per lane */
static inline v16 v16_max(v16 a, v16 b) {
  return (v16){_mm256_max_ps(b.lo, a.lo), _mm256_max_ps(b.hi, a.hi)};
}
static inline v16 v16_sel_lt(v16 a, v16 b, v16 t, v16 f) {
  return (v16){_mm256_blendv_ps(f.lo, t.lo, _mm256_cmp_ps(a.lo, b.lo, _CMP_LT_OQ)),
               _mm256_blendv_ps(f.hi, t.hi, _mm256_cmp_ps(a.hi, b.hi, _CMP_LT_OQ))};
}
static inline v16 v16_sel_le(v16 a, v16 b, v16 t, v16 f) {
  return (v16){_mm256_blendv_ps(f.lo, t.lo, _mm256_cmp_ps(a.lo, b.lo, _CMP_LE_OQ)),
               _mm256_blendv_ps(f.hi, t.hi, _mm256_cmp_ps(a.hi, b.hi, _CMP_LE_OQ))};
}
/* lanes [0, n) of a, the others of b; 0 < n < 16 */
static inline v16 v16_keep(v16 a, size_t n, v16 b) {
  return (v16){_mm256_blendv_ps(b.lo, a.lo, _mm256_castsi256_ps(v16__mask(n, 0))),
               _mm256_blendv_ps(b.hi, a.hi, _mm256_castsi256_ps(v16__mask(n, 8)))};
}
static inline float v16_first(v16 a) { return _mm256_cvtss_f32(a.lo); }
static inline v16 v16_exp(v16 a) {
  return (v16){Sleef_finz_expf8_u10avx2(a.lo), Sleef_finz_expf8_u10avx2(a.hi)};
}
static inline v16 v16_tanh(v16 a) {
  return (v16){Sleef_finz_tanhf8_u10avx2(a.lo), Sleef_finz_tanhf8_u10avx2(a.hi)};
}
static inline v16 v16_erfc(v16 a) {
  return (v16){Sleef_finz_erfcf8_u15avx2(a.lo), Sleef_finz_erfcf8_u15avx2(a.hi)};
}


/* ---- added for the optim family (kernels/simd/optim-body.h) ---- */
/* IEEE square root, correctly rounded (no estimate) */
static inline v16 v16_sqrt(v16 a) { return (v16){_mm256_sqrt_ps(a.lo), _mm256_sqrt_ps(a.hi)}; }

/* ---- added for the attn family (kernels/simd/attn-body.h) ---- */
static inline v16 v16_log(v16 a) {
  return (v16){Sleef_finz_logf8_u10avx2(a.lo), Sleef_finz_logf8_u10avx2(a.hi)};
}

#endif
