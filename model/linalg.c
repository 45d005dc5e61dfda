/* model/linalg.c — deterministic dense linear algebra in double precision
 * (model/linalg.h): dot products, Gram matrices, Cholesky, triangular
 * solves, standardization and ridge regression (primal and dual forms).
 *
 * Every sum is written out in its order here; nothing relies on the
 * compiler's choice. The loops that the compiler may vectorize (over the
 * columns of an axpy, over the eight partial sums of wsk_ddot) keep each
 * output's order, so vectorized and scalar code give the same bits.
 */
#include "model/linalg.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "wsk/threads.h"

/* n * m * sizeof(double) without overflow, or 0 */
static size_t bytes2(size_t n, size_t m) {
  if (n != 0 && m > SIZE_MAX / sizeof(double) / n) return 0;
  return n * m * sizeof(double);
}

static double *dalloc(size_t n, size_t m) {
  const size_t b = bytes2(n, m);
  if (b == 0 && n != 0 && m != 0) return NULL;
  return malloc(b ? b : sizeof(double));
}

/* ---- dot products in the order of wsk_ddot ----
 * wsk_ddot splits into: eight partial sums over the complete chunks of 8
 * (chunk_acc, which may run over any sequence of consecutive chunk ranges
 * with the sums kept in between), then the fold and the tail (fold_tail).
 * The blocked Gram matrix and Cholesky below resume partial sums across
 * cache blocks this way, so their every element has the bits of the
 * unblocked definition. */

/* s[q] += a[k + q] b[k + q] for the chunks k = k0, k0 + 8, ..., < k1 */
static void chunk_acc(const double *a, const double *b, size_t k0, size_t k1, double *s) {
  double t[8];
  memcpy(t, s, sizeof t);
  for (size_t k = k0; k < k1; k += 8)
    for (size_t q = 0; q < 8; q++) t[q] = t[q] + a[k + q] * b[k + q];
  memcpy(s, t, sizeof t);
}

/* the fold of the partial sums, then the terms k = kfull .. n-1 in order */
static double fold_tail(const double *s, const double *a, const double *b, size_t kfull, size_t n) {
  double t = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
  for (size_t k = kfull; k < n; k++) t = t + a[k] * b[k];
  return t;
}

static size_t full8(size_t n) { return n & ~(size_t)7; }

double wsk_ddot(const double *a, const double *b, size_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  chunk_acc(a, b, 0, full8(n), s);
  return fold_tail(s, a, b, full8(n), n);
}

/* Cache blocking: tiles of TILE rows x TILE columns of the result, the dot
 * products' length cut into KBLOCK-long pieces (a multiple of 8), so that
 * the rows of a tile stay in cache while their partial sums (8 per element,
 * TILE x TILE x 8 doubles) are carried from piece to piece. */
enum { TILE = 32, KBLOCK = 256 };

/* ---- Gram matrix ---- */

typedef struct gram_job {
  const double *a;
  size_t rows, cols, tiles;
  double *g;
  double *acc; /* per thread: TILE * TILE * 8 */
} gram_job;

/* tile (ti, tj), tj <= ti, of the lower triangle, mirrored into the upper */
static void gram_tile(const gram_job *j, size_t ti, size_t tj, double *acc) {
  const size_t i0 = ti * TILE, i1 = i0 + TILE < j->rows ? i0 + TILE : j->rows;
  const size_t j0 = tj * TILE, j1 = j0 + TILE < j->rows ? j0 + TILE : j->rows;
  const size_t n = j->cols, kfull = full8(n);
  for (size_t k = 0; k < TILE * TILE * 8; k++) acc[k] = 0;
  for (size_t kb = 0; kb < kfull; kb += KBLOCK) {
    const size_t ke = kb + KBLOCK < kfull ? kb + KBLOCK : kfull;
    for (size_t i = i0; i < i1; i++) {
      const size_t jend = ti == tj ? i + 1 : j1;
      for (size_t c = j0; c < jend; c++)
        chunk_acc(j->a + i * n, j->a + c * n, kb, ke, acc + ((i - i0) * TILE + (c - j0)) * 8);
    }
  }
  for (size_t i = i0; i < i1; i++) {
    const size_t jend = ti == tj ? i + 1 : j1;
    for (size_t c = j0; c < jend; c++) {
      const double v =
          fold_tail(acc + ((i - i0) * TILE + (c - j0)) * 8, j->a + i * n, j->a + c * n, kfull, n);
      j->g[i * j->rows + c] = v;
      j->g[c * j->rows + i] = v;
    }
  }
}

/* task p: tile row p and tile row tiles-1-p, so that tasks do about the
 * same work */
