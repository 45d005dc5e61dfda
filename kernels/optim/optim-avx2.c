/* kernels/optim/optim-avx2.c — the optim family on AVX2: the body of
 * kernels/simd/optim-body.h over the v16 of kernels/simd/vec16-avx2.h,
 * with the body's 16 x 16 transpose done in YMM registers.
 * Scalar twin (the definition of every result bit): optim-scalar.c. */
#include "kernels/simd/vec16-avx2.h"

/* The 8 x 8 block at s (rows ls apart) transposed to d (rows ld apart):
 * unpack pairs of rows, shuffle pairs of those (4 x 4 blocks in each
 * 128-bit half), then swap halves. */
static inline void op_tr8(const float *s, size_t ls, float *d, size_t ld) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + (size_t)i * ls);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* a0 b0 a1 b1 | a4 b4 a5 b5 */
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 | a6 b6 a7 b7 */
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);         /* a0 b0 c0 d0 | a4 b4 c4 d4 */
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);     /* column 1 | 5 */
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44); /* 2 | 6 */
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee); /* 3 | 7 */
  }
  for (int c = 0; c < 4; c++) {
    _mm256_storeu_ps(d + (size_t)c * ld, _mm256_permute2f128_ps(r[c], r[4 + c], 0x20));
    _mm256_storeu_ps(d + (size_t)(c + 4) * ld, _mm256_permute2f128_ps(r[c], r[4 + c], 0x31));
  }
}

/* d[j*ld + i] = s[i*ls + j], i, j < 16: four 8 x 8 blocks. Data movement only. */
#define OP_HAVE_TR16 1
static inline void op_tr16(const float *s, size_t ls, float *d, size_t ld) {
  op_tr8(s, ls, d, ld);
  op_tr8(s + 8, ls, d + 8 * ld, ld);
  op_tr8(s + 8 * ls, ls, d + 8, ld);
  op_tr8(s + 8 * ls + 8, ls, d + 8 * ld + 8, ld);
}

#define WSK_BODY_ISA avx2
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX2
#include "kernels/simd/optim-body.h"
