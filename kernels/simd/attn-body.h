/* kernels/simd/attn-body.h — the row operations of the attn family written
 * once over the 16-float vector v16, included by attn-avx2.c, attn-avx512.c
 * and attn-neon.c after their vec16-<isa>.h. Scalar twin (the definition of
 * every result bit): kernels/attn/attn-scalar.c; contract in
 * kernels/ukernels.h, order of operations in include/wsk/attn.h.
 *
 * A block row of WSK_ATTN_KEY_BLOCK (64) scores is four v16: lane q of
 * vector v is key 16 v + q, so the 16 partial sums of the softmax
 * denominator are one v16 added to four times per block, in key order, as
 * the scalar twin does lane by lane. Masks are selects against a vector of
 * key indices. The running maximum ignores NaN (v16_max keeps its first
 * operand unless the second is larger) and a zero maximum is made +0, so the
 * maximum does not depend on the order of the lanes. The rescaling factors
 * of up to 16 rows go through one vector exp.
 */
#include "kernels/simd/vec16-util.h"
#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including attn-body.h"
#endif

#define AT_CAT2(a, b) a##__##b
#define AT_CAT(a, b) AT_CAT2(a, b)
#define AT_FN(name) AT_CAT(name, WSK_BODY_ISA)
#define AT_TABLE AT_CAT(wsk_attn_ukernels, WSK_BODY_ISA)

#if WSK_ATTN_KEY_BLOCK != 64
#error "attn-body.h is written for blocks of 64 keys (four v16)"
#endif

static const float AT_FN(iota)[64] = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};

/* x where key 16 v + q is unmasked, else f */
static inline v16 AT_FN(mask)(v16 x, int v, v16 limf, const float *kbias, v16 f) {
  x = v16_sel_lt(v16_loadu(AT_FN(iota) + 16 * v), limf, x, f);
  if (kbias) x = v16_sel_lt(v16_loadu(kbias + 16 * v), v16_set1(0.0f), f, x);
  return x;
}

static void AT_FN(fwd_update)(size_t rows, const size_t *lim, float scale, const float *kbias,
                              float *s, float *m, float *l, float *o, size_t ldo, size_t dpad,
                              float *tmp) {
  const v16 vs = v16_set1(scale), ninf = v16_set1(-INFINITY);
  /* scaled, masked scores and the new maximum of every row */
  for (size_t r = 0; r < rows; r++) {
    float *sr = s + r * 64;
    const v16 limf = v16_set1((float)lim[r]);
    v16 bm = ninf;
    for (int v = 0; v < 4; v++) {
      const v16 x = AT_FN(mask)(v16_mul(v16_loadu(sr + 16 * v), vs), v, limf, kbias, ninf);
      v16_storeu(sr + 16 * v, x);
      bm = v16_max(bm, x);
    }
    const float b = v16_hmax(bm);
    const float mn = (b > m[r] ? b : m[r]) + 0.0f;
    const float u = mn == -INFINITY ? 0.0f : mn;
    tmp[r] = m[r] - u;
    m[r] = mn;
  }
  /* alpha = exp(m_old - u), 16 rows per vector exp */
  for (size_t r = 0; r < rows; r += 16) {
    const size_t w = rows - r;
    v16_store_upto(tmp + r, v16_exp(v16_load_upto(tmp + r, w)), w);
  }
  for (size_t r = 0; r < rows; r++) {
    float *sr = s + r * 64;
    const v16 u = v16_set1(m[r] == -INFINITY ? 0.0f : m[r]), alpha = v16_set1(tmp[r]);
    v16 lr = v16_mul(v16_loadu(l + 16 * r), alpha);
    for (int v = 0; v < 4; v++) {
      const v16 p = v16_exp(v16_sub(v16_loadu(sr + 16 * v), u)); /* masked: exp(-Inf) = 0 */
      v16_storeu(sr + 16 * v, p);
      lr = v16_add(lr, p);
    }
    v16_storeu(l + 16 * r, lr);
    float *orow = o + r * ldo;
    for (size_t d = 0; d < dpad; d += 16) v16_storeu(orow + d, v16_mul(v16_loadu(orow + d), alpha));
  }
}

static void AT_FN(fwd_finish)(size_t rows, const float *l, const float *m, const float *o,
                              size_t ldo, size_t dh, float *out, size_t ldout, float *lse) {
  for (size_t r = 0; r < rows; r++) {
    const float sum = v16_first(v16_fold(v16_loadu(l + 16 * r), 1));
    float *dst = out + r * ldout;
    if (sum == 0.0f) {
      for (size_t d = 0; d < dh; d += 16) v16_store_upto(dst + d, v16_set1(0.0f), dh - d);
      lse[r] = INFINITY;
      continue;
    }
    const v16 vs = v16_set1(sum);
    for (size_t d = 0; d < dh; d += 16)
      v16_store_upto(dst + d, v16_div(v16_load_upto(o + r * ldo + d, dh - d), vs), dh - d);
    lse[r] = m[r] + Sleef_finz_logf1_u10purecfma(sum);
  }
}

static void AT_FN(bwd_ds)(size_t rows, const size_t *lim, float scale, const float *kbias,
                          const float *lse, const float *dsum, float *s, float *dp) {
  const v16 vs = v16_set1(scale), zero = v16_set1(0.0f);
  for (size_t r = 0; r < rows; r++) {
    const v16 limf = v16_set1((float)lim[r]), ls = v16_set1(lse[r]), ds = v16_set1(dsum[r]);
    float *sr = s + r * 64, *dr = dp + r * 64;
    for (int v = 0; v < 4; v++) {
      const v16 p = v16_exp(v16_sub(v16_mul(v16_loadu(sr + 16 * v), vs), ls));
      const v16 g = v16_mul(p, v16_sub(v16_loadu(dr + 16 * v), ds));
      v16_storeu(sr + 16 * v, AT_FN(mask)(p, v, limf, kbias, zero));
      v16_storeu(dr + 16 * v, AT_FN(mask)(g, v, limf, kbias, zero));
    }
  }
}

static void AT_FN(rowdot)(size_t rows, size_t dh, const float *a, size_t lda, const float *b,
                          size_t ldb, float *out) {
  for (size_t r = 0; r < rows; r++) {
    v16 acc = v16_set1(0.0f);
    for (size_t d = 0; d < dh; d += 16)
      acc = v16_fma(v16_load_upto(a + r * lda + d, dh - d), v16_load_upto(b + r * ldb + d, dh - d),
                    acc);
    out[r] = v16_first(v16_fold(acc, 1));
  }
}

static void AT_FN(scale_rows)(size_t rows, size_t dh, float alpha, const float *acc, size_t ldacc,
                              float *dst, size_t lddst) {
  const v16 va = v16_set1(alpha);
  for (size_t r = 0; r < rows; r++)
    for (size_t d = 0; d < dh; d += 16)
      v16_store_upto(dst + r * lddst + d, v16_mul(va, v16_load_upto(acc + r * ldacc + d, dh - d)),
                     dh - d);
}

const wsk_attn_ukernels AT_TABLE = {WSK_BODY_ISA_ENUM,  AT_FN(fwd_update), AT_FN(fwd_finish),
                                    AT_FN(bwd_ds),      AT_FN(rowdot),     AT_FN(scale_rows)};
