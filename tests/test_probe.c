/* tests/test_probe.c — model/features.h and model/probe.h: the baseline
 * features, the split by model, the ridge and softmax probes, and the probe
 * table of a zoo directory end to end.
 *
 * - quantiles equal numpy's linear interpolation on hand values
 *   (np.quantile(x, q), method "linear"); mean and population variance;
 *   quantiles do not depend on the order of the values (-0 and +0 included);
 *   W is the tensors flattened in file order, s(W) seven statistics per tensor;
 * - the split never separates the checkpoints of one model, gives
 *   round(15%) of the models to validation and to test, is the same for the
 *   same seed whatever the order of the rows, and differs for another seed;
 * - ridge probes: lambda chosen on validation is large on pure noise (R^2
 *   about 0) and small on a clean linear target (R^2 = 1);
 * - the softmax classifier reaches 100% on separable data (train and test),
 *   its gradient is zero at the optimum (checked in long double), one class
 *   gives accuracy 1;
 * - wsk_probe_run on a zoo this test writes (zoo.csv + safetensors through
 *   model/io.h): W and the embeddings recover linear targets, the classes are
 *   read back, "—" where the embeddings are absent, the Markdown and CSV
 *   files, the same bits for 1 and 3 threads and a cross-machine digest of
 *   them, non-finite rows left out;
 * - every error path: missing zoo.csv, column, checkpoint; bad numbers;
 *   different layouts; embeddings of the wrong rows, shape or name; too few
 *   models or usable rows; bad arguments;
 * - `wsk probe` (apps/cmd_probe.c compiled in): the default and --out
 *   report paths, --embeddings and --seed, exit status 2 for usage errors
 *   and 1 for failures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the command itself, compiled into this program: `wsk probe` end to end
 * (arguments, exit status, files) without a second process */
#include "apps/cmd_probe.c"
#include "dispatch/threads_internal.h"
#include "model/features.h"
#include "model/io.h"
#include "model/probe.h"
#include "model/safetensors.h"
#include "testutil.h"

/* tu_digest of the e2e zoo's probe results (scores, validation scores and
 * lambdas as double bit patterns), recorded on x86-64 */
#define PROBE_DIGEST 0x7371ee80ad13e321ull

static double urand(tu_rng *r, double lo, double hi) {
  return (double)tu_uniform(r, (float)lo, (float)hi);
}

/* ---- features ---- */

static void test_quantiles_hand_values(void **state) {
  (void)state;
  const double q[5] = {0.01, 0.25, 0.5, 0.75, 0.99};
  const double a[5] = {1, 2, 3, 4, 5}; /* np.quantile(a, q) */
  const double wa[5] = {1.04, 2, 3, 4, 4.96};
  const double b[4] = {1, 2, 3, 10}; /* sorted [3, 1, 2, 10] */
  const double wb[5] = {1.03, 1.75, 2.5, 4.75, 9.79};
  for (int k = 0; k < 5; k++) {
    assert_true(fabs(wsk_quantile_linear(a, 5, q[k]) - wa[k]) < 1e-12);
    assert_true(fabs(wsk_quantile_linear(b, 4, q[k]) - wb[k]) < 1e-12);
  }
  const double one = 7, two[2] = {0, 1};
  for (int k = 0; k < 5; k++) assert_true(wsk_quantile_linear(&one, 1, q[k]) == 7);
  assert_true(wsk_quantile_linear(two, 2, 0) == 0 && wsk_quantile_linear(two, 2, 1) == 1);
  assert_true(fabs(wsk_quantile_linear(two, 2, 0.3) - 0.3) < 1e-15);
  assert_true(fabs(wsk_quantile_linear(two, 2, 0.7) - 0.7) < 1e-15);

  /* the seven statistics of [3, 1, 2, 10]: mean 4, variance 50/4 */
  const float x[4] = {3, 1, 2, 10};
  double st[WSK_WSTATS_PER_TENSOR];
  assert_int_equal(wsk_tensor_stats(x, 4, st), WSK_OK);
  assert_true(st[0] == 4 && st[1] == 12.5);
  for (int k = 0; k < 5; k++) assert_true(fabs(st[2 + k] - wb[k]) < 1e-12);
  assert_string_equal(wsk_wstats_names[0], "mean");
  assert_string_equal(wsk_wstats_names[6], "q99");
}

static void test_quantiles_order_free(void **state) {
  (void)state;
  tu_rng r = {17};
  float x[41], y[41];
  for (size_t i = 0; i < 41; i++)
    x[i] = (i % 5 == 0) ? (i % 2 ? -0.0f : 0.0f) : tu_uniform(&r, -1, 1);
  double s0[7], s1[7];
  assert_int_equal(wsk_tensor_stats(x, 41, s0), WSK_OK);
  for (int t = 0; t < 5; t++) {
    size_t p[41];
    tu_perm(&r, p, 41);
    for (size_t i = 0; i < 41; i++) y[i] = x[p[i]];
    assert_int_equal(wsk_tensor_stats(y, 41, s1), WSK_OK);
    assert_memory_equal(s0 + 2, s1 + 2, 5 * sizeof(double)); /* quantiles: same bits */
    assert_true(fabs(s0[0] - s1[0]) < 1e-15 && fabs(s0[1] - s1[1]) < 1e-15);
  }
  x[3] = NAN;
  assert_int_equal(wsk_tensor_stats(x, 41, s0), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "value 3 of 41"));
  assert_int_equal(wsk_tensor_stats(x, 0, s0), WSK_ERR_SIZE);
  assert_int_equal(wsk_tensor_stats(NULL, 3, s0), WSK_ERR_NULL);
}

/* a scratch directory under $TMPDIR (or /tmp), removed by rm_tree */
static char *make_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char *p = malloc(4096);
  snprintf(p, 4096, "%s/wsk-test-probe-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(p));
  return p;
}

