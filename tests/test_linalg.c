/* tests/test_linalg.c — model/linalg.h: deterministic double-precision
 * linear algebra.
 *
 * - wsk_ddot: its stated order (exact on integers; the fold checked bit for
 *   bit against the order written out); wsk_dgram: symmetric, the bits of
 *   the dot products across its cache blocks, the same for 1, 2, 3 and 7
 *   threads; wsk_cholesky: the bits of the row-by-row definition across its
 *   blocks, for 1, 2 and 3 threads;
 * - Cholesky and the triangular solves against a long-double Gaussian
 *   elimination oracle on random SPD matrices (n = 1..40): L L^T = A and the
 *   solution within 64 n u cond-free bounds (the matrices are diagonally
 *   dominated, cond < 10); the non-SPD error names the pivot (indefinite,
 *   zero, NaN matrices);
 * - standardization: training mean 0 and variance 1, constant features
 *   standardize to exactly 0;
 * - ridge: equal to the closed form (Z^T Z + lambda I)^-1 Z^T (y - mean y)
 *   solved by the oracle, in the primal (d <= n) and in the dual (d > n)
 *   form (so the dual equals the primal), the dual's normal equations with
 *   several targets; the path equals single fits, an unusable lambda on it;
 *   the intercept is not penalized (a huge lambda predicts the mean);
 * - R^2: 1 on an exact linear target, about 0 for noise with a huge lambda,
 *   hand values, NaN for a constant target;
 * - bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/threads_internal.h"
#include "model/linalg.h"
#include "testutil.h"

static const double EPS = 0x1p-52;

static double urand(tu_rng *r, double lo, double hi) {
  return (double)tu_uniform(r, (float)lo, (float)hi);
}

/* Gaussian elimination with partial pivoting in long double: solves the
 * n x n system a x = b (nrhs columns), a and b copied. The oracle. */
static void oracle_solve(const double *a, size_t n, const double *b, size_t nrhs, double *x) {
  long double *m = malloc(n * (n + nrhs) * sizeof *m);
  const size_t w = n + nrhs;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < n; j++) m[i * w + j] = a[i * n + j];
    for (size_t r = 0; r < nrhs; r++) m[i * w + n + r] = b[i * nrhs + r];
  }
  for (size_t c = 0; c < n; c++) {
    size_t p = c;
    for (size_t i = c + 1; i < n; i++)
      if (fabsl(m[i * w + c]) > fabsl(m[p * w + c])) p = i;
    for (size_t j = 0; j < w; j++) {
      long double t = m[c * w + j];
      m[c * w + j] = m[p * w + j];
      m[p * w + j] = t;
    }
    for (size_t i = 0; i < n; i++) {
      if (i == c) continue;
      const long double f = m[i * w + c] / m[c * w + c];
      for (size_t j = c; j < w; j++) m[i * w + j] -= f * m[c * w + j];
    }
  }
  for (size_t i = 0; i < n; i++)
    for (size_t r = 0; r < nrhs; r++) x[i * nrhs + r] = (double)(m[i * w + n + r] / m[i * w + i]);
  free(m);
}

/* A = M M^T / k + I: symmetric positive definite, eigenvalues in [1, ~2] */
static void random_spd(tu_rng *r, size_t n, double *a) {
  const size_t k = n + 3;
  double *m = malloc(n * k * sizeof *m);
  for (size_t i = 0; i < n * k; i++) m[i] = urand(r, -1, 1);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      long double s = 0;
      for (size_t p = 0; p < k; p++) s += (long double)m[i * k + p] * m[j * k + p];
      a[i * n + j] = (double)(s / (long double)k) + (i == j ? 1.0 : 0.0);
    }
  for (size_t i = 0; i < n; i++) /* exactly symmetric */
    for (size_t j = 0; j < i; j++) a[j * n + i] = a[i * n + j];
  free(m);
}

static void test_ddot_order(void **state) {
  (void)state;
  double a[37], b[37];
  for (size_t n = 0; n <= 37; n++) {
    long double want = 0;
    for (size_t i = 0; i < n; i++) {
      a[i] = (double)((int)(i * 7 % 11) - 5);
      b[i] = (double)((int)(i * 5 % 13) - 6);
      want += (long double)a[i] * b[i];
    }
    assert_true(wsk_ddot(a, b, n) == (double)want); /* integers: exact in any order */
  }
  /* the stated order, bit for bit, on values where order matters */
  tu_rng r = {11};
  for (size_t n = 1; n <= 37; n++) {
    for (size_t i = 0; i < n; i++) {
      a[i] = urand(&r, -1, 1) * pow(10, (double)(i % 7) - 3);
      b[i] = urand(&r, -1, 1);
    }
    double s[8] = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
      for (size_t q = 0; q < 8; q++) s[q] += a[k + q] * b[k + q];
    double t = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    for (; k < n; k++) t += a[k] * b[k];
    const double got = wsk_ddot(a, b, n);
    assert_memory_equal(&got, &t, sizeof t);
  }
}

