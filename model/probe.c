/* model/probe.c — linear probes of hyper-representations and of the
 * baselines W and s(W) (model/probe.h): the split by model, ridge probes
 * with lambda chosen on validation, the linear softmax classifier (L-BFGS in
 * double), and the probe table of a zoo directory. */
#include "model/probe.h"

#include <math.h>
#include <sleef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "model/features.h"
#include "model/progress.h"
#include "model/rng.h"
#include "model/safetensors.h"
#include "wsk/threads.h"

/* sleef.h declares the purecfma functions only when the compiler targets FMA
 * (FP_FAST_FMA); this file is built with baseline flags (as
 * kernels/eltwise/eltwise-scalar.c). */
double Sleef_finz_expd1_u10purecfma(double);
double Sleef_finz_logd1_u10purecfma(double);

const double wsk_probe_ridge_grid[WSK_PROBE_RIDGE_GRID_N] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1,
                                                             1e2,  1e3,  1e4,  1e5,  1e6};
const double wsk_probe_logistic_grid[WSK_PROBE_LOGISTIC_GRID_N] = {1e1,  1e0,  1e-1,
                                                                   1e-2, 1e-3, 1e-4};

const char *const wsk_probe_prop_columns[WSK_PROBE_NPROP] = {"test_acc",   "gap",  "epoch",
                                                             "activation", "init", "optimizer"};
const char *const wsk_probe_prop_titles[WSK_PROBE_NPROP] = {
    "test accuracy", "generalization gap", "epoch", "activation", "initialization", "optimizer"};
const int wsk_probe_prop_categorical[WSK_PROBE_NPROP] = {0, 0, 0, 1, 1, 1};
const char *const wsk_probe_feat_titles[WSK_PROBE_NFEAT] = {"hyper-representation", "s(W)", "W"};

#define NCONT 3 /* the continuous properties come first */

static double *dalloc(size_t n, size_t m) {
  if (n != 0 && m > SIZE_MAX / sizeof(double) / n) return NULL;
  return malloc(n && m ? n * m * sizeof(double) : sizeof(double));
}

/* ---- the split by model ------------------------------------------------------------- */

typedef struct id_row {
  const char *id;
  uint32_t row;
} id_row;

static int cmp_id_row(const void *pa, const void *pb) {
  const id_row *a = pa, *b = pb;
  const int c = strcmp(a->id, b->id);
  return c ? c : (a->row > b->row) - (a->row < b->row);
}

wsk_status wsk_probe_split(const char *const *model_ids, size_t nrows, uint64_t seed,
                           uint8_t *split, size_t models[3]) {
  if (!model_ids || !split) return wsk__fail(WSK_ERR_NULL, "wsk_probe_split: NULL argument");
  if (nrows > UINT32_MAX)
    return wsk__fail(WSK_ERR_SIZE, "wsk_probe_split: too many rows (%zu)", nrows);
  for (size_t i = 0; i < nrows; i++)
    if (!model_ids[i])
      return wsk__fail(WSK_ERR_NULL, "wsk_probe_split: model id of row %zu is NULL", i);
  const size_t cap = nrows ? nrows : 1;
  id_row *rows = malloc(cap * sizeof *rows);
  uint32_t *model_of =
      malloc(cap * sizeof *model_of); /* rank of the row's id among the distinct ids */
  uint32_t *order = malloc(cap * sizeof *order);
  uint8_t *model_split = malloc(cap);
  wsk_status st = WSK_OK;
  if (!rows || !model_of || !order || !model_split) {
    st = wsk__fail(WSK_ERR_NOMEM, "wsk_probe_split: out of memory (%zu rows)", nrows);
    goto done;
  }
  /* the distinct ids in strcmp order, so that the split depends on the set
   * of ids and the seed, not on the order of the rows */
  for (size_t i = 0; i < nrows; i++) {
    rows[i].id = model_ids[i];
    rows[i].row = (uint32_t)i;
  }
  qsort(rows, nrows, sizeof *rows, cmp_id_row);
  size_t m = 0;
  for (size_t i = 0; i < nrows; i++) {
    if (i > 0 && strcmp(rows[i].id, rows[i - 1].id) != 0) m++;
    model_of[rows[i].row] = (uint32_t)m;
  }
  if (nrows > 0) m++;
  if (m < WSK_PROBE_MIN_MODELS) {
    st = wsk__fail(WSK_ERR_SIZE,
                   "too few models for a train/validation/test split: %zu distinct model_ids in "
                   "%zu rows, need at least %d",
                   m, nrows, WSK_PROBE_MIN_MODELS);
    goto done;
  }
  size_t n_hold = (15 * m + 50) / 100; /* round(0.15 m) */
  if (n_hold < 1) n_hold = 1;
  const size_t n_train = m - 2 * n_hold;
  for (size_t q = 0; q < m; q++) order[q] = (uint32_t)q;
  wsk_rng r;
  wsk_rng_seed(&r, seed, WSK_PROBE_RNG_STREAM);
  wsk_rng_shuffle_u32(&r, order, m);
  for (size_t q = 0; q < m; q++)
    model_split[order[q]] = q < n_train            ? WSK_SPLIT_TRAIN
                            : q < n_train + n_hold ? WSK_SPLIT_VAL
                                                   : WSK_SPLIT_TEST;
  for (size_t i = 0; i < nrows; i++) split[i] = model_split[model_of[i]];
  if (models) {
    models[WSK_SPLIT_TRAIN] = n_train;
    models[WSK_SPLIT_VAL] = n_hold;
    models[WSK_SPLIT_TEST] = n_hold;
  }
done:
  free(rows);
  free(model_of);
  free(order);
  free(model_split);
  return st;
}

/* The rows of x (n x d) in split s, copied in order into a new matrix;
 * *count gets their number. */
static double *gather(const double *x, size_t n, size_t d, const uint8_t *split, int s,
                      size_t *count) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += split[i] == s;
  *count = c;
  double *g = dalloc(c, d);
  if (!g) return NULL;
  c = 0;
  for (size_t i = 0; i < n; i++)
    if (split[i] == s) memcpy(g + (c++) * d, x + i * d, d * sizeof(double));
  return g;
}

static int *gather_int(const int *y, size_t n, const uint8_t *split, int s) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += split[i] == s;
  int *g = malloc((c ? c : 1) * sizeof *g);
  if (!g) return NULL;
  c = 0;
  for (size_t i = 0; i < n; i++)
    if (split[i] == s) g[c++] = y[i];
  return g;
}

static wsk_status check_split_rows(const uint8_t *split, size_t n, size_t counts[3]) {
  counts[0] = counts[1] = counts[2] = 0;
  for (size_t i = 0; i < n; i++) {
    if (split[i] > WSK_SPLIT_TEST)
      return wsk__fail(WSK_ERR_ARG, "split of row %zu is %d (0 train, 1 validation, 2 test)", i,
                       split[i]);
    counts[split[i]]++;
  }
  if (counts[WSK_SPLIT_TRAIN] < 2 || counts[WSK_SPLIT_VAL] < 1 || counts[WSK_SPLIT_TEST] < 1)
    return wsk__fail(WSK_ERR_SIZE,
                     "too few rows per split: %zu train, %zu validation, %zu test (need at "
                     "least 2, 1 and 1)",
                     counts[0], counts[1], counts[2]);
  return WSK_OK;
}

/* ---- ridge probes ------------------------------------------------------------------- */

/* wsk_probe_ridge, and the test rows' predictions (test_pred: rows of the
 * test split in order x nt, or NULL) */