static void gram_task(void *ctx, size_t p, int thread) {
  const gram_job *j = ctx;
  double *acc = j->acc + (size_t)thread * TILE * TILE * 8;
  for (size_t tj = 0; tj <= p; tj++) gram_tile(j, p, tj, acc);
  const size_t q = j->tiles - 1 - p;
  if (q != p)
    for (size_t tj = 0; tj <= q; tj++) gram_tile(j, q, tj, acc);
}

wsk_status wsk_dgram(const double *a, size_t rows, size_t cols, double *g) {
  if (!a || !g) return wsk__fail(WSK_ERR_NULL, "wsk_dgram: NULL matrix");
  if (rows == 0 || cols == 0)
    return wsk__fail(WSK_ERR_SIZE, "wsk_dgram: empty matrix (%zu x %zu)", rows, cols);
  const int nt = wsk_threads_count();
  gram_job j = {a, rows, cols, (rows + TILE - 1) / TILE, g, dalloc((size_t)nt, TILE * TILE * 8)};
  if (!j.acc) return wsk__fail(WSK_ERR_NOMEM, "wsk_dgram: out of memory");
  const wsk_status s = wsk_parallel_for((j.tiles + 1) / 2, gram_task, &j);
  free(j.acc);
  return s;
}

/* ---- Cholesky ----
 * The definition (Cholesky–Banachiewicz), row by row:
 *   L[i][j] = (A[i][j] - wsk_ddot(L_i, L_j, j)) / L[j][j]   (j < i)
 *   L[i][i] = sqrt(A[i][i] - wsk_ddot(L_i, L_i, i))
 * computed by blocks of TILE columns [c0, c1) with these bits:
 *  1. for every row i >= c0 and column j of the block (j <= i), the partial
 *     sums over the columns k < c0 (all done, complete chunks since c0 is a
 *     multiple of 8), tiled and on the thread pool — the bulk of the work;
 *  2. the rows of the block itself, one by one (their pivots, in order);
 *  3. the rows below the block on the thread pool, each finishing its
 *     partial sums over k in [c0, j) as the definition does. */

typedef struct chol_job {
  double *a;
  size_t n, c0, c1;
  double *s; /* (n - c0) x TILE x 8 partial sums */
} chol_job;

/* step 1 for the rows of tile p (rows c0 + p*TILE ...) */
static void chol_left_task(void *ctx, size_t p, int thread) {
  (void)thread;
  const chol_job *j = ctx;
  const size_t n = j->n, i0 = j->c0 + p * TILE, i1 = i0 + TILE < n ? i0 + TILE : n;
  for (size_t i = i0; i < i1; i++)
    for (size_t k = 0; k < TILE * 8; k++) j->s[((i - j->c0) * TILE) * 8 + k] = 0;
  for (size_t kb = 0; kb < j->c0; kb += KBLOCK) {
    const size_t ke = kb + KBLOCK < j->c0 ? kb + KBLOCK : j->c0;
    for (size_t i = i0; i < i1; i++) {
      const size_t jend = i < j->c1 ? i + 1 : j->c1;
      for (size_t c = j->c0; c < jend; c++)
        chunk_acc(j->a + i * n, j->a + c * n, kb, ke,
                  j->s + ((i - j->c0) * TILE + (c - j->c0)) * 8);
    }
  }
}

/* row i's entries in the columns [c0, min(c1, i)) (steps 2 and 3), in order */
static void chol_row_block(const chol_job *j, size_t i) {
  const size_t n = j->n;
  double *li = j->a + i * n;
  const size_t jend = i < j->c1 ? i : j->c1;
  for (size_t c = j->c0; c < jend; c++) {
    const double *lc = j->a + c * n;
    double *s = j->s + ((i - j->c0) * TILE + (c - j->c0)) * 8;
    chunk_acc(li, lc, j->c0, full8(c), s);
    li[c] = (li[c] - fold_tail(s, li, lc, full8(c), c)) / lc[c];
  }
}

static void chol_below_task(void *ctx, size_t i, int thread) {
  (void)thread;
  const chol_job *j = ctx;
  chol_row_block(j, j->c1 + i);
}

