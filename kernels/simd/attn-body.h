/* kernels/simd/attn-body.h — the column operations of the attn family
 * written once over the 16-float vector v16, included by attn-avx2.c,
 * attn-avx512.c and attn-neon.c after their vec16-<isa>.h. Scalar twin (the
 * definition of every result bit): kernels/attn/attn-scalar.c; contract in
 * kernels/ukernels.h, order of operations in include/wsk/attn.h.
 *
 * The driver lays a block's scores out transposed (key j, query t at
 * st[j*ld + t]), so one v16 holds 16 queries' scores for one key and every
 * per-query quantity — running maximum, running sum, rescaling factor,
 * log-sum-exp — is one lane: the vector code is the scalar code of 16
 * queries side by side, with no reduction across lanes. Masks are selects:
 * a query's key limit against the key index, and the key mask per key.
 * The maximum keeps its first operand unless the second is larger, so NaN
 * scores are ignored, as in the scalar twin.
 */
#include <float.h>

#include "kernels/simd/vec16-util.h"
#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including attn-body.h"
#endif

#define AT_CAT2(a, b) a##__##b
#define AT_CAT(a, b) AT_CAT2(a, b)
#define AT_FN(name) AT_CAT(name, WSK_BODY_ISA)
#define AT_TABLE AT_CAT(wsk_attn_ukernels, WSK_BODY_ISA)

/* x where key j is unmasked for the lane's query, else f */
static inline v16 AT_FN(mask)(v16 x, size_t j, v16 limf, const float *kbias, v16 f) {
  if (kbias && kbias[j] < 0.0f) return f;
  return v16_sel_lt(v16_set1((float)j), limf, x, f);
}

static void AT_FN(fwd_update)(size_t nk, const float *limf, float scale, const float *kbias,
                              float *st, size_t ld, float *m, float *l, float *alpha) {
  const v16 vs = v16_set1(scale), ninf = v16_set1(-INFINITY), lim = v16_loadu(limf);
  v16 bm = ninf;
  for (size_t j = 0; j < nk; j++) {
    const v16 x = AT_FN(mask)(v16_mul(v16_loadu(st + j * ld), vs), j, lim, kbias, ninf);
    v16_storeu(st + j * ld, x);
    bm = v16_max(bm, x);
  }
  const v16 m0 = v16_loadu(m);
  const v16 mn = v16_add(v16_max(m0, bm), v16_set1(0.0f));
  const v16 u = v16_sel_lt(mn, v16_set1(-FLT_MAX), v16_set1(0.0f), mn); /* -Inf -> 0 */
  const v16 a = v16_exp(v16_sub(m0, u));
  v16_storeu(alpha, a);
  v16_storeu(m, mn);
  v16 sum = v16_mul(v16_loadu(l), a);
  for (size_t j = 0; j < nk; j++) {
    const v16 p = v16_exp(v16_sub(v16_loadu(st + j * ld), u)); /* masked: exp(-Inf) = 0 */
    v16_storeu(st + j * ld, p);
    sum = v16_add(sum, p);
  }
  v16_storeu(l, sum);
}

static void AT_FN(bwd_ds)(size_t nk, const float *limf, float scale, const float *kbias,
                          const float *lse, const float *dsum, float *st, float *dpt, size_t ld) {
  const v16 vs = v16_set1(scale), zero = v16_set1(0.0f), lim = v16_loadu(limf);
  const v16 ls = v16_loadu(lse), ds = v16_loadu(dsum);
  for (size_t j = 0; j < nk; j++) {
    const v16 p = v16_exp(v16_sub(v16_mul(v16_loadu(st + j * ld), vs), ls));
    const v16 g = v16_mul(p, v16_sub(v16_loadu(dpt + j * ld), ds));
    v16_storeu(st + j * ld, AT_FN(mask)(p, j, lim, kbias, zero));
    v16_storeu(dpt + j * ld, AT_FN(mask)(g, j, lim, kbias, zero));
  }
}

static void AT_FN(mul_cols)(size_t rows, size_t cols, const float *alpha, float *x, size_t ldx) {
  for (size_t c = 0; c < cols; c += 16) {
    const v16 a = v16_loadu(alpha + c);
    for (size_t r = 0; r < rows; r++) v16_storeu(x + r * ldx + c, v16_mul(v16_loadu(x + r * ldx + c), a));
  }
}

static void AT_FN(finish)(size_t rows, size_t cols, const float *l, const float *m, float *x,
                          size_t ldx, float *lse) {
  const v16 zero = v16_set1(0.0f), inf = v16_set1(INFINITY);
  for (size_t c = 0; c < cols; c += 16) {
    /* l == 0 -> 0 and +Inf: l is >= 0 or NaN, so l <= 0 means l == 0 */
    const v16 d = v16_loadu(l + c);
    for (size_t r = 0; r < rows; r++) {
      const v16 q = v16_div(v16_loadu(x + r * ldx + c), d);
      v16_storeu(x + r * ldx + c, v16_sel_le(d, zero, zero, q));
    }
    v16_storeu(lse + c, v16_sel_le(d, zero, inf, v16_add(v16_loadu(m + c), v16_log(d))));
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

const wsk_attn_ukernels AT_TABLE = {WSK_BODY_ISA_ENUM, AT_FN(fwd_update), AT_FN(bwd_ds),
                                    AT_FN(mul_cols),   AT_FN(finish),   AT_FN(rowdot),
                                    AT_FN(scale_rows)};