static wsk_status ridge(const double *x, size_t n, size_t d, const uint8_t *split, const double *y,
                        size_t nt, const double *grid, size_t ngrid, double *lambda, double *val_r2,
                        double *test_r2, double *test_pred) {
  if (!x || !split || !y || !lambda || !val_r2 || !test_r2)
    return wsk__fail(WSK_ERR_NULL, "wsk_probe_ridge: NULL argument");
  if (!grid) {
    grid = wsk_probe_ridge_grid;
    ngrid = WSK_PROBE_RIDGE_GRID_N;
  }
  if (d == 0 || nt == 0 || ngrid == 0)
    return wsk__fail(WSK_ERR_SIZE, "wsk_probe_ridge: %zu features, %zu targets, %zu lambdas", d, nt,
                     ngrid);
  size_t counts[3];
  WSK_TRY(check_split_rows(split, n, counts));
  wsk_status st = WSK_OK;
  size_t ntr, nva, nte;
  double *xtr = gather(x, n, d, split, WSK_SPLIT_TRAIN, &ntr);
  double *xva = gather(x, n, d, split, WSK_SPLIT_VAL, &nva);
  double *xte = gather(x, n, d, split, WSK_SPLIT_TEST, &nte);
  double *ytr = gather(y, n, nt, split, WSK_SPLIT_TRAIN, &ntr);
  double *yva = gather(y, n, nt, split, WSK_SPLIT_VAL, &nva);
  double *yte = gather(y, n, nt, split, WSK_SPLIT_TEST, &nte);
  double *pva = dalloc(nva, nt), *pte = dalloc(nte, nt), *best = dalloc(nt, 1);
  size_t *best_l = malloc(nt * sizeof *best_l);
  wsk_ridge *models = calloc(ngrid, sizeof *models);
  int *ok = calloc(ngrid, sizeof *ok);
  if (!xtr || !xva || !xte || !ytr || !yva || !yte || !pva || !pte || !best || !best_l || !models ||
      !ok) {
    st = wsk__fail(WSK_ERR_NOMEM, "wsk_probe_ridge: out of memory (%zu rows x %zu features)", n, d);
    goto done;
  }
  if ((st = wsk_ridge_fit_path(xtr, ntr, d, ytr, nt, grid, ngrid, models, ok)) != WSK_OK) goto done;
  for (size_t t = 0; t < nt; t++) {
    best[t] = INFINITY;
    best_l[t] = ngrid;
  }
  /* lambda per target: the least squared error on validation; ties go to the
   * larger lambda */
  for (size_t l = 0; l < ngrid; l++) {
    if (!ok[l]) continue;
    if ((st = wsk_ridge_predict(&models[l], xva, nva, pva)) != WSK_OK) goto done;
    for (size_t t = 0; t < nt; t++) {
      double se = 0;
      for (size_t i = 0; i < nva; i++) {
        const double e = yva[i * nt + t] - pva[i * nt + t];
        se = se + e * e;
      }
      if (!(se >= 0)) continue; /* NaN */
      if (best_l[t] == ngrid || se < best[t] || (se == best[t] && grid[l] > grid[best_l[t]])) {
        best[t] = se;
        best_l[t] = l;
      }
    }
  }
  for (size_t t = 0; t < nt; t++) {
    if (best_l[t] == ngrid) {
      st = wsk__fail(WSK_ERR_ARG,
                     "ridge probe: no lambda of the grid gave a usable fit of target %zu (%zu "
                     "rows x %zu features)",
                     t, ntr, d);
      goto done;
    }
    const wsk_ridge *mdl = &models[best_l[t]];
    lambda[t] = mdl->lambda;
    if ((st = wsk_ridge_predict(mdl, xva, nva, pva)) != WSK_OK) goto done;
    if ((st = wsk_ridge_predict(mdl, xte, nte, pte)) != WSK_OK) goto done;
    val_r2[t] = wsk_r2(yva, pva, nva, nt, t);
    test_r2[t] = wsk_r2(yte, pte, nte, nt, t);
    if (test_pred)
      for (size_t i = 0; i < nte; i++) test_pred[i * nt + t] = pte[i * nt + t];
  }
done:
  if (models)
    for (size_t l = 0; l < ngrid; l++) wsk_ridge_free(&models[l]);
  free(models);
  free(ok);
  free(xtr);
  free(xva);
  free(xte);
  free(ytr);
  free(yva);
  free(yte);
  free(pva);
  free(pte);
  free(best);
  free(best_l);
  return st;
}

wsk_status wsk_probe_ridge(const double *x, size_t n, size_t d, const uint8_t *split,
                           const double *y, size_t nt, const double *grid, size_t ngrid,
                           double *lambda, double *val_r2, double *test_r2) {
  return ridge(x, n, d, split, y, nt, grid, ngrid, lambda, val_r2, test_r2, NULL);
}

/* ---- the linear softmax classifier ---------------------------------------------------
 * Parameters theta = [W (C x d) row-major, b (C)] on standardized features z.
 *   f = (1/n) sum_i [lse(s_i) - s_i,y_i] + (lambda/2) ||W||^2,  s_i = W z_i + b
 *   dF/dW = (1/n) R^T Z + lambda W,  dF/db = (1/n) sum_i r_i,  r_i = softmax(s_i) - e_y_i
 * The per-row part runs on the thread pool over rows, the gradient over
 * blocks of features; each output's sum runs over the rows in order. */

typedef struct lr_problem {
  const double *z; /* n x d */
  size_t n, d;
  const int *y;
  int C;
  double lambda;
  double *r;    /* n x C: softmax - one-hot */
  double *loss; /* n: per-row cross-entropy */
  const double *theta;
  double *grad;
} lr_problem;

#define LR_BLOCK 256 /* features per gradient task */

static void lr_rows_task(void *ctx, size_t i, int thread) {
  (void)thread;
  const lr_problem *p = ctx;
  const int C = p->C;
  const double *zi = p->z + i * p->d, *b = p->theta + (size_t)C * p->d;
  double *ri = p->r + i * (size_t)C;
  double mx = -INFINITY;
  for (int c = 0; c < C; c++) {
    ri[c] = b[c] + wsk_ddot(zi, p->theta + (size_t)c * p->d, p->d);
    if (ri[c] > mx) mx = ri[c];
  }
  const double sy = ri[p->y[i]];
  double sum = 0;
  for (int c = 0; c < C; c++) {
    ri[c] = Sleef_finz_expd1_u10purecfma(ri[c] - mx);
    sum = sum + ri[c];
  }
  p->loss[i] = (mx + Sleef_finz_logd1_u10purecfma(sum)) - sy;
  for (int c = 0; c < C; c++) ri[c] = ri[c] / sum - (c == p->y[i] ? 1.0 : 0.0);
}

static void lr_grad_task(void *ctx, size_t blk, int thread) {
  (void)thread;
  const lr_problem *p = ctx;
  const size_t d = p->d, j0 = blk * LR_BLOCK, j1 = j0 + LR_BLOCK < d ? j0 + LR_BLOCK : d;
  const double inv_n = 1.0 / (double)p->n;
  for (int c = 0; c < p->C; c++) {
    double *g = p->grad + (size_t)c * d;
    for (size_t j = j0; j < j1; j++) g[j] = 0;
  }
  for (size_t i = 0; i < p->n; i++) {
    const double *zi = p->z + i * d;
    for (int c = 0; c < p->C; c++) {
      const double rc = p->r[i * (size_t)p->C + c];
      double *g = p->grad + (size_t)c * d;
      for (size_t j = j0; j < j1; j++) g[j] = g[j] + rc * zi[j];
    }
  }
  for (int c = 0; c < p->C; c++) {
    double *g = p->grad + (size_t)c * d;
    const double *w = p->theta + (size_t)c * d;
    for (size_t j = j0; j < j1; j++) g[j] = g[j] * inv_n + p->lambda * w[j];
  }
}