/* the row-by-row definition of wsk_cholesky, the reference of its bits */
static int cholesky_rows(double *a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double *li = a + i * n;
    for (size_t j = 0; j < i; j++) li[j] = (li[j] - wsk_ddot(li, a + j * n, j)) / a[j * n + j];
    const double p = li[i] - wsk_ddot(li, li, i);
    if (!(p > 0)) return 0;
    li[i] = sqrt(p);
    for (size_t j = i + 1; j < n; j++) li[j] = 0;
  }
  return 1;
}

static void check_gram(size_t rows, size_t cols, uint64_t seed) {
  tu_rng r = {seed};
  double *a = malloc(rows * cols * sizeof *a), *g1 = malloc(rows * rows * sizeof *g1),
         *g2 = malloc(rows * rows * sizeof *g2);
  for (size_t i = 0; i < rows * cols; i++) a[i] = urand(&r, -2, 2);
  assert_int_equal(wsk_threads_set_count(1), WSK_OK);
  assert_int_equal(wsk_dgram(a, rows, cols, g1), WSK_OK);
  for (size_t i = 0; i < rows; i++)
    for (size_t j = 0; j < rows; j++) {
      const double d = wsk_ddot(a + i * cols, a + j * cols, cols);
      assert_memory_equal(&g1[i * rows + j], &d, sizeof d);
      assert_memory_equal(&g1[j * rows + i], &d, sizeof d);
    }
  const int counts[] = {2, 3, 7};
  for (size_t c = 0; c < 3; c++) {
    assert_int_equal(wsk_threads_set_count(counts[c]), WSK_OK);
    memset(g2, 0, rows * rows * sizeof *g2);
    assert_int_equal(wsk_dgram(a, rows, cols, g2), WSK_OK);
    assert_memory_equal(g1, g2, rows * rows * sizeof *g1);
  }
  wsk__threads_reset_for_tests();
  free(a);
  free(g1);
  free(g2);
}

/* wsk_dgram: the bits of wsk_ddot per element, for several tiles (32 rows)
 * and pieces of the dot products (256) and their tails */
static void test_gram_threads(void **state) {
  (void)state;
  check_gram(37, 53, 5);
  check_gram(1, 1, 6);
  check_gram(70, 600, 7);
  check_gram(97, 263, 8);
  double a[4] = {1, 2, 3, 4}, g[4];
  assert_int_equal(wsk_dgram(a, 0, 2, g), WSK_ERR_SIZE);
  assert_int_equal(wsk_dgram(a, 2, 0, g), WSK_ERR_SIZE);
  assert_int_equal(wsk_dgram(NULL, 2, 2, g), WSK_ERR_NULL);
}

/* wsk_cholesky has the bits of the row-by-row definition for orders that
 * span several column blocks (32) and pieces (256), on 1, 2 and 3 threads */
static void test_cholesky_blocked_bits(void **state) {
  (void)state;
  tu_rng r = {77};
  const size_t sizes[] = {1, 7, 31, 32, 33, 65, 100, 300};
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    const size_t n = sizes[t];
    double *a = malloc(n * n * sizeof *a), *l0 = malloc(n * n * sizeof *a),
           *l1 = malloc(n * n * sizeof *a);
    random_spd(&r, n, a);
    memcpy(l0, a, n * n * sizeof *a);
    assert_true(cholesky_rows(l0, n));
    for (int th = 1; th <= 3; th++) {
      assert_int_equal(wsk_threads_set_count(th), WSK_OK);
      memcpy(l1, a, n * n * sizeof *a);
      assert_int_equal(wsk_cholesky(l1, n), WSK_OK);
      assert_memory_equal(l0, l1, n * n * sizeof *a);
    }
    free(a);
    free(l0);
    free(l1);
  }
  wsk__threads_reset_for_tests();
}

