/* kernels/ukernels.h — the function tables of the kernel families
 * (internal). One table type per family; one table instance per tier,
 * named wsk_<family>_ukernels__<isa>, listed in kernels/<family>/<family>.inc.
 *
 * Micro-kernels receive validated, canonical arguments (see the plans below);
 * all checking happens in the public entry points.
 */
#ifndef WSK_KERNELS_UKERNELS_H
#define WSK_KERNELS_UKERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/attn.h"
#include "wsk/dispatch.h"
#include "wsk/eqpool.h"
#include "wsk/gemm.h"
#include "wsk/permsum.h"
#include "wsk_build.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- permsum ------------------------------------------------------------
 *
 * A reduce/broadcast plan is the tensor's axes with size-1 axes dropped and
 * neighbouring axes of the same kind (reduced or kept) merged, written in the
 * fixed form  [k0][r0][k1][r1][k2] x C  (absent segments have size 1).
 * Merging never changes the row-major order of the elements, so the plan is a
 * pure function of (dims, axes, C) and every tier sees the same one.
 *
 * Segments are filled from the right, so the last real segment is k2 when it
 * is kept and r1 when it is reduced (then k2 == 1).
 * inner_reduced: r1 > 1 and k2 == 1 — an output's elements form contiguous
 * runs of r1 * C floats, one per index of r0.
 * lanes: partial sums per output channel, P of wsk/permsum.h
 * (64 / C when inner_reduced and C divides 64, else 1).
 */
typedef struct wsk_ps_plan {
  size_t k0, r0, k1, r1, k2; /* segment sizes */
  size_t c;                  /* channels */
  size_t count;              /* elements reduced per output = r0 * r1 */
  int inner_reduced;         /* elements of one output are contiguous runs */
  int lanes;                 /* partial sums per channel: 1, 2, 4, ..., 64 */
  int mean;                  /* divide by count */
} wsk_ps_plan;

/* A diagonal plan: x = [p0][n][p1][n][p2] x C (the two shared axes of size n);
 * y = [p0][n][p1][p2] x C. */
typedef struct wsk_ps_diag_plan {
  size_t p0, n, p1, p2, c;
} wsk_ps_diag_plan;

/* Builds the plan of a reduction or broadcast (arguments already valid). */
void wsk_permsum_plan_make(int rank, const size_t *dims, size_t c, unsigned axes, int mean,
                           wsk_ps_plan *p);
/* The plan of a weight-matrix fast path x[n][m][c] (axes: WSK_AXES_*). */
void wsk_permsum_plan_matrix(size_t n, size_t m, size_t c, unsigned axes, int mean,
                             wsk_ps_plan *p);

typedef struct wsk_permsum_ukernels {
  wsk_isa isa;
  /* y[kept] = sum or mean over reduced of x (canonical order, permsum.h) */
  void (*reduce)(const wsk_ps_plan *p, const float *x, float *y);
  /* y[full] += r[kept] */
  void (*bcast_add)(const wsk_ps_plan *p, const float *r, float *y);
  /* y = diagonal of x */
  void (*diag)(const wsk_ps_diag_plan *p, const float *x, float *y);
  /* y[diagonal] += r */
  void (*diag_add)(const wsk_ps_diag_plan *p, const float *r, float *y);
  /* Fast paths of the weight matrix x = [n][m][C]:
   * rows: y[n][C] (reduce axis 1), cols: y[m][C] (axis 0), total: y[C]. */
  void (*rows)(size_t n, size_t m, size_t c, int mean, const float *x, float *y);
  void (*cols)(size_t n, size_t m, size_t c, int mean, const float *x, float *y);
  void (*total)(size_t n, size_t m, size_t c, int mean, const float *x, float *y);
  /* row and column means of x = [n][m][C] at once: the same bits as rows and
   * cols above, in one pass over x where the shape allows it. */
  void (*rowcol)(size_t n, size_t m, size_t c, const float *x, float *rows, float *cols);
} wsk_permsum_ukernels;

/* ---- eqpool ---------------------------------------------------------------
 *
 * The equivariant layer is composed (kernels/eqpool/eqpool.c) from two
 * micro-kernels and the permsum reductions of the same tier.
 *
 * mix: for j < nj, k < nk, o < n:
 *   y[(j*nk + k)*ldy + o] = chain over i < kdim of
 *       fmaf(x[(j*nk + k)*ldx + i], m[i*n + o], acc)
 *   where acc starts at  y[...] itself             when accumulate != 0,
 *                    at  u[j*n + o] + v[k*n + o]   otherwise; at u[...] or
 *                        v[...] alone when the other is NULL, at +0.0f when
 *                        both are NULL,
 *   and the chain runs over i = 0, 1, ..., kdim - 1 in that order.
 *
 * outer: for i < kdim, o < n:
 *   g[i*n + o] = chain over r < rows of fmaf(x[r*ldx + i], d[r*ldd + o], acc)
 *   where acc starts at g[i*n + o] (accumulates onto g), r in order.
 */