/* f(theta), and its gradient into grad */
static wsk_status lr_eval(lr_problem *p, const double *theta, double *grad, double *f) {
  p->theta = theta;
  p->grad = grad;
  WSK_TRY(wsk_parallel_for(p->n, lr_rows_task, p));
  WSK_TRY(wsk_parallel_for((p->d + LR_BLOCK - 1) / LR_BLOCK, lr_grad_task, p));
  const size_t C = (size_t)p->C, nw = C * p->d;
  double loss = 0;
  for (size_t i = 0; i < p->n; i++) loss = loss + p->loss[i];
  double *gb = grad + nw;
  for (size_t c = 0; c < C; c++) gb[c] = 0;
  for (size_t i = 0; i < p->n; i++)
    for (size_t c = 0; c < C; c++) gb[c] = gb[c] + p->r[i * C + c];
  for (size_t c = 0; c < C; c++) gb[c] = gb[c] / (double)p->n;
  *f = loss / (double)p->n + 0.5 * p->lambda * wsk_ddot(theta, theta, nw);
  return WSK_OK;
}

#define LBFGS_M 10
#define LBFGS_GTOL 1e-6
#define LBFGS_FTOL 1e-10

/* L-BFGS (Nocedal & Wright, Algorithm 7.4/7.5) from theta, in place:
 * two-loop recursion with H0 = (s^T y / y^T y) I (1/||g|| before the first
 * pair), backtracking line search from step 1 halving until the Armijo
 * condition f(x + a p) <= f + 1e-4 a g^T p holds (40 halvings at most);
 * pairs with s^T y <= 1e-12 y^T y are skipped. Stops when max |g| <= 1e-6,
 * when the loss drops by less than 1e-10 max(1, |f|), when the line search
 * fails, or after maxit iterations. */
static wsk_status lbfgs(lr_problem *p, double *theta, int maxit, int *iters) {
  const size_t D = (size_t)p->C * p->d + (size_t)p->C;
  wsk_status st = WSK_OK;
  double *g = dalloc(D, 1), *gn = dalloc(D, 1), *xn = dalloc(D, 1), *dir = dalloc(D, 1);
  double *S = dalloc(LBFGS_M, D), *Y = dalloc(LBFGS_M, D);
  double rho[LBFGS_M], al[LBFGS_M];
  int it = 0;
  if (!g || !gn || !xn || !dir || !S || !Y) {
    st = wsk__fail(WSK_ERR_NOMEM, "logistic probe: out of memory (%zu parameters)", D);
    goto done;
  }
  double f;
  if ((st = lr_eval(p, theta, g, &f)) != WSK_OK) goto done;
  int npairs = 0, newest = -1;
  for (; it < maxit; it++) {
    double gmax = 0;
    for (size_t k = 0; k < D; k++) gmax = fabs(g[k]) > gmax ? fabs(g[k]) : gmax;
    if (!(gmax > LBFGS_GTOL)) break;
    /* two-loop recursion: dir = -H g */
    for (size_t k = 0; k < D; k++) dir[k] = -g[k];
    for (int q = 0; q < npairs; q++) {
      const int j = (newest - q + LBFGS_M) % LBFGS_M;
      al[j] = rho[j] * wsk_ddot(S + (size_t)j * D, dir, D);
      const double *yj = Y + (size_t)j * D;
      for (size_t k = 0; k < D; k++) dir[k] = dir[k] - al[j] * yj[k];
    }
    double gamma;
    if (npairs > 0) {
      const double *sn = S + (size_t)newest * D, *yn = Y + (size_t)newest * D;
      gamma = wsk_ddot(sn, yn, D) / wsk_ddot(yn, yn, D);
    } else {
      gamma = 1.0 / sqrt(wsk_ddot(g, g, D));
    }
    for (size_t k = 0; k < D; k++) dir[k] = dir[k] * gamma;
    for (int q = npairs - 1; q >= 0; q--) {
      const int j = (newest - q + LBFGS_M) % LBFGS_M;
      const double beta = rho[j] * wsk_ddot(Y + (size_t)j * D, dir, D);
      const double *sj = S + (size_t)j * D;
      for (size_t k = 0; k < D; k++) dir[k] = dir[k] + (al[j] - beta) * sj[k];
    }
    double gd = wsk_ddot(g, dir, D);
    if (!(gd < 0)) { /* not a descent direction: forget the curvature pairs */
      npairs = 0;
      const double sc = 1.0 / sqrt(wsk_ddot(g, g, D));
      for (size_t k = 0; k < D; k++) dir[k] = -g[k] * sc;
      gd = wsk_ddot(g, dir, D);
    }
    double step = 1.0, fn = f;
    int accepted = 0;
    for (int ls = 0; ls < 40; ls++) {
      for (size_t k = 0; k < D; k++) xn[k] = theta[k] + step * dir[k];
      if ((st = lr_eval(p, xn, gn, &fn)) != WSK_OK) goto done;
      if (fn <= f + 1e-4 * step * gd) {
        accepted = 1;
        break;
      }
      step = step * 0.5;
    }
    if (!accepted) break;
    /* the new pair s = xn - theta, y = gn - g */
    const int slot = (newest + 1) % LBFGS_M;
    double *s = S + (size_t)slot * D, *yv = Y + (size_t)slot * D;
    for (size_t k = 0; k < D; k++) {
      s[k] = xn[k] - theta[k];
      yv[k] = gn[k] - g[k];
    }
    const double sy = wsk_ddot(s, yv, D), yy = wsk_ddot(yv, yv, D);
    if (sy > 1e-12 * yy) {
      rho[slot] = 1.0 / sy;
      newest = slot;
      if (npairs < LBFGS_M) npairs++;
    }
    const double df = f - fn;
    memcpy(theta, xn, D * sizeof(double));
    memcpy(g, gn, D * sizeof(double));
    f = fn;
    if (df <= LBFGS_FTOL * (fabs(f) > 1 ? fabs(f) : 1)) {
      it++;
      break;
    }
  }
done:
  if (iters) *iters = it;
  free(g);
  free(gn);
  free(xn);
  free(dir);
  free(S);
  free(Y);
  return st;
}

static wsk_status lr_alloc(lr_problem *p, const double *z, size_t n, size_t d, const int *y, int C,
                           double lambda) {
  memset(p, 0, sizeof *p);
  p->z = z;
  p->n = n;
  p->d = d;
  p->y = y;
  p->C = C;
  p->lambda = lambda;
  p->r = dalloc(n, (size_t)C);
  p->loss = dalloc(n, 1);
  if (!p->r || !p->loss) {
    free(p->r);
    free(p->loss);
    return wsk__fail(WSK_ERR_NOMEM, "logistic probe: out of memory (%zu rows)", n);
  }
  return WSK_OK;
}

static void lr_release(lr_problem *p) {
  free(p->r);
  free(p->loss);
}

static wsk_status check_labels(const int *labels, size_t n, int ncls) {
  if (ncls < 1) return wsk__fail(WSK_ERR_SIZE, "logistic probe: %d classes", ncls);
  for (size_t i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= ncls)
      return wsk__fail(WSK_ERR_ARG, "logistic probe: label of row %zu is %d, not in [0, %d)", i,
                       labels[i], ncls);
  return WSK_OK;
}

/* class scores of standardized rows, argmax with the lowest class on ties;
 * with labels y (may be NULL) also the mean cross-entropy into *ce */