static void test_cholesky_vs_oracle(void **state) {
  (void)state;
  tu_rng r = {42};
  for (size_t n = 1; n <= 40; n += (n < 8 ? 1 : 7)) {
    const size_t nrhs = 1 + n % 3;
    double *a = malloc(n * n * sizeof *a), *l = malloc(n * n * sizeof *l);
    double *b = malloc(n * nrhs * sizeof *b), *x = malloc(n * nrhs * sizeof *x),
           *xo = malloc(n * nrhs * sizeof *xo);
    random_spd(&r, n, a);
    for (size_t i = 0; i < n * nrhs; i++) b[i] = urand(&r, -1, 1);
    memcpy(l, a, n * n * sizeof *a);
    for (size_t i = 0; i < n; i++) /* the upper triangle is not read */
      for (size_t j = i + 1; j < n; j++) l[i * n + j] = NAN;
    assert_int_equal(wsk_cholesky(l, n), WSK_OK);
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < n; j++) {
        if (j > i) assert_true(l[i * n + j] == 0);
        long double s = 0;
        for (size_t k = 0; k < n; k++) s += (long double)l[i * n + k] * l[j * n + k];
        assert_true(fabsl(s - a[i * n + j]) <= 8.0L * n * EPS * 3);
      }
    memcpy(x, b, n * nrhs * sizeof *b);
    wsk_trsm_lower(l, n, x, nrhs);
    wsk_trsm_lower_t(l, n, x, nrhs);
    oracle_solve(a, n, b, nrhs, xo);
    for (size_t i = 0; i < n * nrhs; i++) assert_true(fabs(x[i] - xo[i]) <= 64.0 * n * EPS);
    /* wsk_spd_solve is the same */
    double *a2 = malloc(n * n * sizeof *a2), *x2 = malloc(n * nrhs * sizeof *x2);
    memcpy(a2, a, n * n * sizeof *a);
    memcpy(x2, b, n * nrhs * sizeof *b);
    assert_int_equal(wsk_spd_solve(a2, n, x2, nrhs), WSK_OK);
    assert_memory_equal(x, x2, n * nrhs * sizeof *x);
    /* the lower solve alone */
    memcpy(x, b, n * nrhs * sizeof *b);
    wsk_trsm_lower(l, n, x, nrhs);
    for (size_t i = 0; i < n; i++)
      for (size_t q = 0; q < nrhs; q++) {
        long double s = 0;
        for (size_t k = 0; k <= i; k++) s += (long double)l[i * n + k] * x[k * nrhs + q];
        assert_true(fabsl(s - b[i * nrhs + q]) <= 64.0L * n * EPS);
      }
    free(a);
    free(l);
    free(b);
    free(x);
    free(xo);
    free(a2);
    free(x2);
  }
}

static void test_cholesky_not_spd(void **state) {
  (void)state;
  double ind[4] = {1, 2, 2, 1}; /* eigenvalues 3 and -1 */
  assert_int_equal(wsk_cholesky(ind, 2), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "not positive definite"));
  assert_non_null(strstr(wsk_last_error(), "pivot 1 of 2"));
  double zero[9] = {0};
  assert_int_equal(wsk_cholesky(zero, 3), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "pivot 0 of 3"));
  double nan[4] = {1, 0, NAN, 1};
  assert_int_equal(wsk_cholesky(nan, 2), WSK_ERR_ARG);
  double neg[1] = {-4};
  assert_int_equal(wsk_cholesky(neg, 1), WSK_ERR_ARG);
  double b[2] = {1, 1};
  double ind2[4] = {1, 2, 2, 1};
  assert_int_equal(wsk_spd_solve(ind2, 2, b, 1), WSK_ERR_ARG);
  assert_int_equal(wsk_cholesky(NULL, 2), WSK_ERR_NULL);
  assert_int_equal(wsk_cholesky(ind, 0), WSK_OK); /* empty: nothing to do */
}