static void rm_tree(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static char *join(const char *a, const char *b) {
  char *p = malloc(strlen(a) + strlen(b) + 2);
  sprintf(p, "%s/%s", a, b);
  return p;
}

static void test_features_of_checkpoint(void **state) {
  (void)state;
  char *dir = make_tmpdir();
  char *path = join(dir, "c.safetensors");
  const float w0[6] = {1, 2, 3, 4, 5, 6}, b0[3] = {-1, 0, 1}, w1[3] = {2, 2, 2};
  const wsk_tensor_ref t[3] = {
      {"0.weight", 2, {3, 2}, w0}, {"0.bias", 1, {3}, b0}, {"2.weight", 2, {1, 3}, w1}};
  assert_int_equal(wsk_safetensors_write(path, t, 3, NULL), WSK_OK);
  wsk_safetensors st;
  assert_int_equal(wsk_safetensors_read(path, &st), WSK_OK);
  assert_int_equal(wsk_features_w_dim(&st), 12);
  assert_int_equal(wsk_features_stats_dim(&st), 21);
  double w[12], s[21];
  assert_int_equal(wsk_features_w(&st, w), WSK_OK);
  const double want[12] = {1, 2, 3, 4, 5, 6, -1, 0, 1, 2, 2, 2};
  assert_memory_equal(w, want, sizeof want);
  assert_int_equal(wsk_features_stats(&st, s), WSK_OK);
  assert_true(s[0] == 3.5 && fabs(s[1] - 35.0 / 12) < 1e-15); /* 0.weight */
  assert_true(fabs(s[4] - 3.5) < 1e-15);                      /* its median */
  assert_true(s[7] == 0 && fabs(s[8] - 2.0 / 3) < 1e-15 && s[11] == 0 && s[12] == 0.5); /* 0.bias */
  assert_true(s[14] == 2 && s[15] == 0 && s[20] == 2); /* 2.weight */
  /* layouts */
  wsk_safetensors st2;
  assert_int_equal(wsk_safetensors_read(path, &st2), WSK_OK);
  assert_true(wsk_features_same_layout(&st, &st2));
  st2.shapes[0][0] = 2;
  st2.shapes[0][1] = 3;
  assert_false(wsk_features_same_layout(&st, &st2));
  wsk_safetensors_free(&st2);
  /* a non-finite weight names its tensor */
  st.data[1][2] = INFINITY;
  assert_int_equal(wsk_features_stats(&st, s), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "0.bias"));
  wsk_safetensors_free(&st);
  rm_tree(dir);
  free(path);
  free(dir);
}

/* ---- the split ---- */

static void test_split_by_model(void **state) {
  (void)state;
  const size_t M = 300, E = 5, n = M * E;
  char(*buf)[16] = malloc(n * sizeof *buf);
  const char **ids = malloc(n * sizeof *ids), **ids2 = malloc(n * sizeof *ids2);
  uint8_t *s1 = malloc(n), *s2 = malloc(n), *s3 = malloc(n);
  for (size_t i = 0; i < n; i++) {
    snprintf(buf[i], 16, "m%04zu", i / E);
    ids[i] = buf[i];
  }
  size_t models[3];
  assert_int_equal(wsk_probe_split(ids, n, 1, s1, models), WSK_OK);
  assert_int_equal(models[0], 210);
  assert_int_equal(models[1], 45);
  assert_int_equal(models[2], 45);
  size_t count[3] = {0, 0, 0};
  for (size_t m = 0; m < M; m++) {
    for (size_t e = 1; e < E; e++) assert_int_equal(s1[m * E + e], s1[m * E]); /* never apart */
    count[s1[m * E]]++;
  }
  assert_int_equal(count[0], 210);
  assert_int_equal(count[1], 45);
  assert_int_equal(count[2], 45);
  /* deterministic; independent of the order of the rows */
  assert_int_equal(wsk_probe_split(ids, n, 1, s2, NULL), WSK_OK);
  assert_memory_equal(s1, s2, n);
  tu_rng r = {8};
  size_t *p = malloc(n * sizeof *p);
  tu_perm(&r, p, n);
  for (size_t i = 0; i < n; i++) ids2[i] = ids[p[i]];
  assert_int_equal(wsk_probe_split(ids2, n, 1, s3, NULL), WSK_OK);
  for (size_t i = 0; i < n; i++) assert_int_equal(s3[i], s1[p[i]]);
  /* another seed, another split */
  assert_int_equal(wsk_probe_split(ids, n, 2, s2, NULL), WSK_OK);
  assert_true(memcmp(s1, s2, n) != 0);
  /* the smallest zoo: 5 models -> 3 / 1 / 1; 4 models is too few */
  assert_int_equal(wsk_probe_split(ids, 25, 3, s2, models), WSK_OK);
  assert_true(models[0] == 3 && models[1] == 1 && models[2] == 1);
  assert_int_equal(wsk_probe_split(ids, 20, 3, s2, models), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "4 distinct model_ids"));
  assert_int_equal(wsk_probe_split(ids, 0, 3, s2, models), WSK_ERR_SIZE);
  ids2[7] = NULL;
  assert_int_equal(wsk_probe_split(ids2, n, 1, s2, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_probe_split(NULL, n, 1, s2, NULL), WSK_ERR_NULL);
  free(buf);
  free(ids);
  free(ids2);
  free(s1);
  free(s2);
  free(s3);
  free(p);
}

/* ---- ridge probes ---- */

/* n rows of d features, split 70/15/15 by row (one model per row) */
static uint8_t *row_split(size_t n) {
  uint8_t *s = malloc(n);
  for (size_t i = 0; i < n; i++) s[i] = (i % 20) < 14 ? 0 : (i % 20) < 17 ? 1 : 2;
  return s;
}

/* lambda chosen on validation: on a pure-noise target the squared error
 * falls as lambda grows until w is about 0 and is then flat, so the choice
 * lands among the large lambdas (>= 100 on these sizes: lambda / n_train
 * >= 0.3 for standardized features; d / n_train >= 0.35 so that a small
 * lambda's overfit is plain on 45-60 validation rows) and the test R^2 is about 0 (within
 * [-0.3, 0.1] on 45-80 test rows; below 0 when lambda does not shrink w all
 * the way); on a clean linear target the least squares fit is exact and the
 * smallest lambda wins. */