wsk_status wsk_cholesky(double *a, size_t n) {
  if (!a) return wsk__fail(WSK_ERR_NULL, "wsk_cholesky: NULL matrix");
  if (n == 0) return WSK_OK;
  chol_job j = {a, n, 0, 0, dalloc(n, TILE * 8)};
  if (!j.s) return wsk__fail(WSK_ERR_NOMEM, "wsk_cholesky: out of memory (order %zu)", n);
  wsk_status st = WSK_OK;
  for (size_t c0 = 0; c0 < n && st == WSK_OK; c0 += TILE) {
    j.c0 = c0;
    j.c1 = c0 + TILE < n ? c0 + TILE : n;
    st = wsk_parallel_for((n - c0 + TILE - 1) / TILE, chol_left_task, &j);
    for (size_t i = c0; i < j.c1 && st == WSK_OK; i++) { /* the block's own rows */
      chol_row_block(&j, i);
      double *li = a + i * n, *s = j.s + ((i - c0) * TILE + (i - c0)) * 8;
      chunk_acc(li, li, c0, full8(i), s);
      const double p = li[i] - fold_tail(s, li, li, full8(i), i);
      if (!(p > 0))
        st = wsk__fail(WSK_ERR_ARG,
                       "matrix is not positive definite: pivot %zu of %zu is %g (Cholesky)", i, n,
                       p);
      li[i] = sqrt(p);
    }
    if (st == WSK_OK) st = wsk_parallel_for(n - j.c1, chol_below_task, &j);
  }
  free(j.s);
  if (st != WSK_OK) return st;
  for (size_t i = 0; i < n; i++)
    for (size_t c = i + 1; c < n; c++) a[i * n + c] = 0;
  return WSK_OK;
}

void wsk_trsm_lower(const double *l, size_t n, double *b, size_t nrhs) {
  for (size_t i = 0; i < n; i++) {
    double *bi = b + i * nrhs;
    for (size_t k = 0; k < i; k++) {
      const double lik = l[i * n + k];
      const double *bk = b + k * nrhs;
      for (size_t r = 0; r < nrhs; r++) bi[r] = bi[r] - lik * bk[r];
    }
    const double d = l[i * n + i];
    for (size_t r = 0; r < nrhs; r++) bi[r] = bi[r] / d;
  }
}

/* L^T x = b from the last row up: once x_i is known, its term is taken out
 * of every earlier right-hand side (row i of L is contiguous). */
void wsk_trsm_lower_t(const double *l, size_t n, double *b, size_t nrhs) {
  for (size_t i = n; i-- > 0;) {
    const double *li = l + i * n;
    double *bi = b + i * nrhs;
    for (size_t r = 0; r < nrhs; r++) bi[r] = bi[r] / li[i];
    for (size_t k = 0; k < i; k++) {
      double *bk = b + k * nrhs;
      for (size_t r = 0; r < nrhs; r++) bk[r] = bk[r] - li[k] * bi[r];
    }
  }
}

wsk_status wsk_spd_solve(double *a, size_t n, double *b, size_t nrhs) {
  if (!a || !b) return wsk__fail(WSK_ERR_NULL, "wsk_spd_solve: NULL matrix");
  WSK_TRY(wsk_cholesky(a, n));
  wsk_trsm_lower(a, n, b, nrhs);
  wsk_trsm_lower_t(a, n, b, nrhs);
  return WSK_OK;
}

/* ---- standardization ---- */

wsk_status wsk_standardize_fit(const double *x, size_t n, size_t d, wsk_standardizer *s) {
  if (!x || !s) return wsk__fail(WSK_ERR_NULL, "wsk_standardize_fit: NULL argument");
  memset(s, 0, sizeof *s);
  if (n == 0 || d == 0)
    return wsk__fail(WSK_ERR_SIZE, "wsk_standardize_fit: empty matrix (%zu x %zu)", n, d);
  s->d = d;
  s->mean = dalloc(d, 1);
  s->scale = dalloc(d, 1);
  int *constant = malloc(d * sizeof *constant);
  if (!s->mean || !s->scale || !constant) {
    free(constant);
    wsk_standardizer_free(s);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_standardize_fit: out of memory (%zu features)", d);
  }
  for (size_t j = 0; j < d; j++) {
    s->mean[j] = 0;
    s->scale[j] = 0;
    constant[j] = 1;
  }
  /* sums in row order, one column at a time per row (vectorizes over j) */
  for (size_t i = 0; i < n; i++) {
    const double *xi = x + i * d;
    for (size_t j = 0; j < d; j++) {
      s->mean[j] = s->mean[j] + xi[j];
      constant[j] &= xi[j] == x[j];
    }
  }
  for (size_t j = 0; j < d; j++) s->mean[j] = constant[j] ? x[j] : s->mean[j] / (double)n;
  for (size_t i = 0; i < n; i++) {
    const double *xi = x + i * d;
    for (size_t j = 0; j < d; j++) {
      const double c = xi[j] - s->mean[j];
      s->scale[j] = s->scale[j] + c * c;
    }
  }
  for (size_t j = 0; j < d; j++) {
    const double sd = sqrt(s->scale[j] / (double)n);
    s->scale[j] = (constant[j] || !(sd > 0)) ? 1.0 : sd;
  }
  free(constant);
  return WSK_OK;
}