static void lr_predict_z(const double *theta, size_t d, int C, const double *z, size_t n, int *pred,
                         const int *y, double *ce) {
  const double *b = theta + (size_t)C * d;
  double loss = 0;
  for (size_t i = 0; i < n; i++) {
    int best = 0;
    double bs = -INFINITY, sy = 0;
    for (int c = 0; c < C; c++) {
      const double s = b[c] + wsk_ddot(z + i * d, theta + (size_t)c * d, d);
      if (s > bs || (c == 0)) {
        bs = s;
        best = c;
      }
      if (y && c == y[i]) sy = s;
    }
    pred[i] = best;
    if (y) {
      double sum = 0;
      for (int c = 0; c < C; c++) {
        const double s = b[c] + wsk_ddot(z + i * d, theta + (size_t)c * d, d);
        sum = sum + Sleef_finz_expd1_u10purecfma(s - bs);
      }
      loss = loss + ((bs + Sleef_finz_logd1_u10purecfma(sum)) - sy);
    }
  }
  if (ce) *ce = n ? loss / (double)n : NAN;
}

void wsk_logistic_free(wsk_logistic *m) {
  if (!m) return;
  wsk_standardizer_free(&m->std);
  free(m->w);
  free(m->b);
  memset(m, 0, sizeof *m);
}

wsk_status wsk_logistic_fit(const double *x, size_t n, size_t d, const int *labels, int ncls,
                            double lambda, const wsk_logistic *warm, wsk_logistic *out) {
  if (!x || !labels || !out) return wsk__fail(WSK_ERR_NULL, "wsk_logistic_fit: NULL argument");
  memset(out, 0, sizeof *out);
  if (n == 0 || d == 0 || ncls < 2)
    return wsk__fail(WSK_ERR_SIZE,
                     "wsk_logistic_fit: %zu rows, %zu features, %d classes (need "
                     "at least 1, 1 and 2)",
                     n, d, ncls);
  if (!(lambda >= 0) || isinf(lambda))
    return wsk__fail(WSK_ERR_ARG, "wsk_logistic_fit: lambda %g must be finite and >= 0", lambda);
  if (warm && (warm->d != d || warm->ncls != ncls || !warm->w || !warm->b))
    return wsk__fail(WSK_ERR_ARG,
                     "wsk_logistic_fit: the warm start has %zu features and %d "
                     "classes, not %zu and %d",
                     warm->d, warm->ncls, d, ncls);
  WSK_TRY(check_labels(labels, n, ncls));
  for (size_t i = 0; i < n * d; i++)
    if (!isfinite(x[i]))
      return wsk__fail(WSK_ERR_ARG, "wsk_logistic_fit: feature %zu of row %zu is not finite (%g)",
                       i % d, i / d, x[i]);
  const size_t C = (size_t)ncls, D = C * d + C;
  double *z = dalloc(n, d), *theta = dalloc(D, 1);
  wsk_status st = WSK_OK;
  lr_problem p = {0};
  if (!z || !theta) {
    st = wsk__fail(WSK_ERR_NOMEM, "wsk_logistic_fit: out of memory (%zu x %zu)", n, d);
    goto done;
  }
  if ((st = wsk_standardize_fit(x, n, d, &out->std)) != WSK_OK) goto done;
  wsk_standardize_apply(&out->std, x, n, z);
  if (warm) {
    memcpy(theta, warm->w, C * d * sizeof(double));
    memcpy(theta + C * d, warm->b, C * sizeof(double));
  } else {
    for (size_t k = 0; k < D; k++) theta[k] = 0;
  }
  if ((st = lr_alloc(&p, z, n, d, labels, ncls, lambda)) != WSK_OK) goto done;
  st = lbfgs(&p, theta, WSK_PROBE_LOGISTIC_MAXIT, &out->iterations);
  lr_release(&p);
  if (st != WSK_OK) goto done;
  out->d = d;
  out->ncls = ncls;
  out->lambda = lambda;
  out->w = dalloc(C, d);
  out->b = dalloc(C, 1);
  if (!out->w || !out->b) {
    st = wsk__fail(WSK_ERR_NOMEM, "wsk_logistic_fit: out of memory");
    goto done;
  }
  memcpy(out->w, theta, C * d * sizeof(double));
  memcpy(out->b, theta + C * d, C * sizeof(double));
done:
  if (st != WSK_OK) wsk_logistic_free(out);
  free(z);
  free(theta);
  return st;
}

wsk_status wsk_logistic_predict(const wsk_logistic *m, const double *x, size_t n, int *pred) {
  if (!m || !m->w || !x || !pred) return wsk__fail(WSK_ERR_NULL, "wsk_logistic_predict: NULL");
  const size_t d = m->d, C = (size_t)m->ncls;
  double *z = dalloc(d, 1), *theta = dalloc(C * d + C, 1);
  if (!z || !theta) {
    free(z);
    free(theta);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_logistic_predict: out of memory");
  }
  memcpy(theta, m->w, C * d * sizeof(double));
  memcpy(theta + C * d, m->b, C * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    wsk_standardize_apply(&m->std, x + i * d, 1, z);
    lr_predict_z(theta, d, m->ncls, z, 1, pred + i, NULL, NULL);
  }
  free(z);
  free(theta);
  return WSK_OK;
}

static double accuracy(const int *pred, const int *y, size_t n) {
  size_t ok = 0;
  for (size_t i = 0; i < n; i++) ok += pred[i] == y[i];
  return n ? (double)ok / (double)n : NAN;
}