static void check_ridge_selection(size_t n, size_t d, uint64_t seed) {
  tu_rng r = {seed};
  double *x = malloc(n * d * sizeof *x), *y = malloc(n * 2 * sizeof *y);
  uint8_t *split = row_split(n);
  for (size_t i = 0; i < n * d; i++) x[i] = urand(&r, -1, 1);
  for (size_t i = 0; i < n; i++) {
    y[i * 2] = urand(&r, -1, 1);                        /* pure noise */
    y[i * 2 + 1] = 3 + x[i * d] - 2 * x[i * d + d - 1]; /* clean and linear */
  }
  double lam[2], vr2[2], tr2[2];
  assert_int_equal(wsk_probe_ridge(x, n, d, split, y, 2, NULL, 0, lam, vr2, tr2), WSK_OK);
  const int clean_fits = d < n * 7 / 10; /* else the clean target is underdetermined */
  if (!(lam[0] >= 100) || !(tr2[0] < 0.1) || !(tr2[0] > -0.3) ||
      (clean_fits && (!(lam[1] <= 1e-3) || !(tr2[1] > 0.9999) || !(vr2[1] > 0.9999)))) {
    print_error("n %zu d %zu seed %llu: noise lambda %g r2 %g, clean lambda %g r2 %.9f\n", n, d,
                (unsigned long long)seed, lam[0], tr2[0], lam[1], tr2[1]);
    fail();
  }
  free(x);
  free(y);
  free(split);
}

static void test_ridge_selection(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    check_ridge_selection(400, 100, seed); /* primal */
    check_ridge_selection(120, 60, seed);  /* primal, d close to the 84 train rows */
    check_ridge_selection(300, 400, seed); /* dual: more features than train rows */
  }
}

/* the dual form on a clean target of features with a low-dimensional
 * structure (x = A u + small noise, u of dimension 5), so that the
 * underdetermined fit generalizes: R^2 = 1 with a small lambda */
static void test_ridge_selection_dual(void **state) {
  (void)state;
  const size_t n = 100, d = 150;
  tu_rng r = {99};
  double *x = malloc(n * d * sizeof *x), *y = malloc(n * sizeof *y), *a = malloc(d * 5 * sizeof *a);
  uint8_t *split = row_split(n);
  for (size_t k = 0; k < d * 5; k++) a[k] = urand(&r, -1, 1);
  for (size_t i = 0; i < n; i++) {
    double u[5];
    for (int k = 0; k < 5; k++) u[k] = urand(&r, -1, 1);
    for (size_t j = 0; j < d; j++) {
      double v = 0.001 * urand(&r, -1, 1);
      for (int k = 0; k < 5; k++) v += a[j * 5 + k] * u[k];
      x[i * d + j] = v;
    }
    y[i] = u[0] - u[3];
  }
  double lam, vr2, tr2;
  assert_int_equal(wsk_probe_ridge(x, n, d, split, y, 1, NULL, 0, &lam, &vr2, &tr2), WSK_OK);
  if (!(lam <= 1e-1) || !(tr2 > 0.999)) {
    print_error("dual: clean lambda %g r2 %.9f\n", lam, tr2);
    fail();
  }
  free(x);
  free(y);
  free(a);
  free(split);
}

static void test_ridge_probe_errors(void **state) {
  (void)state;
  double x[20] = {0}, y[10] = {0}, lam, v, t;
  uint8_t split[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(wsk_probe_ridge(x, 10, 2, split, y, 1, NULL, 0, &lam, &v, &t), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "too few rows per split"));
  split[8] = 1;
  split[9] = 3;
  assert_int_equal(wsk_probe_ridge(x, 10, 2, split, y, 1, NULL, 0, &lam, &v, &t), WSK_ERR_ARG);
  assert_int_equal(wsk_probe_ridge(NULL, 10, 2, split, y, 1, NULL, 0, &lam, &v, &t), WSK_ERR_NULL);
  assert_int_equal(wsk_probe_ridge(x, 10, 0, split, y, 1, NULL, 0, &lam, &v, &t), WSK_ERR_SIZE);
}

/* ---- the softmax classifier ---- */

/* separable data: class c has its mean at 3 e_c (plus a shared offset) and
 * noise of at most 0.5 per feature */
static void separable(tu_rng *r, size_t n, size_t d, int C, double *x, int *y) {
  for (size_t i = 0; i < n; i++) {
    y[i] = (int)(i % (size_t)C);
    for (size_t j = 0; j < d; j++)
      x[i * d + j] = urand(r, -0.5, 0.5) + ((int)j == y[i] ? 3.0 : 0.0) + 0.1 * (double)j;
  }
}

