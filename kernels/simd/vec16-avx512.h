/* kernels/simd/vec16-avx512.h — the 16-float vector of the SIMD kernel bodies
 * (kernels/simd/<family>-body.h) on AVX-512: one ZMM register.
 * Every operation is one correctly rounded IEEE operation per lane, so a body
 * written with these gives the same bits on every tier. */
#ifndef WSK_VEC16_AVX512_H
#define WSK_VEC16_AVX512_H
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || \
    !defined(__AVX512VL__) || !defined(__FMA__)
#error "vec16-avx512.h needs -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma"
#endif
#include <immintrin.h>
#include <stddef.h>

typedef __m512 v16;

/* v16 values the register file holds at once */
#define V16_REGS 32

static inline v16 v16_set1(float a) { return _mm512_set1_ps(a); }
static inline v16 v16_loadu(const float *p) { return _mm512_loadu_ps(p); }
/* lanes [0, n) from p, the others = fill; 0 < n < 16 */
static inline v16 v16_load_part(const float *p, size_t n, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << n) - 1u), p);
}
static inline void v16_storeu(float *p, v16 a) { _mm512_storeu_ps(p, a); }
static inline void v16_store_part(float *p, v16 a, size_t n) {
  _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), a);
}
static inline v16 v16_add(v16 a, v16 b) { return _mm512_add_ps(a, b); }
static inline v16 v16_div(v16 a, v16 b) { return _mm512_div_ps(a, b); }
/* a * b + c with one rounding */
static inline v16 v16_fma(v16 a, v16 b, v16 c) { return _mm512_fmadd_ps(a, b, c); }

/* The halving tree down to c lanes (c = 1, 2, 4, 8 or 16): for h = 8, 4, ..
 * while h >= c, lanes q < h += lanes q + h. Lanes [0, c) of the result hold
 * the sums; the scalar twin is the same loop over an array. */
static inline v16 v16_fold(v16 a, size_t c) {
  if (c <= 8) a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0x0E)); /* lanes 8-15 -> 0-7 */
  if (c <= 4) a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0x01)); /* lanes 4-7 -> 0-3 */
  if (c <= 2) a = _mm512_add_ps(a, _mm512_permute_ps(a, 0x4E));       /* lanes 2,3 -> 0,1 */
  if (c <= 1) a = _mm512_add_ps(a, _mm512_permute_ps(a, 0xB1));       /* lane 1 -> 0 */
  return a;
}

/* ---- added for the eltwise family (kernels/simd/eltwise-body.h) ---- */
#include <sleef.h>

static inline v16 v16_sub(v16 a, v16 b) { return _mm512_sub_ps(a, b); }
static inline v16 v16_mul(v16 a, v16 b) { return _mm512_mul_ps(a, b); }
/* -a: the sign bit flipped (NaN included), as unary minus in C */
static inline v16 v16_neg(v16 a) {
  return _mm512_castsi512_ps(
      _mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u)));
}
/* b > a ? b : a per lane (a NaN b is ignored; a is kept on ties, so the
 * sign of a zero result is a's) */
static inline v16 v16_max(v16 a, v16 b) { return _mm512_max_ps(b, a); }
/* a < b ? t : f and a <= b ? t : f per lane (ordered: NaN gives f) */
static inline v16 v16_sel_lt(v16 a, v16 b, v16 t, v16 f) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
}
static inline v16 v16_sel_le(v16 a, v16 b, v16 t, v16 f) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LE_OQ), f, t);
}
/* lanes [0, n) of a, the others of b; 0 < n < 16 */
static inline v16 v16_keep(v16 a, size_t n, v16 b) {
  return _mm512_mask_blend_ps((__mmask16)((1u << n) - 1u), b, a);
}
/* lane 0 */
static inline float v16_first(v16 a) { return _mm512_cvtss_f32(a); }
/* SLEEF's deterministic functions: the same bits as the 1-lane
 * Sleef_finz_*f1_*purecfma of the scalar tier */
static inline v16 v16_exp(v16 a) { return Sleef_finz_expf16_u10avx512f(a); }
static inline v16 v16_tanh(v16 a) { return Sleef_finz_tanhf16_u10avx512f(a); }
static inline v16 v16_erfc(v16 a) { return Sleef_finz_erfcf16_u15avx512f(a); }


/* ---- added for the optim family (kernels/simd/optim-body.h) ---- */
/* IEEE square root, correctly rounded (no estimate) */
static inline v16 v16_sqrt(v16 a) { return _mm512_sqrt_ps(a); }

/* ---- added for the attn family (kernels/simd/attn-body.h) ---- */
static inline v16 v16_log(v16 a) { return Sleef_finz_logf16_u10avx512f(a); }

#endif
