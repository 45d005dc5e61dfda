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
#include "wsk/threads.h"

enum { GEMM_KC = 256, GEMM_MC_TILES = 12, GEMM_NC = 1024 };
/* packed B panels up to this many floats live on the stack (small problems
 * then allocate nothing) */
enum { GEMM_SMALL_FLOATS = 16384 };
/* column panels per task of the thread pool */
enum { GEMM_COL_PANELS = 4 };


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

/* Packing B, one column panel per task. */
typedef struct pack_job {
  const float *b;
  size_t ldb;
  int tb;
  size_t p0, kc, j0, nc, nr;
  float *bp;
  size_t first; /* index of the first panel packed */
} pack_job;

static void pack_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const pack_job *p = ctx;
  index += p->first;
  const size_t jr = index * p->nr, cols = p->nc - jr < p->nr ? p->nc - jr : p->nr;
  pack_b(p->b, p->ldb, p->tb, p->p0, p->kc, p->j0 + jr, cols, p->nr,
         p->bp + index * p->kc * p->nr);
}

/* One call's state, shared by the tasks of a block of n and k. */
typedef struct gemm_job {
  const wsk_gemm_ukernels *gk;
  const wsk_eltwise_ukernels *ek;
  const float *a;
  size_t rsa, csa;
  const float *b; /* B itself, row-major with row stride ldb, when direct */
  size_t ldb;
  int direct;     /* full panels are read from B where it lies */
  const float *bp;
  float *t;
  size_t ldt;
  float *c;
  size_t ldc;
  const wsk_gemm_epilogue *ep;
  int act;
  size_t m;
  size_t j0, nc, p0, kc, ncols;
  int first, last;
} gemm_job;

/* Task `index` of a block: rows [i0, i0 + MC) x a group of GEMM_COL_PANELS
 * column panels. Tasks write disjoint parts of C, and every element's k
 * loop runs whole inside one task per block of k, so the thread count
 * changes no bit. */
static void gemm_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const gemm_job *g = ctx;
  const size_t mr = g->gk->mr, nr = g->gk->nr, mc_max = GEMM_MC_TILES * mr;
  const size_t i0 = (index / g->ncols) * mc_max, c0 = (index % g->ncols) * GEMM_COL_PANELS * nr;
  const size_t mc = g->m - i0 < mc_max ? g->m - i0 : mc_max;
  const size_t cend = c0 + GEMM_COL_PANELS * nr < g->nc ? c0 + GEMM_COL_PANELS * nr : g->nc;
  for (size_t jr = c0; jr < cend; jr += nr) {
    const size_t nre = cend - jr < nr ? cend - jr : nr;
    for (size_t ir = 0; ir < mc; ir += mr) {
      const size_t mre = mc - ir < mr ? mc - ir : mr;
      const size_t i = i0 + ir, j = g->j0 + jr;
      const int dir = g->direct && nre == nr;
      const float *bp = dir ? g->b + g->p0 * g->ldb + j : g->bp + (jr / nr) * g->kc * nr;
      g->gk->kernel(g->kc, g->a + i * g->rsa + g->p0 * g->csa, g->rsa, g->csa, bp,
                    dir ? g->ldb : nr, mre, nre, g->t + i * g->ldt + j, g->ldt, g->first, g->last,
                    g->ep, g->c + i * g->ldc + j, g->ldc, j);
    }
  }
  if (g->last && (g->act == WSK_ACT_GELU || g->act == WSK_ACT_TANH))
    for (size_t i = i0; i < i0 + mc; i++) {
      float *row = g->c + i * g->ldc + g->j0 + c0;
      if (g->act == WSK_ACT_GELU)
        g->ek->gelu(cend - c0, row, row);
      else
        g->ek->tanh(cend - c0, row, row);
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
  /* B read where it lies (full panels; the last partial one is packed) when
   * it is not transposed and packing would not pay: few rows of A reuse each
   * panel, or B is small enough to stay in L1. The same bits either way. */
  const int direct = !tb && (m <= mc_max || k * n <= 8192);
  gemm_job job = {.gk = gk, .ek = ek, .a = a, .rsa = rsa, .csa = csa, .b = b, .ldb = ldb,
                  .direct = direct, .bp = bp, .t = t, .ldt = ldt, .c = c, .ldc = ldc, .ep = &ep,
                  .act = act, .m = m};
  wsk_status rc = WSK_OK;
  for (size_t j0 = 0; j0 < n && rc == WSK_OK; j0 += GEMM_NC) {
    const size_t nc = n - j0 < GEMM_NC ? n - j0 : GEMM_NC;
    for (size_t p0 = 0; p0 < k && rc == WSK_OK; p0 += GEMM_KC) {
      const size_t kc = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;
      const size_t panels = (nc + nr - 1) / nr;
      /* direct: only a last partial panel is packed */
      const size_t first_packed = direct ? (nc % nr ? panels - 1 : panels) : 0;
      const pack_job pj = {b, ldb, tb, p0, kc, j0, nc, nr, bp, first_packed};
      rc = wsk_parallel_for(panels - first_packed, pack_task, (void *)&pj);
      if (rc != WSK_OK) break;
      job.j0 = j0;
      job.nc = nc;
      job.p0 = p0;
      job.kc = kc;
      job.first = p0 == 0;
      job.last = p0 + kc == k;
      job.ncols = (nc + GEMM_COL_PANELS * nr - 1) / (GEMM_COL_PANELS * nr);
      const size_t nrows = (m + mc_max - 1) / mc_max;
      rc = wsk_parallel_for(nrows * job.ncols, gemm_task, &job);
    }
  }
  if (bp != small) free(bp);
  free(w);
  return rc;
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