static void test_logistic_separable(void **state) {
  (void)state;
  const size_t n = 200, d = 6;
  const int C = 4;
  tu_rng r = {21};
  double *x = malloc(n * d * sizeof *x);
  int *y = malloc(n * sizeof *y), *pred = malloc(n * sizeof *pred);
  separable(&r, n, d, C, x, y);
  wsk_logistic m;
  assert_int_equal(wsk_logistic_fit(x, n, d, y, C, 1e-3, NULL, &m), WSK_OK);
  assert_int_equal(wsk_logistic_predict(&m, x, n, pred), WSK_OK);
  for (size_t i = 0; i < n; i++) assert_int_equal(pred[i], y[i]);
  assert_true(m.iterations > 0 && m.iterations <= WSK_PROBE_LOGISTIC_MAXIT);

  /* at the optimum of a strongly regularized fit the gradient vanishes */
  wsk_logistic m2;
  const double lambda = 0.5;
  assert_int_equal(wsk_logistic_fit(x, n, d, y, C, lambda, NULL, &m2), WSK_OK);
  double *z = malloc(n * d * sizeof *z);
  wsk_standardize_apply(&m2.std, x, n, z);
  long double g[4][7] = {{0}};
  for (size_t i = 0; i < n; i++) {
    long double s[4], mx = -INFINITY, sum = 0;
    for (int c = 0; c < C; c++) {
      s[c] = m2.b[c];
      for (size_t j = 0; j < d; j++) s[c] += (long double)m2.w[c * d + j] * z[i * d + j];
      mx = s[c] > mx ? s[c] : mx;
    }
    for (int c = 0; c < C; c++) sum += expl(s[c] - mx);
    for (int c = 0; c < C; c++) {
      const long double rc = expl(s[c] - mx) / sum - (c == y[i]);
      for (size_t j = 0; j < d; j++) g[c][j] += rc * z[i * d + j] / n;
      g[c][d] += rc / n;
    }
  }
  for (int c = 0; c < C; c++)
    for (size_t j = 0; j <= d; j++) {
      const long double gj = g[c][j] + (j < d ? lambda * m2.w[c * d + j] : 0);
      assert_true(fabsl(gj) < 1e-5L);
    }
  /* a warm start from the first fit reaches the same predictions */
  wsk_logistic m3;
  assert_int_equal(wsk_logistic_fit(x, n, d, y, C, 1e-3, &m, &m3), WSK_OK);
  assert_int_equal(wsk_logistic_predict(&m3, x, n, pred), WSK_OK);
  for (size_t i = 0; i < n; i++) assert_int_equal(pred[i], y[i]);
  wsk_logistic_free(&m3);
  /* errors */
  assert_int_equal(wsk_logistic_fit(x, n, d - 1, y, C, 1e-3, &m, &m3), WSK_ERR_ARG);
  assert_int_equal(wsk_logistic_fit(x, n, d, y, 1, 1e-3, NULL, &m3), WSK_ERR_SIZE);
  assert_int_equal(wsk_logistic_fit(x, n, d, y, C, -1, NULL, &m3), WSK_ERR_ARG);
  y[5] = C;
  assert_int_equal(wsk_logistic_fit(x, n, d, y, C, 1, NULL, &m3), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "row 5"));
  y[5] = 1;
  x[7] = NAN;
  assert_int_equal(wsk_logistic_fit(x, n, d, y, C, 1, NULL, &m3), WSK_ERR_ARG);
  assert_int_equal(wsk_logistic_predict(NULL, x, n, pred), WSK_ERR_NULL);
  wsk_logistic_free(&m);
  wsk_logistic_free(&m2);
  wsk_logistic_free(&m3);
  free(x);
  free(y);
  free(pred);
  free(z);
}

static void test_logistic_probe(void **state) {
  (void)state;
  const size_t n = 300, d = 8;
  tu_rng r = {31};
  double *x = malloc(n * d * sizeof *x);
  int *y = malloc(n * sizeof *y);
  uint8_t *split = row_split(n);
  separable(&r, n, d, 3, x, y);
  double lam, va, ta;
  assert_int_equal(wsk_probe_logistic(x, n, d, split, y, 3, NULL, 0, &lam, &va, &ta), WSK_OK);
  assert_true(va == 1.0 && ta == 1.0);
  assert_true(lam == 1e-4); /* ties of accuracy: the lowest validation loss */
  /* more features than rows (d > n): separable, 100% on the training rows */
  const size_t n2 = 60, d2 = 100;
  double *x2 = malloc(n2 * d2 * sizeof *x2);
  int *y2 = malloc(n2 * sizeof *y2);
  separable(&r, n2, d2, 5, x2, y2);
  wsk_logistic m;
  assert_int_equal(wsk_logistic_fit(x2, n2, d2, y2, 5, 1e-4, NULL, &m), WSK_OK);
  int pred[60];
  assert_int_equal(wsk_logistic_predict(&m, x2, n2, pred), WSK_OK);
  for (size_t i = 0; i < n2; i++) assert_int_equal(pred[i], y2[i]);
  wsk_logistic_free(&m);
  /* on held-out rows the 95 noise features cost some accuracy (42 train
   * rows); chance is 0.2 */
  assert_int_equal(wsk_probe_logistic(x2, n2, d2, split, y2, 5, NULL, 0, &lam, &va, &ta), WSK_OK);
  assert_true(ta >= 0.6);
  /* one class: every prediction right */
  for (size_t i = 0; i < n; i++) y[i] = 0;
  assert_int_equal(wsk_probe_logistic(x, n, d, split, y, 1, NULL, 0, &lam, &va, &ta), WSK_OK);
  assert_true(isnan(lam) && va == 1 && ta == 1);
  /* labels unrelated to the features: test accuracy near chance */
  for (size_t i = 0; i < n; i++) y[i] = (int)(tu_next(&r) % 2);
  assert_int_equal(wsk_probe_logistic(x, n, d, split, y, 2, NULL, 0, &lam, &va, &ta), WSK_OK);
  assert_true(ta < 0.8);
  /* errors */
  const double bad_grid[2] = {1, -1};
  assert_int_equal(wsk_probe_logistic(x, n, d, split, y, 2, bad_grid, 2, &lam, &va, &ta),
                   WSK_ERR_ARG);
  y[0] = 2;
  assert_int_equal(wsk_probe_logistic(x, n, d, split, y, 2, NULL, 0, &lam, &va, &ta), WSK_ERR_ARG);
  assert_int_equal(wsk_probe_logistic(x, 10, d, split, y, 2, NULL, 0, &lam, &va, &ta),
                   WSK_ERR_SIZE); /* rows 0..9 are all train */
  free(x);
  free(y);
  free(x2);
  free(y2);
  free(split);
}

/* ---- a zoo on disk ---- */

enum { ZM = 40, ZE = 3, ZW = 26, ZD = 7 }; /* models, epochs, weights, embedding */
static const char *const acts[2] = {"relu", "tanh"};
static const char *const inits[3] = {"kaiming_uniform", "normal", "xavier_normal"};
static const char *const opts[2] = {"adam", "sgd"};

typedef struct zoo_spec {
  int models;
  int mismatch_row;   /* a checkpoint of another layout at this row (-1: none) */
  int nan_row;        /* test_acc "nan" at this row (-1: none) */
  int drop_column;    /* leave out zoo.csv column k of the header and rows (-1: none) */
  int bad_number_row; /* gap "x1" at this row (-1: none) */
} zoo_spec;