static void test_standardize(void **state) {
  (void)state;
  const size_t n = 5, d = 3;
  const double x[15] = {1, 0.1, 5, 2, 0.1, -5, 3, 0.1, 5, 4, 0.1, -5, 5, 0.1, 5};
  wsk_standardizer s;
  assert_int_equal(wsk_standardize_fit(x, n, d, &s), WSK_OK);
  assert_true(s.mean[0] == 3 && s.scale[0] == sqrt(2.0));
  assert_true(s.mean[1] == 0.1 && s.scale[1] == 1); /* constant */
  double z[15];
  wsk_standardize_apply(&s, x, n, z);
  double m2 = 0, v2 = 0;
  for (size_t i = 0; i < n; i++) {
    assert_true(z[i * d + 1] == 0);
    m2 += z[i * d + 2];
    v2 += z[i * d + 2] * z[i * d + 2];
  }
  assert_true(fabs(m2 / n) < 1e-15 && fabs(v2 / n - 1) < 1e-15);
  wsk_standardizer_free(&s);
  assert_int_equal(wsk_standardize_fit(x, 0, d, &s), WSK_ERR_SIZE);
  assert_int_equal(wsk_standardize_fit(NULL, n, d, &s), WSK_ERR_NULL);
}

/* The closed form by the oracle: standardize with the same statistics,
 * center, solve (Z^T Z + lambda I) w = Z^T (y - ybar) in long double. */
static void closed_form(const double *x, size_t n, size_t d, const double *y, double lambda,
                        double *w, double *b) {
  wsk_standardizer s;
  assert_int_equal(wsk_standardize_fit(x, n, d, &s), WSK_OK);
  double *z = malloc(n * d * sizeof *z), *a = malloc(d * d * sizeof *a), *r = malloc(d * sizeof *r);
  wsk_standardize_apply(&s, x, n, z);
  long double ybar = 0;
  for (size_t i = 0; i < n; i++) ybar += y[i];
  ybar /= n;
  for (size_t j = 0; j < d; j++) {
    long double rr = 0;
    for (size_t i = 0; i < n; i++) rr += (long double)z[i * d + j] * ((long double)y[i] - ybar);
    r[j] = (double)rr;
    for (size_t k = 0; k < d; k++) {
      long double g = 0;
      for (size_t i = 0; i < n; i++) g += (long double)z[i * d + j] * z[i * d + k];
      a[j * d + k] = (double)g + (j == k ? lambda : 0);
    }
  }
  oracle_solve(a, d, r, 1, w);
  long double zb = 0;
  for (size_t j = 0; j < d; j++) {
    long double m = 0;
    for (size_t i = 0; i < n; i++) m += z[i * d + j];
    zb += m / n * w[j];
  }
  *b = (double)(ybar - zb);
  wsk_standardizer_free(&s);
  free(z);
  free(a);
  free(r);
}

static void check_ridge_closed_form(size_t n, size_t d, double lambda, int want_dual) {
  tu_rng r = {n * 131 + d};
  double *x = malloc(n * d * sizeof *x), *y = malloc(n * sizeof *y), *w = malloc(d * sizeof *w);
  for (size_t i = 0; i < n * d; i++) x[i] = urand(&r, -1, 1) + (double)(i % d);
  for (size_t i = 0; i < n; i++) y[i] = urand(&r, -1, 1) + 0.5 * x[i * d];
  double b;
  closed_form(x, n, d, y, lambda, w, &b);
  wsk_ridge m;
  assert_int_equal(wsk_ridge_fit(x, n, d, y, 1, lambda, &m), WSK_OK);
  assert_int_equal(m.dual, want_dual);
  assert_true(m.d == d && m.nt == 1 && m.lambda == lambda);
  double wmax = 0;
  for (size_t j = 0; j < d; j++) wmax = fmax(wmax, fabs(w[j]));
  for (size_t j = 0; j < d; j++) {
    if (!(fabs(m.w[j] - w[j]) <= 1e-9 * (1 + wmax))) {
      print_error("n %zu d %zu lambda %g: w[%zu] = %.17g, closed form %.17g\n", n, d, lambda, j,
                  m.w[j], w[j]);
      fail();
    }
  }
  assert_true(fabs(m.b[0] - b) <= 1e-9 * (1 + fabs(b)));
  /* predictions follow the model */
  double yhat[3];
  assert_int_equal(wsk_ridge_predict(&m, x, 3, yhat), WSK_OK);
  for (size_t i = 0; i < 3; i++) {
    double want = b;
    for (size_t j = 0; j < d; j++) want += (x[i * d + j] - m.std.mean[j]) / m.std.scale[j] * w[j];
    assert_true(fabs(yhat[i] - want) <= 1e-9 * (1 + fabs(want)));
  }
  wsk_ridge_free(&m);
  free(x);
  free(y);
  free(w);
}

