/* kernels/optim/optim-avx512.c — the optim family on AVX512: the body of
 * kernels/simd/optim-body.h over the v16 of kernels/simd/vec16-avx512.h,
 * with the body's 16 x 16 transpose done in ZMM registers.
 * Scalar twin (the definition of every result bit): optim-scalar.c. */
#include "kernels/simd/vec16-avx512.h"

/* d[j*ld + i] = s[i*ls + j], i, j < 16: unpack pairs of rows (2 x 2
 * blocks), unpack pairs of those (4 x 4 blocks in each 128-bit lane), then
 * two rounds of 128-bit lane shuffles. Data movement only. */
#define OP_HAVE_TR16 1
static inline void op_tr16(const float *s, size_t ls, float *d, size_t ld) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(s + (size_t)i * ls);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* a0 b0 a1 b1 | a4 b4 a5 b5 | .. */
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 | a6 b6 a7 b7 | .. */
  }
  for (int i = 0; i < 16; i += 4) {
    const __m512d t0 = _mm512_castps_pd(t[i]), t1 = _mm512_castps_pd(t[i + 1]);
    const __m512d t2 = _mm512_castps_pd(t[i + 2]), t3 = _mm512_castps_pd(t[i + 3]);
    /* rows i..i+3, columns 4q + 0, 1, 2, 3 in 128-bit lane q */
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  /* r[4b + c]: column c + 4q of rows 4b..4b+3 in lane q */
  for (int c = 0; c < 4; c++) {
    /* lanes (q0, q2) of rows 0-3 and 4-7: columns c, c + 8; (q1, q3): c + 4, c + 12 */
    t[2 * c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[2 * c + 1] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    t[8 + 2 * c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[8 + 2 * c + 1] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 4; c++) {
    _mm512_storeu_ps(d + (size_t)c * ld, _mm512_shuffle_f32x4(t[2 * c], t[8 + 2 * c], 0x88));
    _mm512_storeu_ps(d + (size_t)(c + 8) * ld, _mm512_shuffle_f32x4(t[2 * c], t[8 + 2 * c], 0xdd));
    _mm512_storeu_ps(d + (size_t)(c + 4) * ld,
                     _mm512_shuffle_f32x4(t[2 * c + 1], t[8 + 2 * c + 1], 0x88));
    _mm512_storeu_ps(d + (size_t)(c + 12) * ld,
                     _mm512_shuffle_f32x4(t[2 * c + 1], t[8 + 2 * c + 1], 0xdd));
  }
}

#define WSK_BODY_ISA avx512
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX512
#include "kernels/simd/optim-body.h"