static const char *const zoo_cols[17] = {
    "model_id",  "epoch",      "arch",         "seed",    "init",       "activation",
    "optimizer", "lr",         "weight_decay", "dropout", "train_frac", "train_acc",
    "test_acc",  "train_loss", "test_loss",    "gap",     "file"};

/* the weights of model m at epoch e (1-based) and its properties: test_acc
 * and gap linear in the weights, epoch written into the last bias, the
 * classes in the sign pattern of weights 10-13 */
static void zoo_row(tu_rng *r, int m, int e, float *w, double *acc, double *gap) {
  for (int j = 0; j < ZW; j++) w[j] = tu_uniform(r, -1, 1);
  w[10] = (m % 2 ? -1.f : 1.f) * (1.5f + tu_uniform(r, 0, 0.5f));
  w[11] = (m % 3 == 0 ? 2.f : -2.f) + tu_uniform(r, -0.3f, 0.3f);
  w[12] = (m % 3 == 1 ? 2.f : -2.f) + tu_uniform(r, -0.3f, 0.3f);
  w[13] = ((m / 2) % 2 ? -1.f : 1.f) * (1.5f + tu_uniform(r, 0, 0.5f));
  w[ZW - 1] = (float)e;
  *acc = 0.5 + 0.2 * w[0] - 0.1 * w[3];
  *gap = 0.05 * w[1] + 0.02 * w[7];
}

/* The checkpoints of the full zoo, written once by the group setup (every
 * file is written atomically with fsync, which is slow on some disks); the
 * zoos of the tests copy them. */
static char *g_template;

/* writes DIR/zoo.csv and the checkpoints DIR/ckpt/m*_e*.safetensors (copied
 * from the template when there is one); returns the embeddings (rows x ZD:
 * the properties, noise-free, as a perfect encoder would) */
static float *write_zoo(const char *dir, const zoo_spec *sp) {
  if (g_template) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp -R '%s/ckpt' '%s/'", g_template, dir);
    assert_int_equal(system(cmd), 0);
  } else {
    char *ck = join(dir, "ckpt");
    assert_int_equal(wsk_mkdir_p(ck), WSK_OK);
    free(ck);
  }
  tu_rng r = {1234};
  const int rows = sp->models * ZE;
  float *emb = malloc((size_t)rows * ZD * sizeof *emb);
  wsk_strbuf csv = WSK_STRBUF_INIT;
  for (int c = 0, first = 1; c < 17; c++) {
    if (c == sp->drop_column) continue;
    assert_int_equal(wsk_strbuf_printf(&csv, "%s%s", first ? "" : ",", zoo_cols[c]), WSK_OK);
    first = 0;
  }
  assert_int_equal(wsk_strbuf_append(&csv, "\n"), WSK_OK);
  for (int m = 0; m < sp->models; m++)
    for (int e = 1; e <= ZE; e++) {
      const int i = m * ZE + e - 1;
      float w[ZW];
      double acc, gap;
      zoo_row(&r, m, e, w, &acc, &gap);
      char file[64], path_rel[64];
      snprintf(path_rel, sizeof path_rel, "ckpt/m%04d_e%03d.safetensors", m, e);
      snprintf(file, sizeof file, "%s", path_rel);
      char *path = join(dir, path_rel);
      if (g_template && i != sp->mismatch_row) {
        /* copied */
      } else if (i == sp->mismatch_row) {
        const wsk_tensor_ref t[2] = {{"0.weight", 2, {4, 4}, w}, {"0.bias", 1, {10}, w + 16}};
        assert_int_equal(wsk_safetensors_write(path, t, 2, NULL), WSK_OK);
      } else {
        const wsk_tensor_ref t[4] = {{"0.weight", 2, {4, 3}, w},
                                     {"0.bias", 1, {4}, w + 12},
                                     {"2.weight", 2, {2, 4}, w + 16},
                                     {"2.bias", 1, {2}, w + 24}};
        assert_int_equal(wsk_safetensors_write(path, t, 4, NULL), WSK_OK);
      }
      free(path);
      float *em = emb + (size_t)i * ZD;
      em[0] = (float)acc;
      em[1] = (float)gap;
      em[2] = (float)e;
      em[3] = w[10];
      em[4] = w[11];
      em[5] = w[12];
      em[6] = w[13];
      char fields[17][80];
      snprintf(fields[0], 80, "m%04d", m);
      snprintf(fields[1], 80, "%d", e);
      snprintf(fields[2], 80, "mlp");
      snprintf(fields[3], 80, "%d", m);
      snprintf(fields[4], 80, "%s", inits[m % 3]);
      snprintf(fields[5], 80, "%s", acts[m % 2]);
      snprintf(fields[6], 80, "%s", opts[(m / 2) % 2]);
      snprintf(fields[7], 80, "0.01");
      snprintf(fields[8], 80, "0");
      snprintf(fields[9], 80, "0");
      snprintf(fields[10], 80, "1");
      snprintf(fields[11], 80, "0.9");
      snprintf(fields[12], 80, i == sp->nan_row ? "nan" : "%.9g", acc);
      snprintf(fields[13], 80, "0.3");
      snprintf(fields[14], 80, "0.4");
      snprintf(fields[15], 80, i == sp->bad_number_row ? "x1" : "%.9g", gap);
      snprintf(fields[16], 80, "%s", file);
      for (int c = 0, first = 1; c < 17; c++) {
        if (c == sp->drop_column) continue;
        if (!first) assert_int_equal(wsk_strbuf_append(&csv, ","), WSK_OK);
        assert_int_equal(wsk_csv_quote(&csv, fields[c]), WSK_OK);
        first = 0;
      }
      assert_int_equal(wsk_strbuf_append(&csv, "\n"), WSK_OK);
    }
  char *zp = join(dir, "zoo.csv");
  assert_int_equal(wsk_file_write_atomic(zp, csv.s, csv.len), WSK_OK);
  free(zp);
  wsk_strbuf_free(&csv);
  return emb;
}

