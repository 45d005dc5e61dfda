/* model/linalg.h — deterministic dense linear algebra in double precision:
 * dot products and Gram matrices, Cholesky factorization, triangular solves,
 * feature standardization and ridge regression. Used by the linear probes of
 * hyper-representations (model/probe.h).
 *
 * Matrices are row-major and dense (leading dimension = number of columns).
 * Determinism: every sum runs in one fixed order written in this file (see
 * wsk_ddot), no FMA is left to the compiler (-ffp-contract=off), and the work
 * split over the thread pool never changes which order an output is summed
 * in, so results are bit-identical on every CPU, ISA tier and thread count.
 * No LAPACK: the sizes here (a few thousand) do not need it.
 */
#ifndef WSK_MODEL_LINALG_H
#define WSK_MODEL_LINALG_H

#include <stddef.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sum_k a[k] b[k] in a fixed order: eight partial sums s[k % 8] over the
 * first 8*floor(n/8) terms, folded ((s0+s4)+(s2+s6))+((s1+s5)+(s3+s7)), then
 * the tail terms added one by one. 0 for n = 0. */
double wsk_ddot(const double *a, const double *b, size_t n);

/* G = A A^T for A of rows x cols: g[i][j] = wsk_ddot(row i, row j) (the
 * same bits; computed by cache blocks on the thread pool), a rows x rows
 * matrix with both triangles filled (exactly symmetric). WSK_ERR_NULL,
 * WSK_ERR_SIZE (rows or cols 0), WSK_ERR_NOMEM. */
wsk_status wsk_dgram(const double *a, size_t rows, size_t cols, double *g);

/* Cholesky factorization A = L L^T of a symmetric positive-definite n x n
 * matrix, in place: the lower triangle becomes L, the strict upper triangle
 * is set to zero; only the lower triangle of A is read. Every entry has the
 * bits of the row-by-row definition (Cholesky–Banachiewicz)
 *   L[i][j] = (A[i][j] - wsk_ddot(L_i, L_j, j)) / L[j][j]   (j < i),
 *   L[i][i] = sqrt(A[i][i] - wsk_ddot(L_i, L_i, i)),
 * computed by cache blocks on the thread pool. A pivot that is not > 0 (not
 * positive definite, or NaN) is WSK_ERR_ARG with a message naming the row
 * and the pivot value; A is then partly overwritten. */
wsk_status wsk_cholesky(double *a, size_t n);

/* Solve L X = B (lower) and L^T X = B in place, B of n x nrhs (row-major),
 * L an n x n lower-triangular matrix with a non-zero diagonal (as
 * wsk_cholesky leaves it). */
void wsk_trsm_lower(const double *l, size_t n, double *b, size_t nrhs);
void wsk_trsm_lower_t(const double *l, size_t n, double *b, size_t nrhs);

/* Solve A X = B for a symmetric positive-definite A (n x n, overwritten by
 * its factor) and B of n x nrhs (overwritten by X). Errors of wsk_cholesky. */
wsk_status wsk_spd_solve(double *a, size_t n, double *b, size_t nrhs);

/* ---- standardization: z = (x - mean) / scale per feature ---- */
typedef struct wsk_standardizer {
  size_t d;
  double *mean;  /* d: the training mean */
  double *scale; /* d: the training standard deviation (population, 1/n);
                    1 for a feature that is constant on the training rows */
} wsk_standardizer;

/* Statistics of the n x d matrix x (n >= 1). A feature whose training values
 * are all equal gets mean = that value and scale = 1, so it standardizes to
 * exactly 0 on the training rows. */
wsk_status wsk_standardize_fit(const double *x, size_t n, size_t d, wsk_standardizer *s);
/* z = (x - mean) / scale for n rows; z may equal x. */
void wsk_standardize_apply(const wsk_standardizer *s, const double *x, size_t n, double *z);
void wsk_standardizer_free(wsk_standardizer *s);

/* ---- ridge regression ----
 * For each target t: min_{w,b} ||Z w + b - y_t||^2 + lambda ||w||^2 on the
 * standardized features Z (training statistics); the intercept b is not
 * penalized. With Z centered on the training rows the solution is
 *   primal (d <= n): w = (Z^T Z + lambda I)^-1 Z^T (y - mean y)     (d x d)
 *   dual   (d >  n): w = Z^T (Z Z^T + lambda I)^-1 (y - mean y)     (n x n)
 * (the two are equal: the push-through identity), b = mean y - zbar^T w
 * with zbar the column means of Z as computed (zero up to rounding).
 * lambda must be > 0 in the dual form (Z Z^T is singular once centered); in
 * the primal form lambda = 0 is allowed when Z^T Z is positive definite. */
typedef struct wsk_ridge {
  size_t d, nt; /* features, targets */
  double lambda;
  int dual;             /* 1 when fitted through the n x n system */
  wsk_standardizer std; /* the training statistics */
  double *w;            /* nt x d weights on the standardized features */
  double *b;            /* nt intercepts */
} wsk_ridge;

/* x: n x d, y: n x nt (row i holds the nt targets of sample i). */
wsk_status wsk_ridge_fit(const double *x, size_t n, size_t d, const double *y, size_t nt,
                         double lambda, wsk_ridge *out);
/* The same for each of nl lambdas at once (one Gram matrix, one
 * factorization per lambda): out[l] for lambdas[l]. When the system of one
 * lambda is not positive definite, that out[l].w is NULL (and its status is
 * in ok[l] = 0 when ok is not NULL); the call still succeeds. Other errors
 * (bad arguments, memory) fail the call and leave every out[l] empty. */
wsk_status wsk_ridge_fit_path(const double *x, size_t n, size_t d, const double *y, size_t nt,
                              const double *lambdas, size_t nl, wsk_ridge *out, int *ok);
/* yhat (n x nt) = b + standardize(x) w for n rows of d features. */
wsk_status wsk_ridge_predict(const wsk_ridge *m, const double *x, size_t n, double *yhat);
void wsk_ridge_free(wsk_ridge *m);

/* Coefficient of determination of column `col` of y and yhat (n rows of
 * `stride` values): 1 - sum (y - yhat)^2 / sum (y - mean y)^2, the mean taken
 * over these n rows (as sklearn.metrics.r2_score). NaN when n = 0 or y is
 * constant. */
double wsk_r2(const double *y, const double *yhat, size_t n, size_t stride, size_t col);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_LINALG_H */