typedef struct wsk_eqpool_ukernels {
  wsk_isa isa;
  void (*mix)(size_t nj, size_t nk, size_t kdim, size_t n, const float *x, size_t ldx,
              const float *m, const float *u, const float *v, int accumulate, float *y,
              size_t ldy);
  void (*outer)(size_t rows, size_t kdim, size_t n, const float *x, size_t ldx, const float *d,
                size_t ldd, float *g);
} wsk_eqpool_ukernels;

/* ---- gemm ----------------------------------------------------------------
 *
 * The driver (kernels/gemm/gemm.c) packs B into micro-panels bp[kc][nr]
 * (zero-padded to nr) and hands the micro-kernel A where it lies: element
 * (ii, p) of the tile's rows at a[ii*rsa + p*csa] (rows past mr_eff are
 * never read). It calls the micro-kernel once per tile and block of k. The
 * contract of an element (i, j):
 *   acc = +0.0f; for p = 0 .. k-1 in order: acc = fmaf(A[i][p], B[p][j], acc)
 * where a block of k continues from the partial sum stored in t (exact: a
 * float stored and reloaded), and after the last block
 *   r = alpha * acc; if (beta != 0) r = fmaf(beta, C[i][j], r);
 *   if (bias) r = r + bias[j]; if (relu) r = r > 0 ? r : 0 (NaN stays NaN);
 * then GELU or tanh, when asked, by the eltwise family on the finished rows. */
typedef struct wsk_gemm_epilogue {
  float alpha, beta;
  const float *bias; /* indexed by the tile's first column j0 + jj, or NULL */
  int relu;
} wsk_gemm_epilogue;

typedef struct wsk_gemm_ukernels {
  wsk_isa isa;
  size_t mr, nr; /* register tile */
  /* B's row p of the panel at bp + p*ldb: ldb = nr for a packed panel, or
   * the row stride of B itself when a full panel is read where it lies.
   * tile rows mr_eff <= mr, cols nr_eff <= nr:
   * first: partial sums start at +0.0f, else from t[ii*ldt + jj];
   * last: the epilogue writes c[ii*ldc + jj] (bias at column j0 + jj), else
   * the partial sums go to t. t may equal c when beta == 0. */
  void (*kernel)(size_t kc, const float *a, size_t rsa, size_t csa, const float *bp, size_t ldb,
                 size_t mr_eff, size_t nr_eff, float *t, size_t ldt, int first, int last,
                 const wsk_gemm_epilogue *ep, float *c, size_t ldc, size_t j0);
} wsk_gemm_ukernels;

/* ---- attn -----------------------------------------------------------------
 *
 * The column operations of the online softmax (wsk/attn.h gives the order
 * of every operation). The driver (kernels/attn/attn.c) computes the matrix
 * products with the same tier's gemm micro-kernel, transposed so that
 * queries run along the vectors: a block's scores are S^T[j][i] (key j,
 * query i), and these kernels work on 16 queries at once, lane t = query t.
 * st[j*ld + t]: the score of key j (j < nk) for query t (t < 16).
 * limf[t]: query t sees keys j < limf[t] of the block (the causal mask and
 * padding queries, as floats); kbias, when not NULL, holds nk floats,
 * negative for keys the key mask removes.
 */