static const zoo_spec good_zoo = {ZM, -1, -1, -1, -1};

static char *read_text(const char *path) {
  void *d;
  size_t n;
  assert_int_equal(wsk_file_read(path, &d, &n), WSK_OK);
  return d;
}

static void test_zoo_end_to_end(void **state) {
  (void)state;
  char *dir = make_tmpdir();
  float *emb = write_zoo(dir, &good_zoo);
  const size_t rows = ZM * ZE;

  /* without embeddings */
  wsk_probe_options opt = {0};
  opt.zoo_dir = dir;
  opt.seed = 5;
  opt.quiet = 1;
  wsk_probe_results *res = malloc(sizeof *res), *res2 = malloc(sizeof *res2);
  assert_int_equal(wsk_probe_run(&opt, res), WSK_OK);
  assert_int_equal(res->rows, rows);
  assert_int_equal(res->rows_used, rows);
  assert_int_equal(res->models, ZM);
  assert_true(res->split_models[0] == 28 && res->split_models[1] == 6 && res->split_models[2] == 6);
  assert_true(res->split_rows[0] == 84 && res->split_rows[1] == 18 && res->split_rows[2] == 18);
  assert_int_equal(res->dim[WSK_PROBE_HYPER], 0);
  assert_int_equal(res->dim[WSK_PROBE_STATS], 28);
  assert_int_equal(res->dim[WSK_PROBE_W], ZW);
  assert_int_equal(res->ncls[3], 2);
  assert_int_equal(res->ncls[4], 3);
  assert_int_equal(res->ncls[5], 2);
  for (int k = 0; k < WSK_PROBE_NPROP; k++) {
    assert_false(res->cell[k][WSK_PROBE_HYPER].present);
    assert_true(isnan(res->cell[k][WSK_PROBE_HYPER].value));
    assert_true(res->cell[k][WSK_PROBE_STATS].present && res->cell[k][WSK_PROBE_W].present);
  }
  /* W holds the targets linearly: R^2 = 1 on test; the classes are linearly
   * separable in W, but 26 standardized features over 84 train rows leave
   * room to overfit: most test rows right */
  for (int k = 0; k < 3; k++) {
    if (!(res->cell[k][WSK_PROBE_W].value > 0.999)) {
      print_error("W: %s R^2 %g\n", wsk_probe_prop_columns[k], res->cell[k][WSK_PROBE_W].value);
      fail();
    }
  }
  for (int k = 3; k < 6; k++) assert_true(res->cell[k][WSK_PROBE_W].value >= 0.8);

  /* the report: "—" for the absent column, the CSV next to it */
  char *md = join(dir, "probe.md");
  char *csvp = NULL;
  assert_int_equal(wsk_probe_write(res, md, &csvp), WSK_OK);
  char *want_csv = join(dir, "probe.csv");
  assert_string_equal(csvp, want_csv);
  char *text = read_text(md);
  assert_non_null(strstr(text, "| property"));
  assert_non_null(strstr(text, "hyper-representation"));
  assert_non_null(strstr(text, "| test accuracy "));
  assert_non_null(strstr(text, "—"));
  assert_non_null(strstr(text, "accuracy (3 classes)"));
  assert_non_null(strstr(text, "seed 5"));
  free(text);
  text = read_text(csvp);
  static const char head[] = "property,metric,hyper_representation,s_w,w,";
  assert_true(strncmp(text, head, strlen(head)) == 0);
  assert_non_null(strstr(text, "\ntest_acc,r2,,"));
  assert_non_null(strstr(text, "\nactivation,accuracy,,"));
  size_t lines = 0;
  for (char *c = text; *c; c++) lines += *c == '\n';
  assert_int_equal(lines, 1 + WSK_PROBE_NPROP);
  free(text);
  /* another name without .md */
  char *other = join(dir, "report.txt");
  char *other_csv = NULL;
  assert_int_equal(wsk_probe_write(res, other, &other_csv), WSK_OK);
  assert_non_null(strstr(other_csv, "report.txt.csv"));
  assert_int_equal(access(other_csv, R_OK), 0);
  free(other);
  free(other_csv);

  /* with embeddings, from a file: the hyper-representation column */
  char *ep = join(dir, "emb.safetensors");
  const wsk_tensor_ref et = {"embeddings", 2, {(int64_t)rows, ZD}, emb};
  assert_int_equal(wsk_safetensors_write(ep, &et, 1, NULL), WSK_OK);
  opt.embeddings = ep;
  assert_int_equal(wsk_probe_run(&opt, res2), WSK_OK);
  assert_int_equal(res2->dim[WSK_PROBE_HYPER], ZD);
  for (int k = 0; k < WSK_PROBE_NPROP; k++) {
    assert_true(res2->cell[k][WSK_PROBE_HYPER].present);
    /* the other columns do not change: the same split for every feature set */
    assert_memory_equal(&res2->cell[k][1], &res->cell[k][1], 2 * sizeof(wsk_probe_cell));
  }
  for (int k = 0; k < 3; k++) assert_true(res2->cell[k][WSK_PROBE_HYPER].value > 0.999);
  for (int k = 3; k < 6; k++) /* the embedding holds the class codes: exact */
    assert_true(res2->cell[k][WSK_PROBE_HYPER].value == 1.0);
  /* the bits of every score and lambda: the digest recorded on x86-64, so
   * the aarch64 leg proves the same results there */
  double bits[WSK_PROBE_NPROP * WSK_PROBE_NFEAT * 3];
  for (int k = 0, q = 0; k < WSK_PROBE_NPROP; k++)
    for (int f = 0; f < WSK_PROBE_NFEAT; f++) {
      bits[q++] = res2->cell[k][f].value;
      bits[q++] = res2->cell[k][f].val_value;
      bits[q++] = res2->cell[k][f].lambda;
    }
  tu_assert_digest(
      "probe", tu_digest(TU_DIGEST_INIT, (const float *)bits, 2 * (sizeof bits / sizeof bits[0])),
      PROBE_DIGEST);
  wsk_strbuf tb = WSK_STRBUF_INIT;
  assert_int_equal(wsk_probe_table_markdown(res2, &tb), WSK_OK);
  assert_null(strstr(tb.s, "—"));
  wsk_strbuf_free(&tb);

  /* the same from memory, and the same bits with 1 and 3 threads */
  wsk_probe_options mem = opt;
  mem.embeddings = NULL;
  mem.emb = emb;
  mem.emb_rows = rows;
  mem.emb_dim = ZD;
  assert_int_equal(wsk_threads_set_count(1), WSK_OK);
  assert_int_equal(wsk_probe_run(&mem, res), WSK_OK);
  assert_memory_equal(res->cell, res2->cell, sizeof res->cell);
  assert_int_equal(wsk_threads_set_count(3), WSK_OK);
  assert_int_equal(wsk_probe_run(&mem, res), WSK_OK);
  assert_memory_equal(res->cell, res2->cell, sizeof res->cell);
  wsk__threads_reset_for_tests();

  /* embeddings: wrong rows, wrong rank, wrong name, missing file */
  mem.emb_rows = rows - 1;
  assert_int_equal(wsk_probe_run(&mem, res), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), "zoo.csv has 120 rows"));
  const wsk_tensor_ref e1 = {"embeddings", 1, {(int64_t)rows}, emb};
  assert_int_equal(wsk_safetensors_write(ep, &e1, 1, NULL), WSK_OK);
  assert_int_equal(wsk_probe_run(&opt, res), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), "shape [rows][d]"));
  const wsk_tensor_ref e2 = {"latent", 2, {(int64_t)rows, ZD}, emb};
  assert_int_equal(wsk_safetensors_write(ep, &e2, 1, NULL), WSK_OK);
  assert_int_equal(wsk_probe_run(&opt, res), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), "no tensor named 'embeddings'"));
  const wsk_tensor_ref e3 = {"embeddings", 2, {(int64_t)rows + 1, 3}, emb};
  assert_int_equal(wsk_safetensors_write(ep, &e3, 1, NULL), WSK_OK);
  assert_int_equal(wsk_probe_run(&opt, res), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), "121 embedding rows"));
  unlink(ep);
  assert_int_equal(wsk_probe_run(&opt, res), WSK_ERR_IO);
  assert_non_null(strstr(wsk_last_error(), "emb.safetensors"));
  /* a non-finite embedding leaves its row out */
  emb[7] = NAN;
  assert_int_equal(wsk_probe_run(&mem, res), WSK_ERR_FORMAT); /* still rows - 1 */
  mem.emb_rows = rows;
  assert_int_equal(wsk_probe_run(&mem, res), WSK_OK);
  assert_int_equal(res->rows_used, rows - 1);

  /* errors of the report writer */
  char *nodir = join(dir, "no/such/dir/p.md");
  assert_int_equal(wsk_probe_write(res, nodir, NULL), WSK_ERR_IO);
  free(nodir);
  assert_int_equal(wsk_probe_write(NULL, md, NULL), WSK_ERR_NULL);

  rm_tree(dir);
  free(dir);
  free(emb);
  free(res);
  free(res2);
  free(md);
  free(csvp);
  free(want_csv);
  free(ep);
}

