/* kernels/gemm/gemm.c — the public entry point of the gemm family: argument
 * checks, and the blocked driver in the manner of BLIS (loops over blocks of
 * n, k and m; B packed into zero-padded micro-panels, A read where it lies;
 * the tier's micro-kernel per register tile). Built with baseline flags: it only moves
 * data. Every element's k loop runs in order across the k blocks (a block
 * continues from the stored partial sum), so the blocking never changes a
 * bit (wsk/gemm.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "kernels/ukernels.h"

enum { GEMM_KC = 256, GEMM_MC_TILES = 12, GEMM_NC = 1024 };
/* packed B panels up to this many floats live on the stack (small problems
 * then allocate nothing) */
enum { GEMM_SMALL_FLOATS = 16384 };


/* k-range [p0, p0+kc) x columns [j0, j0+nc) of op(B) into panels of nr
 * columns: bp[panel][p][jj], columns past the end zero */
static void pack_b(const float *b, size_t ldb, int tb, size_t p0, size_t kc, size_t j0, size_t nc,
                   size_t nr, float *bp) {
  for (size_t jr = 0; jr < nc; jr += nr) {
    float *panel = bp + (jr / nr) * kc * nr;
    const size_t cols = nc - jr < nr ? nc - jr : nr;
    for (size_t p = 0; p < kc; p++) {
      float *dst = panel + p * nr;
      if (!tb) {
        memcpy(dst, b + (p0 + p) * ldb + j0 + jr, cols * sizeof(float));
      } else {
        for (size_t jj = 0; jj < cols; jj++) dst[jj] = b[(j0 + jr + jj) * ldb + p0 + p];
      }
      for (size_t jj = cols; jj < nr; jj++) dst[jj] = 0.0f;
    }
  }
}

wsk_status wsk__gemm_with(const wsk_gemm_ukernels *gk, const wsk_eltwise_ukernels *ek, int ta,
                          int tb, size_t m, size_t n, size_t k, float alpha, const float *a,
                          size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc,
                          const float *bias, int act) {
  const size_t mr = gk->mr, nr = gk->nr, mc_max = GEMM_MC_TILES * mr;
  const size_t nc_max = GEMM_NC < n ? GEMM_NC : n;
  const size_t kc_max = GEMM_KC < k ? GEMM_KC : k;
  /* partial sums of several k blocks go to C itself unless C's old values are
   * still needed at the end (beta != 0): then to a workspace */
  const int use_w = beta != 0.0f && k > GEMM_KC;
  const size_t bp_floats = ((nc_max + nr - 1) / nr) * nr * kc_max;
  _Alignas(64) float small[GEMM_SMALL_FLOATS];
  float *bp = bp_floats <= GEMM_SMALL_FLOATS ? small : NULL, *w = NULL;
  if (!bp && posix_memalign((void **)&bp, 64, bp_floats * sizeof(float)) != 0) bp = NULL;
  if (use_w) w = malloc(m * n * sizeof(float));
  if (!bp || (use_w && !w)) {
    if (bp != small) free(bp);
    free(w);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_gemm: out of memory for the packed panels");
  }
  /* A as it lies: element (i, p) at a[i*rsa + p*csa] */
  const size_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
  float *t = use_w ? w : c;
  const size_t ldt = use_w ? n : ldc;
  const wsk_gemm_epilogue ep = {alpha, beta, bias, act == WSK_ACT_RELU};
  for (size_t j0 = 0; j0 < n; j0 += GEMM_NC) {
    const size_t nc = n - j0 < GEMM_NC ? n - j0 : GEMM_NC;
    for (size_t p0 = 0; p0 < k; p0 += GEMM_KC) {
      const size_t kc = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;
      const int first = p0 == 0, last = p0 + kc == k;
      pack_b(b, ldb, tb, p0, kc, j0, nc, nr, bp);
      for (size_t i0 = 0; i0 < m; i0 += mc_max) {
        const size_t mc = m - i0 < mc_max ? m - i0 : mc_max;
        for (size_t jr = 0; jr < nc; jr += nr) {
          const size_t nre = nc - jr < nr ? nc - jr : nr;
          for (size_t ir = 0; ir < mc; ir += mr) {
            const size_t mre = mc - ir < mr ? mc - ir : mr;
            const size_t i = i0 + ir, j = j0 + jr;
            gk->kernel(kc, a + i * rsa + p0 * csa, rsa, csa, bp + (jr / nr) * kc * nr, mre, nre,
                       t + i * ldt + j, ldt, first, last, &ep, c + i * ldc + j, ldc, j);
          }
        }
        if (last && (act == WSK_ACT_GELU || act == WSK_ACT_TANH))
          for (size_t i = i0; i < i0 + mc; i++) {
            float *row = c + i * ldc + j0;
            if (act == WSK_ACT_GELU)
              ek->gelu(nc, row, row);
            else
              ek->tanh(nc, row, row);
          }
      }
    }
  }
  if (bp != small) free(bp);
  free(w);
  return WSK_OK;
}

