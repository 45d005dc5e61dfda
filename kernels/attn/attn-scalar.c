/* kernels/attn/attn-scalar.c — the column operations of the attn family in
 * portable C: the reference every SIMD tier must match bit for bit, the test
 * oracle and the last fallback. The order of operations is the one of
 * wsk/attn.h; the contract of each function is in kernels/ukernels.h.
 * SIMD twins: attn-avx2.c, attn-avx512.c, attn-neon.c (one body,
 * kernels/simd/attn-body.h). */
#include <math.h>
#include <sleef.h>

#include "kernels/ukernels.h"

/* sleef.h declares the purecfma functions only when the compiler targets FMA
 * (FP_FAST_FMA); this file is built with baseline flags. They use the FMA
 * instruction: the transcendentals of this tier need an FMA-capable CPU. */
float Sleef_finz_expf1_u10purecfma(float);
float Sleef_finz_logf1_u10purecfma(float);

static inline int masked(size_t j, float limf, const float *kbias) {
  return !((float)j < limf) || (kbias && kbias[j] < 0.0f);
}

static void fwd_update(size_t nk, const float *limf, float scale, const float *kbias, float *st,
                       size_t ld, float *m, float *l, float *alpha) {
  for (size_t t = 0; t < 16; t++) {
    float bm = -INFINITY;
    for (size_t j = 0; j < nk; j++) {
      float *x = st + j * ld + t;
      *x = masked(j, limf[t], kbias) ? -INFINITY : *x * scale;
      if (*x > bm) bm = *x; /* NaN is ignored */
    }
    const float mn = (bm > m[t] ? bm : m[t]) + 0.0f;
    const float u = mn == -INFINITY ? 0.0f : mn;
    alpha[t] = Sleef_finz_expf1_u10purecfma(m[t] - u);
    m[t] = mn;
    float sum = l[t] * alpha[t];
    for (size_t j = 0; j < nk; j++) {
      float *x = st + j * ld + t;
      *x = Sleef_finz_expf1_u10purecfma(*x - u); /* masked: exp(-Inf) = 0 */
      sum = sum + *x;
    }
    l[t] = sum;
  }
}

static void bwd_ds(size_t nk, const float *limf, float scale, const float *kbias, const float *lse,
                   const float *dsum, float *st, float *dpt, size_t ld) {
  for (size_t j = 0; j < nk; j++)
    for (size_t t = 0; t < 16; t++) {
      float *s = st + j * ld + t, *d = dpt + j * ld + t;
      if (masked(j, limf[t], kbias)) {
        *s = 0.0f;
        *d = 0.0f;
        continue;
      }
      const float p = Sleef_finz_expf1_u10purecfma(*s * scale - lse[t]);
      *s = p;
      *d = p * (*d - dsum[t]);
    }
}

static void mul_cols(size_t rows, size_t cols, const float *alpha, float *x, size_t ldx) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) x[r * ldx + c] = x[r * ldx + c] * alpha[c];
}

static void finish(size_t rows, size_t cols, const float *l, const float *m, float *x, size_t ldx,
                   float *lse) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++)
      x[r * ldx + c] = l[c] == 0.0f ? 0.0f : x[r * ldx + c] / l[c];
  for (size_t c = 0; c < cols; c++)
    lse[c] = l[c] == 0.0f ? INFINITY : m[c] + Sleef_finz_logf1_u10purecfma(l[c]);
}

/* The halving tree over 16 partial sums (wsk/attn.h). */
static float fold16(float *a) {
  for (int h = 8; h >= 1; h /= 2)
    for (int q = 0; q < h; q++) a[q] = a[q] + a[q + h];
  return a[0];
}

static void rowdot(size_t rows, size_t dh, const float *a, size_t lda, const float *b, size_t ldb,
                   float *out) {
  for (size_t r = 0; r < rows; r++) {
    float acc[16] = {0};
    for (size_t d = 0; d < dh; d++) acc[d % 16] = fmaf(a[r * lda + d], b[r * ldb + d], acc[d % 16]);
    out[r] = fold16(acc);
  }
}

static void scale_rows(size_t rows, size_t dh, float alpha, const float *acc, size_t ldacc,
                       float *dst, size_t lddst) {
  for (size_t r = 0; r < rows; r++)
    for (size_t d = 0; d < dh; d++) dst[r * lddst + d] = alpha * acc[r * ldacc + d];
}

const wsk_attn_ukernels wsk_attn_ukernels__scalar = {
    WSK_ISA_SCALAR, fwd_update, bwd_ds, mul_cols, finish, rowdot, scale_rows};
