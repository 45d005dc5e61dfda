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

double wsk_ddot(const double *a, const double *b, size_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t q = 0; q < 8; q++) s[q] = s[q] + a[k + q] * b[k + q];
  double t = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
  for (; k < n; k++) t = t + a[k] * b[k];
  return t;
}

/* ---- Gram matrix ---- */

typedef struct gram_job {
  const double *a;
  size_t rows, cols;
  double *g;
} gram_job;

/* row i of the lower triangle, mirrored into the upper one */
static void gram_row(const gram_job *j, size_t i) {
  const double *ai = j->a + i * j->cols;
  for (size_t k = 0; k <= i; k++) {
    const double v = wsk_ddot(ai, j->a + k * j->cols, j->cols);
    j->g[i * j->rows + k] = v;
    j->g[k * j->rows + i] = v;
  }
}

/* task p: rows p and rows-1-p, so that every task does about the same work */
static void gram_task(void *ctx, size_t p, int thread) {
  (void)thread;
  const gram_job *j = ctx;
  gram_row(j, p);
  if (j->rows - 1 - p != p) gram_row(j, j->rows - 1 - p);
}

wsk_status wsk_dgram(const double *a, size_t rows, size_t cols, double *g) {
  if (!a || !g) return wsk__fail(WSK_ERR_NULL, "wsk_dgram: NULL matrix");
  if (rows == 0 || cols == 0)
    return wsk__fail(WSK_ERR_SIZE, "wsk_dgram: empty matrix (%zu x %zu)", rows, cols);
  gram_job j = {a, rows, cols, g};
  return wsk_parallel_for((rows + 1) / 2, gram_task, &j);
}

/* ---- Cholesky and triangular solves ---- */

wsk_status wsk_cholesky(double *a, size_t n) {
  if (!a) return wsk__fail(WSK_ERR_NULL, "wsk_cholesky: NULL matrix");
  for (size_t i = 0; i < n; i++) {
    double *li = a + i * n;
    for (size_t j = 0; j < i; j++) {
      const double *lj = a + j * n;
      li[j] = (li[j] - wsk_ddot(li, lj, j)) / lj[j];
    }
    const double p = li[i] - wsk_ddot(li, li, i);
    if (!(p > 0))
      return wsk__fail(WSK_ERR_ARG,
                       "matrix is not positive definite: pivot %zu of %zu is %g (Cholesky)", i, n,
                       p);
    li[i] = sqrt(p);
    for (size_t j = i + 1; j < n; j++) li[j] = 0;
  }
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