static void test_ridge_closed_form(void **state) {
  (void)state;
  check_ridge_closed_form(8, 3, 0.5, 0);    /* primal */
  check_ridge_closed_form(8, 8, 1e-3, 0);   /* primal, square */
  check_ridge_closed_form(30, 5, 0, 0);     /* primal, lambda 0: least squares */
  check_ridge_closed_form(6, 20, 0.5, 1);   /* dual */
  check_ridge_closed_form(12, 40, 1e-3, 1); /* dual, small lambda */
  check_ridge_closed_form(9, 10, 7, 1);     /* dual, barely */
}

/* The dual solution (d > n, several targets) satisfies the optimality
 * condition of the primal problem: Z^T (Z w + b - y) + lambda w = 0. */
static void test_ridge_dual_normal_equations(void **state) {
  (void)state;
  const size_t n = 10, d = 25, nt = 2;
  const double lambda = 0.3;
  tu_rng r = {77};
  double *x = malloc(n * d * sizeof *x), *y = malloc(n * nt * sizeof *y);
  for (size_t i = 0; i < n * d; i++) x[i] = urand(&r, -1, 1);
  for (size_t i = 0; i < n * nt; i++) y[i] = urand(&r, -1, 1);
  wsk_ridge m;
  assert_int_equal(wsk_ridge_fit(x, n, d, y, nt, lambda, &m), WSK_OK);
  assert_int_equal(m.dual, 1);
  double *z = malloc(n * d * sizeof *z);
  wsk_standardize_apply(&m.std, x, n, z);
  for (size_t t = 0; t < nt; t++) {
    long double ybar = 0;
    for (size_t i = 0; i < n; i++) ybar += y[i * nt + t];
    ybar /= n;
    /* gradient of the objective: Z^T (Z w + b - y) + lambda w = 0 */
    for (size_t j = 0; j < d; j++) {
      long double g = lambda * (long double)m.w[t * d + j];
      for (size_t i = 0; i < n; i++) {
        long double e = m.b[t] - (long double)y[i * nt + t];
        for (size_t k = 0; k < d; k++) e += (long double)z[i * d + k] * m.w[t * d + k];
        g += (long double)z[i * d + j] * e;
      }
      assert_true(fabsl(g) < 1e-10L);
    }
  }
  wsk_ridge_free(&m);
  free(x);
  free(y);
  free(z);
}

static void test_ridge_path(void **state) {
  (void)state;
  const size_t n = 15, d = 30, nt = 3;
  const double lambdas[4] = {1e-3, 0.1, 10, 1e3};
  tu_rng r = {3};
  double *x = malloc(n * d * sizeof *x), *y = malloc(n * nt * sizeof *y);
  for (size_t i = 0; i < n * d; i++) x[i] = urand(&r, -1, 1);
  for (size_t i = 0; i < n * nt; i++) y[i] = urand(&r, -1, 1);
  wsk_ridge path[4], one;
  int ok[4];
  assert_int_equal(wsk_ridge_fit_path(x, n, d, y, nt, lambdas, 4, path, ok), WSK_OK);
  for (size_t l = 0; l < 4; l++) {
    assert_int_equal(ok[l], 1);
    assert_int_equal(wsk_ridge_fit(x, n, d, y, nt, lambdas[l], &one), WSK_OK);
    assert_memory_equal(path[l].w, one.w, nt * d * sizeof(double));
    assert_memory_equal(path[l].b, one.b, nt * sizeof(double));
    wsk_ridge_free(&one);
    wsk_ridge_free(&path[l]);
  }
  /* an unusable lambda on the path: lambda 0 in the primal form with a
   * singular Z^T Z (a duplicated feature) */
  const size_t n2 = 10, d2 = 3;
  double x2[30], y2[10];
  for (size_t i = 0; i < n2; i++) {
    x2[i * 3] = urand(&r, -1, 1);
    x2[i * 3 + 1] = x2[i * 3];
    x2[i * 3 + 2] = urand(&r, -1, 1);
    y2[i] = x2[i * 3];
  }
  const double l2[2] = {0, 1};
  assert_int_equal(wsk_ridge_fit_path(x2, n2, d2, y2, 1, l2, 2, path, ok), WSK_OK);
  assert_int_equal(ok[0], 0);
  assert_null(path[0].w);
  assert_int_equal(ok[1], 1);
  wsk_ridge_free(&path[0]);
  wsk_ridge_free(&path[1]);
  assert_int_equal(wsk_ridge_fit(x2, n2, d2, y2, 1, 0, &one), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "not positive definite"));
  free(x);
  free(y);
}