typedef struct wsk_attn_ukernels {
  wsk_isa isa;
  /* Replaces the raw dot products st by p (0 where masked), and updates the
   * running maxima m[16] and sums l[16]; alpha[16] = the rescaling factors. */
  void (*fwd_update)(size_t nk, const float *limf, float scale, const float *kbias, float *st,
                     size_t ld, float *m, float *l, float *alpha);
  /* st (raw q.k) -> P = exp(st * scale - lse[t]); dpt (raw dO.v) ->
   * dS = P * (dpt - dsum[t]); both 0 where masked */
  void (*bwd_ds)(size_t nk, const float *limf, float scale, const float *kbias, const float *lse,
                 const float *dsum, float *st, float *dpt, size_t ld);
  /* x[r*ldx + c] *= alpha[c] for r < rows, c < cols (cols a multiple of 16) */
  void (*mul_cols)(size_t rows, size_t cols, const float *alpha, float *x, size_t ldx);
  /* The end of the forward: x[r*ldx + c] = l[c] == 0 ? 0 : x[r*ldx + c] / l[c]
   * and lse[c] = l[c] == 0 ? +Inf : m[c] + log(l[c]) (cols a multiple of 16) */
  void (*finish)(size_t rows, size_t cols, const float *l, const float *m, float *x, size_t ldx,
                 float *lse);
  /* out[r] = a_r . b_r over dh: 16 partial sums (lane d mod 16), halving tree */
  void (*rowdot)(size_t rows, size_t dh, const float *a, size_t lda, const float *b, size_t ldb,
                 float *out);
  /* dst[r*lddst + d] = alpha * acc[r*ldacc + d], d < dh (dst may be acc) */
  void (*scale_rows)(size_t rows, size_t dh, float alpha, const float *acc, size_t ldacc,
                     float *dst, size_t lddst);
} wsk_attn_ukernels;

#include "eltwise/eltwise-ukernels.h"
#include "optim/optim-ukernels.h"

/* The gemm driver on given tiers' tables (wsk_gemm passes the dispatched
 * ones; tests and benchmarks name a tier). Arguments already checked. */
wsk_status wsk__gemm_with(const wsk_gemm_ukernels *gk, const wsk_eltwise_ukernels *ek, int ta,
                          int tb, size_t m, size_t n, size_t k, float alpha, const float *a,
                          size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc,
                          const float *bias, int act);

/* The eqpool layer on given tiers' tables (the public functions pass the
 * dispatched ones; tests and benchmarks name a tier). */
wsk_status wsk__eqpool_forward_with(const wsk_permsum_ukernels *ps, const wsk_eqpool_ukernels *eq,
                                    const wsk_eqpool_shape *s, const float *params,
                                    const float *x, float *y);
wsk_status wsk__eqpool_backward_with(const wsk_permsum_ukernels *ps,
                                     const wsk_eqpool_ukernels *eq, const wsk_eqpool_shape *s,
                                     const float *params, const float *x, const float *dy,
                                     float *dx, float *dparams);
/* The pooled statistics of the layer's input (the means it mixes): g, then
 * R_i and K_i of every layer. *floats = their count; out may be NULL. */
wsk_status wsk__eqpool_pool_with(const wsk_permsum_ukernels *ps, const wsk_eqpool_shape *s,
                                 const float *x, float *out, size_t *floats);
wsk_status wsk__eqpool_invariant_with(const wsk_permsum_ukernels *ps, const wsk_eqpool_shape *s,
                                      const float *x, float *y);

/* Attention on given tiers' tables (the public functions pass the
 * dispatched ones; tests and benchmarks name a tier). Arguments checked. */
wsk_status wsk__attn_forward_with(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                                  const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                                  wsk_attn_cview v, wsk_attn_view o, float *lse);
wsk_status wsk__attn_backward_with(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                                   const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                                   wsk_attn_cview v, wsk_attn_cview o, const float *lse,
                                   wsk_attn_cview do_, wsk_attn_view dq, wsk_attn_view dk,
                                   wsk_attn_view dv);
/* wsk_attn_workspace_bytes for a pool of `threads` threads (benchmarks) */
int64_t wsk__attn_workspace_bytes_for(const wsk_attn_desc *d, int backward, int threads);

/* Tables of every tier compiled in (declared by the .inc lists). */
#define WSK_IMPL(family, isa_suffix, isa_enum) \
  extern const wsk_##family##_ukernels wsk_##family##_ukernels__##isa_suffix;
#include "attn/attn.inc"
#include "eltwise/eltwise.inc"
#include "eqpool/eqpool.inc"
#include "gemm/gemm.inc"
#include "optim/optim.inc"
#include "permsum/permsum.inc"
#undef WSK_IMPL

/* Fills every family's table on first use (pthread_once) and reports an
 * invalid WSK_ISA as WSK_ERR_ISA with a message. Entry points call it first. */
wsk_status wsk__dispatch_ready(void);

/* The tables the dispatch layer chose (never NULL after a successful
 * wsk__dispatch_ready()). */
const wsk_permsum_ukernels *wsk__permsum_table(void);
const wsk_eqpool_ukernels *wsk__eqpool_table(void);
const wsk_gemm_ukernels *wsk__gemm_table(void);
const wsk_eltwise_ukernels *wsk__eltwise_table(void);
const wsk_optim_ukernels *wsk__optim_table(void);
const wsk_attn_ukernels *wsk__attn_table(void);

#ifdef __cplusplus
}
#endif
#endif
