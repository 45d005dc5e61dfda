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

#include "wsk/dispatch.h"
#include "wsk/eqpool.h"
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

/* Tables of every tier compiled in (declared by the .inc lists). */
#define WSK_IMPL(family, isa_suffix, isa_enum) \
  extern const wsk_##family##_ukernels wsk_##family##_ukernels__##isa_suffix;
#include "eqpool/eqpool.inc"
#include "permsum/permsum.inc"
#undef WSK_IMPL

/* Fills every family's table on first use (pthread_once) and reports an
 * invalid WSK_ISA as WSK_ERR_ISA with a message. Entry points call it first. */
wsk_status wsk__dispatch_ready(void);

/* The tables the dispatch layer chose (never NULL after a successful
 * wsk__dispatch_ready()). */
const wsk_permsum_ukernels *wsk__permsum_table(void);
const wsk_eqpool_ukernels *wsk__eqpool_table(void);

#ifdef __cplusplus
}
#endif
#endif