static void test_ridge_intercept_and_r2(void **state) {
  (void)state;
  const size_t n = 40, d = 4;
  tu_rng r = {9};
  double x[160], y[40], yhat[40];
  for (size_t i = 0; i < n * d; i++) x[i] = urand(&r, -3, 3);
  /* exact linear target: R^2 = 1 with a tiny lambda */
  for (size_t i = 0; i < n; i++) y[i] = 7 + 2 * x[i * d] - 0.5 * x[i * d + 3];
  wsk_ridge m;
  assert_int_equal(wsk_ridge_fit(x, n, d, y, 1, 1e-10, &m), WSK_OK);
  assert_int_equal(wsk_ridge_predict(&m, x, n, yhat), WSK_OK);
  assert_true(fabs(wsk_r2(y, yhat, n, 1, 0) - 1) < 1e-12);
  wsk_ridge_free(&m);
  /* a huge lambda: w -> 0, the unpenalized intercept predicts the mean, R^2 -> 0 */
  for (size_t i = 0; i < n; i++) y[i] = urand(&r, 0, 10);
  assert_int_equal(wsk_ridge_fit(x, n, d, y, 1, 1e12, &m), WSK_OK);
  assert_int_equal(wsk_ridge_predict(&m, x, n, yhat), WSK_OK);
  double mean = 0;
  for (size_t i = 0; i < n; i++) mean += y[i];
  mean /= n;
  for (size_t i = 0; i < n; i++) assert_true(fabs(yhat[i] - mean) < 1e-6);
  assert_true(fabs(wsk_r2(y, yhat, n, 1, 0)) < 1e-6);
  wsk_ridge_free(&m);
  /* hand values: y = 1 2 3 4, yhat = 1 2 3 5: 1 - 1/5 */
  const double yy[8] = {1, 0, 2, 0, 3, 0, 4, 0}, pp[8] = {1, 9, 2, 9, 3, 9, 5, 9};
  assert_true(fabs(wsk_r2(yy, pp, 4, 2, 0) - 0.8) < 1e-15);
  assert_true(isnan(wsk_r2(yy, pp, 4, 2, 1))); /* constant target */
  assert_true(isnan(wsk_r2(yy, pp, 0, 2, 0)));
}

static void test_ridge_bad_input(void **state) {
  (void)state;
  double x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13}, y[4] = {1, 2, 3, 4};
  wsk_ridge m;
  assert_int_equal(wsk_ridge_fit(NULL, 4, 3, y, 1, 1, &m), WSK_ERR_NULL);
  assert_int_equal(wsk_ridge_fit(x, 1, 3, y, 1, 1, &m), WSK_ERR_SIZE);
  assert_int_equal(wsk_ridge_fit(x, 4, 0, y, 1, 1, &m), WSK_ERR_SIZE);
  assert_int_equal(wsk_ridge_fit(x, 4, 3, y, 1, -1, &m), WSK_ERR_ARG);
  assert_int_equal(wsk_ridge_fit(x, 4, 3, y, 1, NAN, &m), WSK_ERR_ARG);
  assert_int_equal(wsk_ridge_fit(x, 4, 3, y, 1, INFINITY, &m), WSK_ERR_ARG);
  assert_int_equal(wsk_ridge_fit(x, 2, 6, y, 1, 0, &m), WSK_ERR_ARG); /* dual needs lambda > 0 */
  assert_non_null(strstr(wsk_last_error(), "> 0"));
  y[2] = NAN;
  assert_int_equal(wsk_ridge_fit(x, 4, 3, y, 1, 1, &m), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "sample 2"));
  y[2] = 3;
  x[5] = INFINITY;
  assert_int_equal(wsk_ridge_fit(x, 4, 3, y, 1, 1, &m), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "feature 2 of sample 1"));
  assert_int_equal(wsk_ridge_predict(NULL, x, 1, y), WSK_ERR_NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ddot_order),         cmocka_unit_test(test_gram_threads),
      cmocka_unit_test(test_cholesky_vs_oracle), cmocka_unit_test(test_cholesky_blocked_bits),
      cmocka_unit_test(test_cholesky_not_spd),   cmocka_unit_test(test_standardize),
      cmocka_unit_test(test_ridge_closed_form),  cmocka_unit_test(test_ridge_dual_normal_equations),
      cmocka_unit_test(test_ridge_path),         cmocka_unit_test(test_ridge_intercept_and_r2),
      cmocka_unit_test(test_ridge_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
