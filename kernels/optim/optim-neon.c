/* kernels/optim/optim-neon.c — the optim family on NEON: the body of
 * kernels/simd/optim-body.h over the v16 of kernels/simd/vec16-neon.h,
 * with the body's 16 x 16 transpose done in Q registers.
 * Scalar twin (the definition of every result bit): optim-scalar.c. */
#include "kernels/simd/vec16-neon.h"

/* The 4 x 4 block at s (rows ls apart) transposed to d (rows ld apart):
 * trn1/trn2 on 32-bit then on 64-bit elements. */
static inline void op_tr4(const float *s, size_t ls, float *d, size_t ld) {
  const float32x4_t a = vld1q_f32(s), b = vld1q_f32(s + ls);
  const float32x4_t c = vld1q_f32(s + 2 * ls), e = vld1q_f32(s + 3 * ls);
  const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(a, b)); /* a0 b0 a2 b2 */
  const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(a, b)); /* a1 b1 a3 b3 */
  const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(c, e)); /* c0 e0 c2 e2 */
  const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(c, e)); /* c1 e1 c3 e3 */
  vst1q_f32(d, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
  vst1q_f32(d + ld, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
  vst1q_f32(d + 2 * ld, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
  vst1q_f32(d + 3 * ld, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
}

/* d[j*ld + i] = s[i*ls + j], i, j < 16: sixteen 4 x 4 blocks. Data
 * movement only. */
#define OP_HAVE_TR16 1
static inline void op_tr16(const float *s, size_t ls, float *d, size_t ld) {
  for (size_t bi = 0; bi < 16; bi += 4)
    for (size_t bj = 0; bj < 16; bj += 4) op_tr4(s + bi * ls + bj, ls, d + bj * ld + bi, ld);
}

#define WSK_BODY_ISA neon
#define WSK_BODY_ISA_ENUM WSK_ISA_NEON
#include "kernels/simd/optim-body.h"