void wsk_standardize_apply(const wsk_standardizer *s, const double *x, size_t n, double *z) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < s->d; j++)
      z[i * s->d + j] = (x[i * s->d + j] - s->mean[j]) / s->scale[j];
}

void wsk_standardizer_free(wsk_standardizer *s) {
  if (!s) return;
  free(s->mean);
  free(s->scale);
  memset(s, 0, sizeof *s);
}

/* ---- ridge regression ---- */

void wsk_ridge_free(wsk_ridge *m) {
  if (!m) return;
  wsk_standardizer_free(&m->std);
  free(m->w);
  free(m->b);
  memset(m, 0, sizeof *m);
}

/* A copy of the standardizer (each fitted model owns one). */
static int std_copy(const wsk_standardizer *src, wsk_standardizer *dst) {
  dst->d = src->d;
  dst->mean = dalloc(src->d, 1);
  dst->scale = dalloc(src->d, 1);
  if (!dst->mean || !dst->scale) return 0;
  memcpy(dst->mean, src->mean, src->d * sizeof(double));
  memcpy(dst->scale, src->scale, src->d * sizeof(double));
  return 1;
}

wsk_status wsk_ridge_fit_path(const double *x, size_t n, size_t d, const double *y, size_t nt,
                              const double *lambdas, size_t nl, wsk_ridge *out, int *ok) {
  if (!x || !y || !lambdas || !out) return wsk__fail(WSK_ERR_NULL, "wsk_ridge: NULL argument");
  for (size_t l = 0; l < nl; l++) memset(&out[l], 0, sizeof out[l]);
  if (n < 2 || d == 0 || nt == 0 || nl == 0)
    return wsk__fail(WSK_ERR_SIZE,
                     "wsk_ridge: need at least 2 samples, 1 feature, 1 target and 1 lambda "
                     "(got %zu, %zu, %zu, %zu)",
                     n, d, nt, nl);
  const int dual = d > n;
  for (size_t l = 0; l < nl; l++)
    if (!(lambdas[l] >= 0) || (dual && !(lambdas[l] > 0)) || isinf(lambdas[l]))
      return wsk__fail(WSK_ERR_ARG,
                       "wsk_ridge: lambda %g must be finite and %s (%zu features, %zu samples)",
                       lambdas[l], dual ? "> 0 when features outnumber samples" : ">= 0", d, n);
  for (size_t i = 0; i < n * nt; i++)
    if (!isfinite(y[i]))
      return wsk__fail(WSK_ERR_ARG, "wsk_ridge: target of sample %zu is not finite (%g)", i / nt,
                       y[i]);
  for (size_t i = 0; i < n * d; i++)
    if (!isfinite(x[i]))
      return wsk__fail(WSK_ERR_ARG, "wsk_ridge: feature %zu of sample %zu is not finite (%g)",
                       i % d, i / d, x[i]);

  const size_t m = dual ? n : d; /* order of the system */
  wsk_status st = WSK_OK;
  wsk_standardizer std = {0};
  double *z = dalloc(n, d), *zt = NULL, *gram = dalloc(m, m), *a = dalloc(m, m);
  double *yc = dalloc(n, nt), *ycT = dalloc(nt, n), *rhs = dalloc(m, nt), *ybar = dalloc(nt, 1);
  double *zbar = dalloc(d, 1), *rhs0 = dalloc(m, nt);
  if (!z || !gram || !a || !yc || !ycT || !rhs || !ybar || !zbar || !rhs0) goto nomem;
  if ((st = wsk_standardize_fit(x, n, d, &std)) != WSK_OK) goto done;
  wsk_standardize_apply(&std, x, n, z);

  for (size_t t = 0; t < nt; t++) ybar[t] = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t t = 0; t < nt; t++) ybar[t] = ybar[t] + y[i * nt + t];
  for (size_t t = 0; t < nt; t++) ybar[t] = ybar[t] / (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t t = 0; t < nt; t++) {
      yc[i * nt + t] = y[i * nt + t] - ybar[t];
      ycT[t * n + i] = yc[i * nt + t];
    }
  for (size_t j = 0; j < d; j++) zbar[j] = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) zbar[j] = zbar[j] + z[i * d + j];
  for (size_t j = 0; j < d; j++) zbar[j] = zbar[j] / (double)n;

  if (dual) {
    st = wsk_dgram(z, n, d, gram); /* K = Z Z^T */
  } else {
    zt = dalloc(d, n);
    if (!zt) goto nomem;
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < d; j++) zt[j * n + i] = z[i * d + j];
    st = wsk_dgram(zt, d, n, gram); /* Z^T Z */
    for (size_t j = 0; j < d; j++)  /* Z^T (y - mean y) */
      for (size_t t = 0; t < nt; t++) rhs0[j * nt + t] = wsk_ddot(zt + j * n, ycT + t * n, n);
  }
  if (st != WSK_OK) goto done;

  for (size_t l = 0; l < nl; l++) {
    wsk_ridge *r = &out[l];
    r->d = d;
    r->nt = nt;
    r->lambda = lambdas[l];
    r->dual = dual;
    memcpy(a, gram, bytes2(m, m));
    for (size_t i = 0; i < m; i++) a[i * m + i] = a[i * m + i] + lambdas[l];
    memcpy(rhs, dual ? yc : rhs0, bytes2(m, nt));
    if (wsk_spd_solve(a, m, rhs, nt) != WSK_OK) { /* this lambda is unusable */
      if (ok) ok[l] = 0;
      continue;
    }
    if (ok) ok[l] = 1;
    r->w = dalloc(nt, d);
    r->b = dalloc(nt, 1);
    if (!r->w || !r->b || !std_copy(&std, &r->std)) goto nomem;
    if (dual) { /* w_t = Z^T alpha_t, summed over the samples in order */
      for (size_t k = 0; k < nt * d; k++) r->w[k] = 0;
      for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < nt; t++) {
          const double al = rhs[i * nt + t];
          double *wt = r->w + t * d;
          const double *zi = z + i * d;
          for (size_t j = 0; j < d; j++) wt[j] = wt[j] + al * zi[j];
        }
    } else {
      for (size_t j = 0; j < d; j++)
        for (size_t t = 0; t < nt; t++) r->w[t * d + j] = rhs[j * nt + t];
    }
    for (size_t t = 0; t < nt; t++) r->b[t] = ybar[t] - wsk_ddot(zbar, r->w + t * d, d);
  }
  goto done;