/* runs the probes on a zoo written by spec and expects status s with
 * `needle` in the message */
static void expect_zoo_error(const zoo_spec *sp, wsk_status s, const char *needle,
                             void (*mutate)(const char *dir)) {
  char *dir = make_tmpdir();
  float *emb = write_zoo(dir, sp);
  if (mutate) mutate(dir);
  wsk_probe_options opt = {0};
  opt.zoo_dir = dir;
  opt.quiet = 1;
  wsk_probe_results *res = malloc(sizeof *res);
  const wsk_status got = wsk_probe_run(&opt, res);
  if (got != s || !strstr(wsk_last_error(), needle)) {
    print_error("expected %s with '%s', got %s: %s\n", wsk_status_name(s), needle,
                wsk_status_name(got), wsk_last_error());
    fail();
  }
  rm_tree(dir);
  free(dir);
  free(emb);
  free(res);
}

static void remove_zoo_csv(const char *dir) {
  char *p = join(dir, "zoo.csv");
  unlink(p);
  free(p);
}

static void remove_checkpoint(const char *dir) {
  char *p = join(dir, "ckpt/m0003_e002.safetensors");
  unlink(p);
  free(p);
}

static void header_only(const char *dir) {
  char *p = join(dir, "zoo.csv");
  char *t = read_text(p);
  t[strcspn(t, "\n")] = '\0';
  assert_int_equal(wsk_file_write_atomic(p, t, strlen(t)), WSK_OK);
  free(t);
  free(p);
}