wsk_status wsk_probe_logistic(const double *x, size_t n, size_t d, const uint8_t *split,
                              const int *labels, int ncls, const double *grid, size_t ngrid,
                              double *lambda, double *val_acc, double *test_acc) {
  if (!x || !split || !labels || !lambda || !val_acc || !test_acc)
    return wsk__fail(WSK_ERR_NULL, "wsk_probe_logistic: NULL argument");
  if (!grid) {
    grid = wsk_probe_logistic_grid;
    ngrid = WSK_PROBE_LOGISTIC_GRID_N;
  }
  if (d == 0 || ngrid == 0)
    return wsk__fail(WSK_ERR_SIZE, "wsk_probe_logistic: %zu features, %zu lambdas", d, ngrid);
  for (size_t l = 0; l < ngrid; l++)
    if (!(grid[l] >= 0) || isinf(grid[l]))
      return wsk__fail(WSK_ERR_ARG, "wsk_probe_logistic: lambda %g must be finite and >= 0",
                       grid[l]);
  size_t counts[3];
  WSK_TRY(check_split_rows(split, n, counts));
  WSK_TRY(check_labels(labels, n, ncls));
  if (ncls == 1) {
    *lambda = NAN;
    *val_acc = 1.0;
    *test_acc = 1.0;
    return WSK_OK;
  }
  for (size_t i = 0; i < n * d; i++)
    if (!isfinite(x[i]))
      return wsk__fail(WSK_ERR_ARG, "logistic probe: feature %zu of row %zu is not finite (%g)",
                       i % d, i / d, x[i]);
  wsk_status st = WSK_OK;
  const size_t C = (size_t)ncls, D = C * d + C;
  size_t ntr, nva, nte;
  wsk_standardizer std = {0};
  lr_problem p = {0};
  double *ztr = gather(x, n, d, split, WSK_SPLIT_TRAIN, &ntr);
  double *zva = gather(x, n, d, split, WSK_SPLIT_VAL, &nva);
  double *zte = gather(x, n, d, split, WSK_SPLIT_TEST, &nte);
  int *ytr = gather_int(labels, n, split, WSK_SPLIT_TRAIN);
  int *yva = gather_int(labels, n, split, WSK_SPLIT_VAL);
  int *yte = gather_int(labels, n, split, WSK_SPLIT_TEST);
  int *pred = malloc((nva > nte ? nva : nte) * sizeof *pred + 1);
  double *theta = dalloc(D, 1), *best = dalloc(D, 1);
  if (!ztr || !zva || !zte || !ytr || !yva || !yte || !pred || !theta || !best) {
    st = wsk__fail(WSK_ERR_NOMEM, "logistic probe: out of memory (%zu rows x %zu features)", n, d);
    goto done;
  }
  if ((st = wsk_standardize_fit(ztr, ntr, d, &std)) != WSK_OK) goto done;
  wsk_standardize_apply(&std, ztr, ntr, ztr);
  wsk_standardize_apply(&std, zva, nva, zva);
  wsk_standardize_apply(&std, zte, nte, zte);
  if ((st = lr_alloc(&p, ztr, ntr, d, ytr, ncls, 0)) != WSK_OK) goto done;
  for (size_t k = 0; k < D; k++) theta[k] = 0;
  /* lambda: the best validation accuracy; ties go to the lower validation
   * cross-entropy (accuracy is coarse on a few models), then to the larger
   * lambda */
  double best_acc = -1, best_ce = INFINITY, best_lambda = NAN;
  for (size_t l = 0; l < ngrid; l++) { /* each fit starts from the previous solution */
    p.lambda = grid[l];
    if ((st = lbfgs(&p, theta, WSK_PROBE_LOGISTIC_MAXIT, NULL)) != WSK_OK) goto done;
    double ce;
    lr_predict_z(theta, d, ncls, zva, nva, pred, yva, &ce);
    const double acc = accuracy(pred, yva, nva);
    if (!(ce == ce)) ce = INFINITY; /* NaN */
    if (acc > best_acc || (acc == best_acc && ce < best_ce) ||
        (acc == best_acc && ce == best_ce && grid[l] > best_lambda)) {
      best_acc = acc;
      best_ce = ce;
      best_lambda = grid[l];
      memcpy(best, theta, D * sizeof(double));
    }
  }
  lr_predict_z(best, d, ncls, zte, nte, pred, NULL, NULL);
  *lambda = best_lambda;
  *val_acc = best_acc;
  *test_acc = accuracy(pred, yte, nte);
done:
  lr_release(&p);
  wsk_standardizer_free(&std);
  free(ztr);
  free(zva);
  free(zte);
  free(ytr);
  free(yva);
  free(yte);
  free(pred);
  free(theta);
  free(best);
  return st;
}

/* ---- the probe table of a zoo ---------------------------------------------------------- */

/* the zoo.csv columns the probes read */
enum { COL_MODEL, COL_FILE, COL_PROP0, NCOLS = COL_PROP0 + WSK_PROBE_NPROP };

typedef struct zoo_data {
  wsk_csv csv;
  long col[NCOLS];
  size_t n;                   /* rows */
  uint8_t *split;             /* n */
  int *usable;                /* n: 0 when a value is not finite */
  double *x[WSK_PROBE_NFEAT]; /* n x dim */
  size_t dim[WSK_PROBE_NFEAT];
  double *ycont;                /* n x NCONT */
  int *labels[WSK_PROBE_NPROP]; /* n, categorical properties */
} zoo_data;

static void zoo_free(zoo_data *z) {
  wsk_csv_free(&z->csv);
  free(z->split);
  free(z->usable);
  for (int f = 0; f < WSK_PROBE_NFEAT; f++) free(z->x[f]);
  free(z->ycont);
  for (int k = 0; k < WSK_PROBE_NPROP; k++) free(z->labels[k]);
}

/* a finite or non-finite number filling the whole field ("nan" and "inf" are
 * numbers; the row is then left out) */
static int parse_number(const char *s, double *v) {
  char *end;
  if (!*s) return 0;
  *v = strtod(s, &end);
  while (*end == ' ' || *end == '\t') end++;
  return *end == '\0';
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* labels of a categorical column: classes = the distinct values of the
 * usable rows, sorted (strcmp); *ncls their number */
static wsk_status encode_classes(zoo_data *z, long col, int *labels, int *ncls) {
  const char **vals = malloc((z->n ? z->n : 1) * sizeof *vals);
  if (!vals) return wsk__fail(WSK_ERR_NOMEM, "out of memory");
  size_t m = 0;
  for (size_t i = 0; i < z->n; i++)
    if (z->usable[i]) vals[m++] = z->csv.rows[i][col];
  qsort(vals, m, sizeof *vals, cmp_str);
  size_t k = 0;
  for (size_t i = 0; i < m; i++)
    if (k == 0 || strcmp(vals[i], vals[k - 1]) != 0) vals[k++] = vals[i];
  for (size_t i = 0; i < z->n; i++) {
    labels[i] = 0;
    if (!z->usable[i]) continue;
    size_t lo = 0, hi = k; /* binary search among the k sorted classes */
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      if (strcmp(z->csv.rows[i][col], vals[mid]) < 0)
        hi = mid;
      else
        lo = mid;
    }
    labels[i] = (int)lo;
  }
  free(vals);
  *ncls = (int)k;
  return WSK_OK;
}

/* The hyper-representation embeddings of the options into z->x[HYPER]. */
static wsk_status load_embeddings(const wsk_probe_options *opt, zoo_data *z) {
  const float *e = opt->emb;
  size_t rows = opt->emb_rows, dim = opt->emb_dim;
  wsk_safetensors st = {0};
  const char *what = "the embeddings given";
  if (!e) {
    what = opt->embeddings;
    WSK_TRY(wsk_safetensors_read(opt->embeddings, &st));
    const long k = wsk_safetensors_find(&st, "embeddings");
    if (k < 0) {
      wsk_safetensors_free(&st);
      return wsk__fail(WSK_ERR_FORMAT,
                       "%s has no tensor named 'embeddings' (it should hold one tensor "
                       "'embeddings' of shape [rows of zoo.csv][d], as `wsk ssl` writes)",
                       opt->embeddings);
    }
    if (st.ranks[k] != 2 || st.shapes[k][1] < 1) {
      const int rank = st.ranks[k];
      wsk_safetensors_free(&st);
      return wsk__fail(WSK_ERR_FORMAT,
                       "%s: tensor 'embeddings' must have shape [rows][d] with d >= 1 (rank %d)",
                       opt->embeddings, rank);
    }
    e = st.data[k];
    rows = (size_t)st.shapes[k][0];
    dim = (size_t)st.shapes[k][1];
  }
  wsk_status s = WSK_OK;
  if (rows != z->n || dim == 0) {
    s = wsk__fail(WSK_ERR_FORMAT,
                  "%s: %zu embedding rows of dimension %zu, but zoo.csv has %zu rows (one "
                  "embedding per row of zoo.csv, in its order, is needed)",
                  what, rows, dim, z->n);
  } else if (!(z->x[WSK_PROBE_HYPER] = dalloc(rows, dim))) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory for %zu x %zu embeddings", rows, dim);
  } else {
    z->dim[WSK_PROBE_HYPER] = dim;
    for (size_t i = 0; i < rows * dim; i++) {
      z->x[WSK_PROBE_HYPER][i] = e[i];
      if (!isfinite(e[i])) z->usable[i / dim] = 0;
    }
  }
  wsk_safetensors_free(&st);
  return s;
}