nomem:
  st = wsk__fail(WSK_ERR_NOMEM, "wsk_ridge: out of memory (%zu samples x %zu features)", n, d);
done:
  if (st != WSK_OK)
    for (size_t l = 0; l < nl; l++) wsk_ridge_free(&out[l]);
  wsk_standardizer_free(&std);
  free(z);
  free(zt);
  free(gram);
  free(a);
  free(yc);
  free(ycT);
  free(rhs);
  free(ybar);
  free(zbar);
  free(rhs0);
  return st;
}

wsk_status wsk_ridge_fit(const double *x, size_t n, size_t d, const double *y, size_t nt,
                         double lambda, wsk_ridge *out) {
  int ok = 0;
  WSK_TRY(wsk_ridge_fit_path(x, n, d, y, nt, &lambda, 1, out, &ok));
  if (!ok)
    return wsk__fail(WSK_ERR_ARG,
                     "wsk_ridge: the system for lambda %g is not positive definite (%zu features, "
                     "%zu samples); use a larger lambda",
                     lambda, d, n);
  return WSK_OK;
}

wsk_status wsk_ridge_predict(const wsk_ridge *m, const double *x, size_t n, double *yhat) {
  if (!m || !m->w || !x || !yhat)
    return wsk__fail(WSK_ERR_NULL, "wsk_ridge_predict: NULL argument");
  const size_t d = m->d;
  double *z = dalloc(d, 1);
  if (!z) return wsk__fail(WSK_ERR_NOMEM, "wsk_ridge_predict: out of memory (%zu features)", d);
  for (size_t i = 0; i < n; i++) {
    wsk_standardize_apply(&m->std, x + i * d, 1, z);
    for (size_t t = 0; t < m->nt; t++) yhat[i * m->nt + t] = m->b[t] + wsk_ddot(z, m->w + t * d, d);
  }
  free(z);
  return WSK_OK;
}

double wsk_r2(const double *y, const double *yhat, size_t n, size_t stride, size_t col) {
  if (n == 0) return NAN;
  double mean = 0;
  for (size_t i = 0; i < n; i++) mean = mean + y[i * stride + col];
  mean = mean / (double)n;
  double res = 0, tot = 0;
  for (size_t i = 0; i < n; i++) {
    const double e = y[i * stride + col] - yhat[i * stride + col];
    const double c = y[i * stride + col] - mean;
    res = res + e * e;
    tot = tot + c * c;
  }
  if (!(tot > 0)) return NAN;
  return 1.0 - res / tot;
}