static void test_zoo_errors(void **state) {
  (void)state;
  zoo_spec sp = good_zoo;
  expect_zoo_error(&sp, WSK_ERR_IO, "zoo.csv", remove_zoo_csv);
  expect_zoo_error(&sp, WSK_ERR_IO, "m0003_e002.safetensors", remove_checkpoint);
  expect_zoo_error(&sp, WSK_ERR_IO, "zoo.csv line 12", remove_checkpoint);
  expect_zoo_error(&sp, WSK_ERR_FORMAT, "has no rows", header_only);
  sp.drop_column = 15; /* gap */
  expect_zoo_error(&sp, WSK_ERR_FORMAT, "no column 'gap'", NULL);
  sp.drop_column = 16; /* file */
  expect_zoo_error(&sp, WSK_ERR_FORMAT, "no column 'file'", NULL);
  sp.drop_column = 5; /* activation */
  expect_zoo_error(&sp, WSK_ERR_FORMAT, "no column 'activation'", NULL);
  sp = good_zoo;
  sp.bad_number_row = 4;
  expect_zoo_error(&sp, WSK_ERR_FORMAT, "line 6, column gap: 'x1' is not a number", NULL);
  sp = good_zoo;
  sp.mismatch_row = 7;
  expect_zoo_error(&sp, WSK_ERR_FORMAT, "one architecture per zoo", NULL);
  sp = good_zoo;
  sp.models = 4;
  expect_zoo_error(&sp, WSK_ERR_SIZE, "too few models", NULL);

  /* a nan property leaves its row out; a zoo whose test rows are all left
   * out is too small */
  char *dir = make_tmpdir();
  sp = good_zoo;
  sp.nan_row = 0;
  float *emb = write_zoo(dir, &sp);
  wsk_probe_options opt = {0};
  opt.zoo_dir = dir;
  opt.quiet = 1;
  wsk_probe_results *res = malloc(sizeof *res);
  assert_int_equal(wsk_probe_run(&opt, res), WSK_OK);
  assert_int_equal(res->rows_used, res->rows - 1);
  /* make every test row non-finite: embeddings of NaN there */
  uint8_t split[ZM * ZE];
  const char *ids[ZM * ZE];
  char idb[ZM * ZE][16];
  for (int i = 0; i < ZM * ZE; i++) {
    snprintf(idb[i], 16, "m%04d", i / ZE);
    ids[i] = idb[i];
  }
  assert_int_equal(wsk_probe_split(ids, ZM * ZE, 0, split, NULL), WSK_OK);
  for (int i = 0; i < ZM * ZE; i++)
    if (split[i] == WSK_SPLIT_TEST) emb[i * ZD] = NAN;
  opt.emb = emb;
  opt.emb_rows = ZM * ZE;
  opt.emb_dim = ZD;
  assert_int_equal(wsk_probe_run(&opt, res), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "too few usable rows"));
  /* bad arguments */
  assert_int_equal(wsk_probe_run(NULL, res), WSK_ERR_NULL);
  opt.zoo_dir = "";
  assert_int_equal(wsk_probe_run(&opt, res), WSK_ERR_ARG);
  rm_tree(dir);
  free(dir);
  free(emb);
  free(res);
}

static int run_cli(int argc, const char *const *args) {
  char *argv[16];
  for (int i = 0; i < argc; i++) argv[i] = (char *)args[i];
  return wsk_cmd_probe(argc, argv);
}

static void test_cli(void **state) {
  (void)state;
  char *dir = make_tmpdir();
  float *emb = write_zoo(dir, &good_zoo);
  char *ep = join(dir, "emb.safetensors");
  const wsk_tensor_ref et = {"embeddings", 2, {ZM * ZE, ZD}, emb};
  assert_int_equal(wsk_safetensors_write(ep, &et, 1, NULL), WSK_OK);
  /* the default report goes to DIR/probe.md, the CSV next to it */
  const char *a1[] = {"probe", "--zoo", dir, "--quiet"};
  assert_int_equal(run_cli(4, a1), 0);
  char *md = join(dir, "probe.md"), *csv = join(dir, "probe.csv");
  assert_int_equal(access(md, R_OK), 0);
  assert_int_equal(access(csv, R_OK), 0);
  char *text = read_text(csv);
  assert_non_null(strstr(text, "\ntest_acc,r2,,"));
  free(text);
  /* --embeddings, --seed, --out */
  char *out = join(dir, "sub.md"), *out_csv = join(dir, "sub.csv");
  const char *a2[] = {"probe", "--zoo", dir, "--embeddings", ep, "--seed",
                      "3",     "--out", out, "--quiet"};
  assert_int_equal(run_cli(10, a2), 0);
  text = read_text(out);
  assert_non_null(strstr(text, "seed 3"));
  assert_non_null(strstr(text, "hyper-representation (7,"));
  free(text);
  text = read_text(out_csv);
  assert_null(strstr(text, ",,")); /* every column present */
  free(text);
  /* usage errors: 2 */
  const char *u1[] = {"probe"};
  assert_int_equal(run_cli(1, u1), 2);
  const char *u2[] = {"probe", "--zoo"};
  assert_int_equal(run_cli(2, u2), 2);
  const char *u3[] = {"probe", "--zoo", dir, "--seed", "-1"};
  assert_int_equal(run_cli(5, u3), 2);
  const char *u4[] = {"probe", "--zoo", dir, "--seed", "12x"};
  assert_int_equal(run_cli(5, u4), 2);
  const char *u5[] = {"probe", "--zoo", dir, "--bogus"};
  assert_int_equal(run_cli(4, u5), 2);
  const char *u6[] = {"probe", "--zoo", dir, "--out", ""};
  assert_int_equal(run_cli(5, u6), 2);
  /* failures: 1 */
  char *nodir = join(dir, "nothing-here");
  const char *f1[] = {"probe", "--zoo", nodir, "--quiet"};
  assert_int_equal(run_cli(4, f1), 1);
  const char *f2[] = {"probe", "--zoo", dir, "--embeddings", nodir, "--quiet"};
  assert_int_equal(run_cli(6, f2), 1);
  char *badout = join(dir, "no/such/dir/p.md");
  const char *f3[] = {"probe", "--zoo", dir, "--out", badout, "--quiet"};
  assert_int_equal(run_cli(6, f3), 1);
  rm_tree(dir);
  free(dir);
  free(emb);
  free(ep);
  free(md);
  free(csv);
  free(out);
  free(out_csv);
  free(nodir);
  free(badout);
}

static int setup_template(void **state) {
  (void)state;
  char *dir = make_tmpdir();
  free(write_zoo(dir, &good_zoo));
  g_template = dir;
  return 0;
}

static int remove_template(void **state) {
  (void)state;
  rm_tree(g_template);
  free(g_template);
  g_template = NULL;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quantiles_hand_values),
      cmocka_unit_test(test_quantiles_order_free),
      cmocka_unit_test(test_features_of_checkpoint),
      cmocka_unit_test(test_split_by_model),
      cmocka_unit_test(test_ridge_selection),
      cmocka_unit_test(test_ridge_selection_dual),
      cmocka_unit_test(test_ridge_probe_errors),
      cmocka_unit_test(test_logistic_separable),
      cmocka_unit_test(test_logistic_probe),
      cmocka_unit_test(test_zoo_end_to_end),
      cmocka_unit_test(test_zoo_errors),
      cmocka_unit_test(test_cli),
  };
  return cmocka_run_group_tests(tests, setup_template, remove_template);
}