/* Reads the checkpoints named by zoo.csv: W and s(W) of every row. */
static wsk_status load_checkpoints(const wsk_probe_options *opt, zoo_data *z) {
  wsk_status s = WSK_OK;
  wsk_safetensors first = {0};
  char *first_path = NULL;
  wsk_progress *pr = opt->quiet ? NULL : wsk_progress_begin("probe: reading checkpoints", z->n);
  for (size_t i = 0; i < z->n && s == WSK_OK; i++) {
    char *path = wsk_path_join(opt->zoo_dir, z->csv.rows[i][z->col[COL_FILE]]);
    wsk_safetensors st = {0};
    if (!path) {
      s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
      break;
    }
    if ((s = wsk_safetensors_read(path, &st)) != WSK_OK) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", wsk_last_error());
      s = wsk__fail(s, "zoo.csv line %zu (model_id %s): %s", i + 2,
                    z->csv.rows[i][z->col[COL_MODEL]], msg);
      free(path);
      break;
    }
    if (i == 0) {
      z->dim[WSK_PROBE_W] = wsk_features_w_dim(&st);
      z->dim[WSK_PROBE_STATS] = wsk_features_stats_dim(&st);
      if (z->dim[WSK_PROBE_W] == 0) {
        s = wsk__fail(WSK_ERR_FORMAT, "checkpoint %s holds no weights", path);
      } else if (!(z->x[WSK_PROBE_W] = dalloc(z->n, z->dim[WSK_PROBE_W])) ||
                 !(z->x[WSK_PROBE_STATS] = dalloc(z->n, z->dim[WSK_PROBE_STATS]))) {
        s = wsk__fail(WSK_ERR_NOMEM, "out of memory for %zu rows x %zu weights", z->n,
                      z->dim[WSK_PROBE_W]);
      }
    } else if (!wsk_features_same_layout(&first, &st)) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "checkpoint %s (zoo.csv line %zu) does not have the tensors (names, shapes, "
                    "order) of %s: the probes need one architecture per zoo",
                    path, i + 2, first_path);
    }
    if (s == WSK_OK) {
      double *w = z->x[WSK_PROBE_W] + i * z->dim[WSK_PROBE_W];
      double *sw = z->x[WSK_PROBE_STATS] + i * z->dim[WSK_PROBE_STATS];
      wsk_features_w(&st, w);
      int finite = 1;
      for (size_t j = 0; j < z->dim[WSK_PROBE_W]; j++) finite &= isfinite(w[j]) != 0;
      if (finite) {
        s = wsk_features_stats(&st, sw);
      } else {
        z->usable[i] = 0;
        for (size_t j = 0; j < z->dim[WSK_PROBE_STATS]; j++) sw[j] = 0;
      }
    }
    if (i == 0 && s == WSK_OK) {
      first = st;
      first_path = path;
    } else {
      wsk_safetensors_free(&st);
      free(path);
    }
    wsk_progress_advance(pr, 1, NULL);
  }
  wsk_progress_end(pr);
  wsk_safetensors_free(&first);
  free(first_path);
  return s;
}

static wsk_status load_zoo(const wsk_probe_options *opt, zoo_data *z, wsk_probe_results *out) {
  char *csv_path = wsk_path_join(opt->zoo_dir, "zoo.csv");
  if (!csv_path) return wsk__fail(WSK_ERR_NOMEM, "out of memory");
  wsk_status s = wsk_csv_read(csv_path, &z->csv);
  if (s != WSK_OK) {
    free(csv_path);
    return s;
  }
  static const char *const base_cols[COL_PROP0] = {"model_id", "file"};
  for (int c = 0; c < NCOLS; c++) {
    const char *name = c < COL_PROP0 ? base_cols[c] : wsk_probe_prop_columns[c - COL_PROP0];
    z->col[c] = wsk_csv_col(&z->csv, name);
    if (z->col[c] < 0) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s has no column '%s' (the probes need model_id, file, test_acc, gap, "
                    "epoch, activation, init and optimizer; see `wsk zoo`)",
                    csv_path, name);
      free(csv_path);
      return s;
    }
  }
  z->n = z->csv.nrows;
  out->rows = z->n;
  if (z->n == 0) {
    s = wsk__fail(WSK_ERR_FORMAT, "%s has no rows", csv_path);
    free(csv_path);
    return s;
  }
  z->split = malloc(z->n);
  z->usable = malloc(z->n * sizeof *z->usable);
  z->ycont = dalloc(z->n, NCONT);
  const char **ids = malloc(z->n * sizeof *ids);
  if (!z->split || !z->usable || !z->ycont || !ids) {
    free(ids);
    free(csv_path);
    return wsk__fail(WSK_ERR_NOMEM, "out of memory (%zu rows)", z->n);
  }
  for (size_t i = 0; i < z->n; i++) {
    ids[i] = z->csv.rows[i][z->col[COL_MODEL]];
    z->usable[i] = 1;
  }
  s = wsk_probe_split(ids, z->n, opt->seed, z->split, out->split_models);
  free(ids);
  /* the continuous properties */
  for (size_t i = 0; i < z->n && s == WSK_OK; i++)
    for (int k = 0; k < NCONT; k++) {
      const char *v = z->csv.rows[i][z->col[COL_PROP0 + k]];
      double *y = &z->ycont[i * NCONT + k];
      if (!parse_number(v, y)) {
        s = wsk__fail(WSK_ERR_FORMAT, "%s line %zu, column %s: '%s' is not a number", csv_path,
                      i + 2, wsk_probe_prop_columns[k], v);
        break;
      }
      if (!isfinite(*y)) z->usable[i] = 0;
    }
  free(csv_path);
  return s;
}

