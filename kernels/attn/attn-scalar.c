/* kernels/attn/attn-scalar.c — the row operations of the attn family in
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

enum { KB = WSK_ATTN_KEY_BLOCK };

static inline int masked(size_t j, size_t lim, const float *kbias) {
  return j >= lim || (kbias && kbias[j] < 0.0f);
}

/* The halving tree over 16 partial sums (wsk/attn.h). */
static float fold16(float *a) {
  for (int h = 8; h >= 1; h /= 2)
    for (int q = 0; q < h; q++) a[q] = a[q] + a[q + h];
  return a[0];
}

static void fwd_update(size_t rows, const size_t *lim, float scale, const float *kbias, float *s,
                       float *m, float *l, float *o, size_t ldo, size_t dpad, float *tmp) {
  (void)tmp;
  for (size_t r = 0; r < rows; r++) {
    float *sr = s + r * KB;
    float bm = -INFINITY;
    for (size_t j = 0; j < KB; j++) {
      const float x = masked(j, lim[r], kbias) ? -INFINITY : sr[j] * scale;
      sr[j] = x;
      if (x > bm) bm = x; /* NaN is ignored */
    }
    const float mn = (bm > m[r] ? bm : m[r]) + 0.0f;
    const float u = mn == -INFINITY ? 0.0f : mn;
    const float alpha = Sleef_finz_expf1_u10purecfma(m[r] - u);
    m[r] = mn;
    float *lr = l + 16 * r;
    for (int q = 0; q < 16; q++) lr[q] = lr[q] * alpha;
    for (size_t j = 0; j < KB; j++) {
      const float p = masked(j, lim[r], kbias) ? 0.0f : Sleef_finz_expf1_u10purecfma(sr[j] - u);
      sr[j] = p;
      lr[j % 16] = lr[j % 16] + p;
    }
    float *orow = o + r * ldo;
    for (size_t d = 0; d < dpad; d++) orow[d] = orow[d] * alpha;
  }
}

static void fwd_finish(size_t rows, const float *l, const float *m, const float *o, size_t ldo,
                       size_t dh, float *out, size_t ldout, float *lse) {
  for (size_t r = 0; r < rows; r++) {
    float t[16];
    for (int q = 0; q < 16; q++) t[q] = l[16 * r + q];
    const float sum = fold16(t);
    float *dst = out + r * ldout;
    if (sum == 0.0f) {
      for (size_t d = 0; d < dh; d++) dst[d] = 0.0f;
      lse[r] = INFINITY;
      continue;
    }
    for (size_t d = 0; d < dh; d++) dst[d] = o[r * ldo + d] / sum;
    lse[r] = m[r] + Sleef_finz_logf1_u10purecfma(sum);
  }
}

static void bwd_ds(size_t rows, const size_t *lim, float scale, const float *kbias,
                   const float *lse, const float *dsum, float *s, float *dp) {
  for (size_t r = 0; r < rows; r++)
    for (size_t j = 0; j < KB; j++) {
      float *sj = s + r * KB + j, *dj = dp + r * KB + j;
      if (masked(j, lim[r], kbias)) {
        *sj = 0.0f;
        *dj = 0.0f;
        continue;
      }
      const float p = Sleef_finz_expf1_u10purecfma(*sj * scale - lse[r]);
      *sj = p;
      *dj = p * (*dj - dsum[r]);
    }
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

const wsk_attn_ukernels wsk_attn_ukernels__scalar = {WSK_ISA_SCALAR, fwd_update, fwd_finish,
                                                     bwd_ds,         rowdot,     scale_rows};