static int overlaps(const void *a, size_t abytes, const void *b, size_t bbytes) {
  const uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
  return a0 < b0 + bbytes && b0 < a0 + abytes;
}

wsk_status wsk_gemm(wsk_trans ta, wsk_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc, const float *bias, wsk_activation act) {
  const char *fn = "wsk_gemm";
  if (!a || !b || !c) return wsk__fail(WSK_ERR_NULL, "%s: A, B or C is NULL", fn);
  if (m < 1 || n < 1 || k < 1)
    return wsk__fail(WSK_ERR_SIZE, "%s: m = %lld, n = %lld, k = %lld; each must be >= 1", fn,
                     (long long)m, (long long)n, (long long)k);
  if ((ta != WSK_NO_TRANS && ta != WSK_TRANS) || (tb != WSK_NO_TRANS && tb != WSK_TRANS))
    return wsk__fail(WSK_ERR_ARG, "%s: transposes must be WSK_NO_TRANS or WSK_TRANS", fn);
  if ((unsigned)act > WSK_ACT_TANH)
    return wsk__fail(WSK_ERR_ARG, "%s: unknown activation %d", fn, (int)act);
  /* stored shapes: A is m x k (or k x m), B is k x n (or n x k) */
  const int64_t arows = ta ? k : m, acols = ta ? m : k;
  const int64_t brows = tb ? n : k, bcols = tb ? k : n;
  if (lda < acols || ldb < bcols || ldc < n)
    return wsk__fail(WSK_ERR_ARG,
                     "%s: leading dimensions lda = %lld, ldb = %lld, ldc = %lld must be at "
                     "least %lld, %lld, %lld",
                     fn, (long long)lda, (long long)ldb, (long long)ldc, (long long)acols,
                     (long long)bcols, (long long)n);
  size_t abytes, bbytes, cbytes, t;
  if (__builtin_mul_overflow((uint64_t)(arows - 1), (uint64_t)lda, &t) ||
      __builtin_add_overflow(t, (size_t)acols, &t) ||
      __builtin_mul_overflow(t, sizeof(float), &abytes) ||
      __builtin_mul_overflow((uint64_t)(brows - 1), (uint64_t)ldb, &t) ||
      __builtin_add_overflow(t, (size_t)bcols, &t) ||
      __builtin_mul_overflow(t, sizeof(float), &bbytes) ||
      __builtin_mul_overflow((uint64_t)(m - 1), (uint64_t)ldc, &t) ||
      __builtin_add_overflow(t, (size_t)n, &t) || __builtin_mul_overflow(t, sizeof(float), &cbytes) ||
      __builtin_mul_overflow((uint64_t)m, (uint64_t)n, &t) || t > SIZE_MAX / sizeof(float))
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: the matrices' sizes overflow size_t", fn);
  if (overlaps(c, cbytes, a, abytes) || overlaps(c, cbytes, b, bbytes) ||
      (bias && overlaps(c, cbytes, bias, (size_t)n * sizeof(float))))
    return wsk__fail(WSK_ERR_ARG, "%s: C overlaps A, B or bias", fn);
  WSK_TRY(wsk__dispatch_ready());
  return wsk__gemm_with(wsk__gemm_table(), wsk__eltwise_table(), ta == WSK_TRANS,
                        tb == WSK_TRANS, (size_t)m, (size_t)n, (size_t)k, alpha, a, (size_t)lda,
                        b, (size_t)ldb, beta, c, (size_t)ldc, bias, (int)act);
}