wsk_status wsk_probe_run(const wsk_probe_options *opt, wsk_probe_results *out) {
  if (!opt || !out) return wsk__fail(WSK_ERR_NULL, "wsk_probe_run: NULL argument");
  memset(out, 0, sizeof *out);
  if (!opt->zoo_dir || !*opt->zoo_dir)
    return wsk__fail(WSK_ERR_ARG, "wsk_probe_run: no zoo directory given");
  if (strlen(opt->zoo_dir) >= sizeof out->zoo_dir)
    return wsk__fail(WSK_ERR_ARG, "wsk_probe_run: zoo directory path too long");
  strcpy(out->zoo_dir, opt->zoo_dir);
  out->seed = opt->seed;
  for (int k = 0; k < WSK_PROBE_NPROP; k++)
    for (int f = 0; f < WSK_PROBE_NFEAT; f++) {
      out->cell[k][f].value = out->cell[k][f].val_value = out->cell[k][f].lambda = NAN;
    }

  zoo_data z;
  memset(&z, 0, sizeof z);
  wsk_status s = load_zoo(opt, &z, out);
  if (s == WSK_OK && (opt->emb || opt->embeddings)) s = load_embeddings(opt, &z);
  if (s == WSK_OK) s = load_checkpoints(opt, &z);
  if (s != WSK_OK) goto done;

  /* keep the usable rows (in order): compact every matrix in place */
  size_t u = 0;
  for (size_t i = 0; i < z.n; i++) {
    if (!z.usable[i]) continue;
    for (int f = 0; f < WSK_PROBE_NFEAT; f++)
      if (z.x[f]) memmove(z.x[f] + u * z.dim[f], z.x[f] + i * z.dim[f], z.dim[f] * sizeof(double));
    memmove(z.ycont + u * NCONT, z.ycont + i * NCONT, NCONT * sizeof(double));
    z.split[u] = z.split[i];
    u++;
  }
  out->rows_used = u;
  out->models = out->split_models[0] + out->split_models[1] + out->split_models[2];
  for (size_t i = 0; i < u; i++) out->split_rows[z.split[i]]++;
  if (out->split_rows[WSK_SPLIT_TRAIN] < 2 || out->split_rows[WSK_SPLIT_VAL] < 1 ||
      out->split_rows[WSK_SPLIT_TEST] < 1) {
    s = wsk__fail(WSK_ERR_SIZE,
                  "too few usable rows per split in %s: %zu train, %zu validation, %zu test "
                  "(need at least 2, 1 and 1; %zu of %zu rows were left out for non-finite "
                  "weights, embeddings or properties)",
                  opt->zoo_dir, out->split_rows[0], out->split_rows[1], out->split_rows[2], z.n - u,
                  z.n);
    goto done;
  }
  /* the categorical properties: classes among the usable rows */
  for (int k = NCONT; k < WSK_PROBE_NPROP; k++) {
    int *lab = malloc(z.n * sizeof *lab);
    z.labels[k] = lab;
    if (!lab) {
      s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
      goto done;
    }
    if ((s = encode_classes(&z, z.col[COL_PROP0 + k], lab, &out->ncls[k])) != WSK_OK) goto done;
    size_t q = 0;
    for (size_t i = 0; i < z.n; i++)
      if (z.usable[i]) lab[q++] = lab[i];
  }

  size_t nfits = 0;
  for (int f = 0; f < WSK_PROBE_NFEAT; f++) nfits += z.x[f] ? 1 + (WSK_PROBE_NPROP - NCONT) : 0;
  wsk_progress *pr = opt->quiet ? NULL : wsk_progress_begin("probe: fitting", nfits);
  for (int f = 0; f < WSK_PROBE_NFEAT && s == WSK_OK; f++) {
    if (!z.x[f]) continue;
    out->dim[f] = z.dim[f];
    double lam[NCONT], vr2[NCONT], tr2[NCONT];
    double *tp = NULL;
    if (opt->predictions &&
        !(tp = malloc((out->split_rows[2] ? out->split_rows[2] : 1) * NCONT * sizeof *tp))) {
      s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
      break;
    }
    s = ridge(z.x[f], u, z.dim[f], z.split, z.ycont, NCONT, NULL, 0, lam, vr2, tr2, tp);
    if (tp && s == WSK_OK && !out->pred_true) {
      /* the true values of the test rows, in order (test accuracy is target 0) */
      out->pred_true = malloc((out->split_rows[2] ? out->split_rows[2] : 1) * sizeof(double));
      if (out->pred_true)
        for (size_t i = 0, q = 0; i < u; i++)
          if (z.split[i] == WSK_SPLIT_TEST) out->pred_true[q++] = z.ycont[i * NCONT];
    }
    if (tp && s == WSK_OK && out->pred_true) {
      out->pred[f] = malloc((out->split_rows[2] ? out->split_rows[2] : 1) * sizeof(double));
      if (out->pred[f])
        for (size_t i = 0; i < out->split_rows[2]; i++) out->pred[f][i] = tp[i * NCONT];
      out->pred_count = out->split_rows[2];
    }
    free(tp);
    for (int k = 0; k < NCONT && s == WSK_OK; k++) {
      wsk_probe_cell *c = &out->cell[k][f];
      c->present = 1;
      c->lambda = lam[k];
      c->val_value = vr2[k];
      c->value = tr2[k];
    }
    wsk_progress_advance(pr, 1, wsk_probe_feat_titles[f]);
    for (int k = NCONT; k < WSK_PROBE_NPROP && s == WSK_OK; k++) {
      wsk_probe_cell *c = &out->cell[k][f];
      s = wsk_probe_logistic(z.x[f], u, z.dim[f], z.split, z.labels[k], out->ncls[k], NULL, 0,
                             &c->lambda, &c->val_value, &c->value);
      c->present = s == WSK_OK;
      wsk_progress_advance(pr, 1, wsk_probe_feat_titles[f]);
    }
    if (s != WSK_OK) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", wsk_last_error());
      s = wsk__fail(s, "probes on %s: %s", wsk_probe_feat_titles[f], msg);
    }
  }
  wsk_progress_end(pr);
done:
  zoo_free(&z);
  return s;
}

void wsk_probe_results_free(wsk_probe_results *r) {
  if (!r) return;
  free(r->pred_true);
  r->pred_true = NULL;
  for (int f = 0; f < WSK_PROBE_NFEAT; f++) {
    free(r->pred[f]);
    r->pred[f] = NULL;
  }
  r->pred_count = 0;
}

/* ---- reports ------------------------------------------------------------------------ */

/* display width of UTF-8 text: code points (all of ours are one column) */
static size_t width(const char *s) {
  size_t w = 0;
  for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
  return w;
}

static wsk_status pad(wsk_strbuf *b, const char *s, size_t w, int right) {
  const size_t n = width(s);
  if (right)
    for (size_t i = n; i < w; i++) WSK_TRY(wsk_strbuf_append(b, " "));
  WSK_TRY(wsk_strbuf_append(b, s));
  if (!right)
    for (size_t i = n; i < w; i++) WSK_TRY(wsk_strbuf_append(b, " "));
  return WSK_OK;
}

static void cell_text(const wsk_probe_cell *c, char *buf, size_t n) {
  if (!c->present)
    snprintf(buf, n, "—");
  else if (isnan(c->value))
    snprintf(buf, n, "n/a");
  else
    snprintf(buf, n, "%.3f", c->value);
}

static void metric_text(const wsk_probe_results *r, int k, char *buf, size_t n) {
  if (wsk_probe_prop_categorical[k])
    snprintf(buf, n, "accuracy (%d classes)", r->ncls[k]);
  else
    snprintf(buf, n, "R²");
}

enum { TCOLS = 2 + WSK_PROBE_NFEAT };

/* A Markdown table, padded: head[TCOLS], body[nrows][TCOLS], right-aligned
 * from column `rfrom` on. */
static wsk_status md_table(wsk_strbuf *b, const char *const *head, char (*body)[TCOLS][64],
                           int nrows, int ncols, int rfrom) {
  size_t w[TCOLS];
  for (int c = 0; c < ncols; c++) {
    w[c] = width(head[c]) > 3 ? width(head[c]) : 3;
    for (int r = 0; r < nrows; r++) w[c] = width(body[r][c]) > w[c] ? width(body[r][c]) : w[c];
  }
  for (int c = 0; c < ncols; c++) {
    WSK_TRY(wsk_strbuf_append(b, "| "));
    WSK_TRY(pad(b, head[c], w[c], c >= rfrom));
    WSK_TRY(wsk_strbuf_append(b, " "));
  }
  WSK_TRY(wsk_strbuf_append(b, "|\n"));
  for (int c = 0; c < ncols; c++) {
    WSK_TRY(wsk_strbuf_append(b, "|"));
    for (size_t i = 0; i < w[c] + 1; i++) WSK_TRY(wsk_strbuf_append(b, "-"));
    WSK_TRY(wsk_strbuf_append(b, c >= rfrom ? ":" : "-"));
  }
  WSK_TRY(wsk_strbuf_append(b, "|\n"));
  for (int r = 0; r < nrows; r++) {
    for (int c = 0; c < ncols; c++) {
      WSK_TRY(wsk_strbuf_append(b, "| "));
      WSK_TRY(pad(b, body[r][c], w[c], c >= rfrom));
      WSK_TRY(wsk_strbuf_append(b, " "));
    }
    WSK_TRY(wsk_strbuf_append(b, "|\n"));
  }
  return WSK_OK;
}

wsk_status wsk_probe_table_markdown(const wsk_probe_results *r, wsk_strbuf *out) {
  if (!r || !out) return wsk__fail(WSK_ERR_NULL, "wsk_probe_table_markdown: NULL argument");
  const char *head[TCOLS] = {"property", "metric", wsk_probe_feat_titles[0],
                             wsk_probe_feat_titles[1], wsk_probe_feat_titles[2]};
  char body[WSK_PROBE_NPROP][TCOLS][64];
  for (int k = 0; k < WSK_PROBE_NPROP; k++) {
    snprintf(body[k][0], 64, "%s", wsk_probe_prop_titles[k]);
    metric_text(r, k, body[k][1], 64);
    for (int f = 0; f < WSK_PROBE_NFEAT; f++) cell_text(&r->cell[k][f], body[k][2 + f], 64);
  }
  return md_table(out, head, body, WSK_PROBE_NPROP, TCOLS, 2);
}

wsk_status wsk_probe_report_markdown(const wsk_probe_results *r, wsk_strbuf *out) {
  if (!r || !out) return wsk__fail(WSK_ERR_NULL, "wsk_probe_report_markdown: NULL argument");
  WSK_TRY(wsk_strbuf_printf(out, "# Linear probes of the zoo %s\n\n", r->zoo_dir));
  WSK_TRY(wsk_probe_table_markdown(r, out));
  WSK_TRY(wsk_strbuf_printf(
      out,
      "\nRows: properties of each checkpoint; columns: the features a linear probe reads "
      "(Schürholt et al. 2021). Continuous properties: ridge regression, R² on the test split. "
      "Categorical properties: linear softmax classifier, accuracy on the test split. "
      "— : feature set not given; n/a: undefined (the property is constant on the test "
      "split).\n\n"));
  WSK_TRY(wsk_strbuf_printf(out,
                            "- zoo: %zu checkpoints of %zu models; %zu used, %zu left out for "
                            "non-finite weights, embeddings or properties\n",
                            r->rows, r->models, r->rows_used, r->rows - r->rows_used));
  WSK_TRY(wsk_strbuf_printf(out,
                            "- split by model (seed %llu): train %zu models / %zu checkpoints, "
                            "validation %zu / %zu, test %zu / %zu\n",
                            (unsigned long long)r->seed, r->split_models[0], r->split_rows[0],
                            r->split_models[1], r->split_rows[1], r->split_models[2],
                            r->split_rows[2]));
  WSK_TRY(wsk_strbuf_append(out, "- features:"));
  static const char *const feat_note[WSK_PROBE_NFEAT] = {
      "the SSL encoder's embedding", "mean, variance, 1/25/50/75/99% quantiles per tensor",
      "all weights and biases"};
  for (int f = 0; f < WSK_PROBE_NFEAT; f++) {
    if (r->dim[f])
      WSK_TRY(wsk_strbuf_printf(out, "%s %s (%zu, %s)", f ? ";" : "", wsk_probe_feat_titles[f],
                                r->dim[f], feat_note[f]));
    else
      WSK_TRY(wsk_strbuf_printf(out, "%s %s not given", f ? ";" : "", wsk_probe_feat_titles[f]));
  }
  WSK_TRY(wsk_strbuf_printf(out,
                            "\n- ridge: min ||Zw + b - y||² + λ||w||² on standardized features, "
                            "λ in {1e-4, 1e-3, …, 1e6} chosen on validation; classifier: mean "
                            "cross-entropy + (λ/2)||W||², L-BFGS, λ in {10, 1, …, 1e-4} chosen "
                            "on validation; both fitted on the train split only\n\n"));
  WSK_TRY(wsk_strbuf_append(out,
                            "Regularization λ chosen on the validation split "
                            "(validation score in parentheses):\n\n"));
  const char *head[TCOLS] = {"property", wsk_probe_feat_titles[0], wsk_probe_feat_titles[1],
                             wsk_probe_feat_titles[2], ""};
  char body[WSK_PROBE_NPROP][TCOLS][64];
  for (int k = 0; k < WSK_PROBE_NPROP; k++) {
    snprintf(body[k][0], 64, "%s", wsk_probe_prop_titles[k]);
    for (int f = 0; f < WSK_PROBE_NFEAT; f++) {
      const wsk_probe_cell *c = &r->cell[k][f];
      if (!c->present)
        snprintf(body[k][1 + f], 64, "—");
      else if (isnan(c->lambda))
        snprintf(body[k][1 + f], 64, "one class");
      else if (isnan(c->val_value))
        snprintf(body[k][1 + f], 64, "%g (n/a)", c->lambda);
      else
        snprintf(body[k][1 + f], 64, "%g (%.3f)", c->lambda, c->val_value);
    }
  }
  return md_table(out, head, body, WSK_PROBE_NPROP, 1 + WSK_PROBE_NFEAT, 1);
}

static wsk_status csv_num(wsk_strbuf *b, const wsk_probe_cell *c, double v, const char *fmt) {
  if (!c->present) return WSK_OK;
  if (isnan(v)) return wsk_strbuf_append(b, "nan");
  return wsk_strbuf_printf(b, fmt, v);
}

wsk_status wsk_probe_csv(const wsk_probe_results *r, wsk_strbuf *out) {
  if (!r || !out) return wsk__fail(WSK_ERR_NULL, "wsk_probe_csv: NULL argument");
  WSK_TRY(wsk_strbuf_append(out,
                            "property,metric,hyper_representation,s_w,w,"
                            "lambda_hyper_representation,lambda_s_w,lambda_w\n"));
  for (int k = 0; k < WSK_PROBE_NPROP; k++) {
    WSK_TRY(wsk_strbuf_printf(out, "%s,%s", wsk_probe_prop_columns[k],
                              wsk_probe_prop_categorical[k] ? "accuracy" : "r2"));
    for (int f = 0; f < WSK_PROBE_NFEAT; f++) {
      WSK_TRY(wsk_strbuf_append(out, ","));
      WSK_TRY(csv_num(out, &r->cell[k][f], r->cell[k][f].value, "%.6f"));
    }
    for (int f = 0; f < WSK_PROBE_NFEAT; f++) {
      WSK_TRY(wsk_strbuf_append(out, ","));
      WSK_TRY(csv_num(out, &r->cell[k][f], r->cell[k][f].lambda, "%g"));
    }
    WSK_TRY(wsk_strbuf_append(out, "\n"));
  }
  return WSK_OK;
}

wsk_status wsk_probe_write(const wsk_probe_results *r, const char *md_path, char **csv_path) {
  if (!r || !md_path) return wsk__fail(WSK_ERR_NULL, "wsk_probe_write: NULL argument");
  if (csv_path) *csv_path = NULL;
  const size_t n = strlen(md_path);
  char *cp = malloc(n + 5);
  if (!cp) return wsk__fail(WSK_ERR_NOMEM, "out of memory");
  memcpy(cp, md_path, n + 1);
  if (n > 3 && strcmp(md_path + n - 3, ".md") == 0)
    strcpy(cp + n - 3, ".csv");
  else
    strcpy(cp + n, ".csv");
  wsk_strbuf md = WSK_STRBUF_INIT, csv = WSK_STRBUF_INIT;
  wsk_status s = wsk_probe_report_markdown(r, &md);
  if (s == WSK_OK) s = wsk_probe_csv(r, &csv);
  if (s == WSK_OK) s = wsk_file_write_atomic(md_path, md.s, md.len);
  if (s == WSK_OK) s = wsk_file_write_atomic(cp, csv.s, csv.len);
  wsk_strbuf_free(&md);
  wsk_strbuf_free(&csv);
  if (s == WSK_OK && csv_path)
    *csv_path = cp;
  else
    free(cp);
  return s;
}
