/* model/unf_predict.c — the invariant UNF accuracy predictor (see
 * model/unf_predict.h). */
#include "model/unf_predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "model/io.h"
#include "model/probe.h"
#include "model/progress.h"
#include "model/rng.h"
#include "model/safetensors.h"
#include "model/unf.h"
#include "wsk/eltwise.h"
#include "wsk/optim.h"
#include "wsk/threads.h"

#define HEAD 32                      /* hidden units of the head */
#define RNG_STREAM 0x756e66707265ull /* "unfpre" */

void wsk_unf_predict_config_default(wsk_unf_predict_config *c) {
  memset(c, 0, sizeof *c);
  c->hidden = 8;
  c->epochs = 20;
  c->batch = 32;
  c->lr = 1e-3f;
}

void wsk_unf_predict_result_free(wsk_unf_predict_result *r) {
  if (!r) return;
  free(r->pred_true);
  free(r->pred);
  r->pred_true = r->pred = NULL;
  r->pred_count = 0;
}

double wsk_kendall_tau(const double *a, const double *b, size_t n) {
  if (!a || !b || n < 2) return NAN;
  long long conc = 0, disc = 0, ta = 0, tb = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      const int sa = (a[i] > a[j]) - (a[i] < a[j]);
      const int sb = (b[i] > b[j]) - (b[i] < b[j]);
      if (sa == 0 && sb == 0) continue;
      if (sa == 0) {
        ta++;
      } else if (sb == 0) {
        tb++;
      } else if (sa == sb) {
        conc++;
      } else {
        disc++;
      }
    }
  const double d = sqrt((double)(conc + disc + ta) * (double)(conc + disc + tb));
  return d > 0 ? (double)(conc - disc) / d : NAN;
}

/* ---- the model ------------------------------------------------------------------------ */

typedef struct model {
  wsk_unf_basis basis;
  wsk_unf_layer l1, l2;
  int nt;    /* tensors */
  size_t n;  /* elements of one channel */
  int64_t h; /* hidden channels */
  size_t off_l2, off_w3, off_b3, off_w4, off_b4, n_params;
} model;

/* per-thread scratch */
typedef struct slot {
  wsk_unf_ws *ws1, *ws2;
  float *h1, *h2, *d1, *d2, *dx; /* n*h each (dx: n) */
  float p[WSK_UNF_MAX_TENSORS * 64], dp[WSK_UNF_MAX_TENSORS * 64];
  float z[HEAD], dz[HEAD];
} slot;

static void slot_free(slot *s) {
  wsk_unf_ws_free(s->ws1);
  wsk_unf_ws_free(s->ws2);
  free(s->h1);
  free(s->h2);
  free(s->d1);
  free(s->d2);
  free(s->dx);
}

static wsk_status slot_make(const model *m, slot *s) {
  memset(s, 0, sizeof *s);
  const size_t nh = m->n * (size_t)m->h;
  WSK_TRY(wsk_unf_ws_create(&m->l1, &s->ws1));
  WSK_TRY(wsk_unf_ws_create(&m->l2, &s->ws2));
  s->h1 = malloc(nh * sizeof(float));
  s->h2 = malloc(nh * sizeof(float));
  s->d1 = malloc(nh * sizeof(float));
  s->d2 = malloc(nh * sizeof(float));
  s->dx = malloc(m->n * sizeof(float));
  if (!s->h1 || !s->h2 || !s->d1 || !s->d2 || !s->dx)
    return wsk__fail(WSK_ERR_NOMEM, "unf predict: out of memory");
  return WSK_OK;
}

static void relu_inplace(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = x[i] <= 0.0f ? 0.0f : x[i];
}

/* Forward of one row: returns the prediction, leaves activations in s. */
static wsk_status forward(const model *m, const float *par, const float *x, slot *s, float *y) {
  const size_t nh = m->n * (size_t)m->h;
  WSK_TRY(wsk_unf_layer_forward(&m->l1, par, x, s->h1, s->ws1));
  relu_inplace(s->h1, nh);
  WSK_TRY(wsk_unf_layer_forward(&m->l2, par + m->off_l2, s->h1, s->h2, s->ws2));
  relu_inplace(s->h2, nh);
  WSK_TRY(wsk_unf_invariant_pool(&m->basis.spec, m->h, s->h2, s->p));
  const size_t np = (size_t)m->nt * (size_t)m->h;
  const float *w3 = par + m->off_w3, *b3 = par + m->off_b3, *w4 = par + m->off_w4;
  float out = par[m->off_b4];
  for (int j = 0; j < HEAD; j++) {
    float acc = b3[j];
    for (size_t i = 0; i < np; i++) acc = fmaf(w3[(size_t)j * np + i], s->p[i], acc);
    s->z[j] = acc;
    const float r = acc <= 0.0f ? 0.0f : acc;
    out = fmaf(w4[j], r, out);
  }
  *y = out;
  return WSK_OK;
}

/* Backward of one row for dL/dy = dy: writes the row's gradient to g. */
static wsk_status backward(const model *m, const float *par, const float *x, slot *s, float dy,
                           float *g) {
  const size_t np = (size_t)m->nt * (size_t)m->h, nh = m->n * (size_t)m->h;
  const float *w3 = par + m->off_w3, *w4 = par + m->off_w4;
  float *gw3 = g + m->off_w3, *gb3 = g + m->off_b3, *gw4 = g + m->off_w4;
  g[m->off_b4] = dy;
  for (size_t i = 0; i < np; i++) s->dp[i] = 0.0f;
  for (int j = 0; j < HEAD; j++) {
    const float r = s->z[j] <= 0.0f ? 0.0f : s->z[j];
    gw4[j] = dy * r;
    const float dz = s->z[j] <= 0.0f ? 0.0f : dy * w4[j];
    gb3[j] = dz;
    for (size_t i = 0; i < np; i++) {
      gw3[(size_t)j * np + i] = dz * s->p[i];
      s->dp[i] = fmaf(dz, w3[(size_t)j * np + i], s->dp[i]);
    }
  }
  WSK_TRY(wsk_unf_invariant_pool_backward(&m->basis.spec, m->h, s->dp, s->d2));
  for (size_t i = 0; i < nh; i++)
    if (s->h2[i] <= 0.0f) s->d2[i] = 0.0f;
  WSK_TRY(
      wsk_unf_layer_backward(&m->l2, par + m->off_l2, s->h1, s->d2, s->d1, g + m->off_l2, s->ws2));
  for (size_t i = 0; i < nh; i++)
    if (s->h1[i] <= 0.0f) s->d1[i] = 0.0f;
  return wsk_unf_layer_backward(&m->l1, par, x, s->d1, NULL, g, s->ws1);
}

/* ---- the data --------------------------------------------------------------------------- */

typedef struct rows {
  size_t n;       /* usable rows */
  float *w;       /* n x numel, normalized */
  double *acc;    /* n */
  uint8_t *split; /* n */
} rows;

static wsk_status load_rows(const wsk_unf_predict_config *c, wsk_unf_spec *spec, rows *R,
                            wsk_unf_predict_result *res) {
  wsk_csv csv = {0};
  char *csv_path = wsk_path_join(c->zoo_dir, "zoo.csv");
  if (!csv_path) return wsk__fail(WSK_ERR_NOMEM, "out of memory");
  wsk_status s = wsk_csv_read(csv_path, &csv);
  const char **ids = NULL;
  uint8_t *split = NULL;
  if (s != WSK_OK) goto done;
  const long cm = wsk_csv_col(&csv, "model_id"), cf = wsk_csv_col(&csv, "file"),
             ca = wsk_csv_col(&csv, "test_acc"), carch = wsk_csv_col(&csv, "arch");
  if (cm < 0 || cf < 0 || ca < 0 || carch < 0) {
    s = wsk__fail(WSK_ERR_FORMAT,
                  "%s lacks a column the predictor needs (model_id, file, test_acc, arch; see "
                  "`wsk zoo`)",
                  csv_path);
    goto done;
  }
  res->rows = csv.nrows;
  if (csv.nrows == 0) {
    s = wsk__fail(WSK_ERR_FORMAT, "%s has no rows", csv_path);
    goto done;
  }
  const char *arch = csv.rows[0][carch];
  if ((s = wsk_unf_spec_builtin(arch, spec)) != WSK_OK) {
    s = wsk__fail(WSK_ERR_FORMAT, "%s: architecture '%s' has no built-in weight-space spec",
                  csv_path, arch);
    goto done;
  }
  snprintf(res->spec, sizeof res->spec, "%s", spec->name);
  ids = malloc(csv.nrows * sizeof *ids);
  split = malloc(csv.nrows);
  R->w = malloc(csv.nrows * spec->numel * sizeof(float));
  R->acc = malloc(csv.nrows * sizeof(double));
  R->split = malloc(csv.nrows);
  if (!ids || !split || !R->w || !R->acc || !R->split) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory for %zu checkpoints", csv.nrows);
    goto done;
  }
  for (size_t i = 0; i < csv.nrows; i++) ids[i] = csv.rows[i][cm];
  if ((s = wsk_probe_split(ids, csv.nrows, c->seed, split, NULL)) != WSK_OK) goto done;
  wsk_progress *pr = c->quiet ? NULL : wsk_progress_begin("unf predict: reading", csv.nrows);
  size_t u = 0;
  for (size_t i = 0; i < csv.nrows && s == WSK_OK; i++) {
    if (strcmp(csv.rows[i][carch], arch) != 0) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s line %zu: architecture '%s' differs from '%s'", csv_path,
                    i + 2, csv.rows[i][carch], arch);
      break;
    }
    char *end;
    const double acc = strtod(csv.rows[i][ca], &end);
    if (end == csv.rows[i][ca] || *end) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s line %zu: test_acc '%s' is not a number", csv_path, i + 2,
                    csv.rows[i][ca]);
      break;
    }
    char *path = wsk_path_join(c->zoo_dir, csv.rows[i][cf]);
    wsk_safetensors st = {0};
    if (!path) {
      s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
      break;
    }
    if ((s = wsk_safetensors_read(path, &st)) != WSK_OK) {
      free(path);
      break;
    }
    float *w = R->w + u * spec->numel;
    int finite = isfinite(acc) != 0;
    if (st.count != (size_t)spec->n_tensors) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s holds %zu tensors, spec '%s' has %d", path, st.count,
                    spec->name, spec->n_tensors);
    }
    for (size_t k = 0; k < st.count && s == WSK_OK; k++) {
      const wsk_unf_tensor *t = &spec->t[k];
      if (strcmp(st.names[k], t->name) != 0 || wsk_safetensors_numel(&st, k) != t->numel) {
        s = wsk__fail(WSK_ERR_FORMAT,
                      "%s: tensor %zu is '%s' with %zu values; spec '%s' expects '%s' with %zu",
                      path, k, st.names[k], wsk_safetensors_numel(&st, k), spec->name, t->name,
                      t->numel);
        break;
      }
      memcpy(w + t->offset, st.data[k], t->numel * sizeof(float));
      for (size_t e = 0; e < t->numel; e++) finite &= isfinite(w[t->offset + e]) != 0;
    }
    wsk_safetensors_free(&st);
    free(path);
    if (s == WSK_OK && finite) {
      R->acc[u] = acc;
      R->split[u] = split[i];
      u++;
    }
    wsk_progress_advance(pr, 1, NULL);
  }
  wsk_progress_end(pr);
  R->n = u;
  res->rows_used = u;
done:
  free(ids);
  free(split);
  free(csv_path);
  wsk_csv_free(&csv);
  return s;
}

/* ---- training ------------------------------------------------------------------------- */

typedef struct batch_ctx {
  const model *m;
  const float *par;
  const rows *R;
  const uint32_t *idx;  /* rows of this batch */
  const double *target; /* standardized accuracy per row */
  int train;            /* 1: gradients too */
  float scale;          /* dL/dy = scale * (y - t) */
  slot *slots;
  float *grads; /* batch x n_params */
  float *pred;  /* batch */
  wsk_status status[WSK_THREADS_MAX];
} batch_ctx;

static void batch_task(void *vctx, size_t b, int thread) {
  batch_ctx *c = vctx;
  if (c->status[thread] != WSK_OK) return;
  const uint32_t r = c->idx[b];
  const float *x = c->R->w + (size_t)r * c->m->n;
  slot *s = &c->slots[thread];
  float y;
  wsk_status st = forward(c->m, c->par, x, s, &y);
  if (st == WSK_OK) c->pred[b] = y;
  if (st == WSK_OK && c->train) {
    const float dy = c->scale * (y - (float)c->target[r]);
    st = backward(c->m, c->par, x, s, dy, c->grads + b * c->m->n_params);
  }
  c->status[thread] = st;
}

static wsk_status run_batch(batch_ctx *c, size_t count) {
  for (int t = 0; t < WSK_THREADS_MAX; t++) c->status[t] = WSK_OK;
  WSK_TRY(wsk_parallel_for(count, batch_task, c));
  for (int t = 0; t < WSK_THREADS_MAX; t++)
    if (c->status[t] != WSK_OK) return c->status[t];
  return WSK_OK;
}

/* predictions for the rows of one split: pred/tru (n_split each) */
static wsk_status predict_split(batch_ctx *c, const rows *R, int which, size_t chunk, uint32_t *idx,
                                double *pred, double *tru, size_t *count) {
  size_t k = 0;
  for (size_t i = 0; i < R->n; i++)
    if (R->split[i] == which) idx[k++] = (uint32_t)i;
  c->train = 0;
  for (size_t b0 = 0; b0 < k; b0 += chunk) {
    const size_t nb = k - b0 < chunk ? k - b0 : chunk;
    c->idx = idx + b0;
    WSK_TRY(run_batch(c, nb));
    for (size_t b = 0; b < nb; b++) {
      pred[b0 + b] = c->pred[b];
      tru[b0 + b] = R->acc[idx[b0 + b]];
    }
  }
  *count = k;
  return WSK_OK;
}

wsk_status wsk_unf_predict_run(const wsk_unf_predict_config *c, wsk_unf_predict_result *res) {
  if (!c || !res) return wsk__fail(WSK_ERR_NULL, "wsk_unf_predict_run: NULL argument");
  memset(res, 0, sizeof *res);
  if (!c->zoo_dir || !*c->zoo_dir)
    return wsk__fail(WSK_ERR_ARG, "unf predict: no zoo directory given");
  if (c->hidden < 1 || c->hidden > 64 || c->epochs < 1 || c->batch < 1 || !(c->lr > 0))
    return wsk__fail(WSK_ERR_ARG,
                     "unf predict: hidden must be 1..64 (%d), epochs >= 1 (%d), batch >= 1 (%d), "
                     "lr > 0 (%g)",
                     c->hidden, c->epochs, c->batch, (double)c->lr);
  const double t0 = wsk_now_s();
  wsk_unf_spec *spec = calloc(1, sizeof *spec);
  model *m = calloc(1, sizeof *m);
  rows R = {0};
  slot *slots = NULL;
  int nslots = 0;
  float *par = NULL, *best = NULL, *grad = NULL, *am = NULL, *av = NULL, *grads = NULL,
        *bpred = NULL;
  uint32_t *order = NULL, *idx = NULL;
  double *target = NULL, *pv = NULL, *tv = NULL;
  batch_ctx *ctx = calloc(1, sizeof *ctx);
  wsk_status s = WSK_OK;
  if (!spec || !m || !ctx) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
    goto done;
  }
  if ((s = load_rows(c, spec, &R, res)) != WSK_OK) goto done;
  for (size_t i = 0; i < R.n; i++) res->split_rows[R.split[i]]++;
  if (res->split_rows[0] < 2 || res->split_rows[1] < 2 || res->split_rows[2] < 2) {
    s = wsk__fail(WSK_ERR_SIZE,
                  "unf predict: too few usable rows per split in %s (%zu train, %zu validation, "
                  "%zu test; need 2 each)",
                  c->zoo_dir, res->split_rows[0], res->split_rows[1], res->split_rows[2]);
    goto done;
  }

  /* per-tensor RMS over the training rows, then the inputs scaled by it */
  for (int t = 0; t < spec->n_tensors; t++) {
    const wsk_unf_tensor *T = &spec->t[t];
    double ss = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < R.n; i++) {
      if (R.split[i] != WSK_SPLIT_TRAIN) continue;
      const float *w = R.w + i * spec->numel + T->offset;
      for (size_t e = 0; e < T->numel; e++) ss += (double)w[e] * w[e];
      cnt += T->numel;
    }
    const float inv = (float)(1.0 / (sqrt(ss / (double)cnt) + 1e-12));
    for (size_t i = 0; i < R.n; i++) {
      float *w = R.w + i * spec->numel + T->offset;
      for (size_t e = 0; e < T->numel; e++) w[e] *= inv;
    }
  }
  /* the standardized target */
  double mu = 0, var = 0;
  size_t ntr = res->split_rows[0];
  for (size_t i = 0; i < R.n; i++)
    if (R.split[i] == WSK_SPLIT_TRAIN) mu += R.acc[i];
  mu /= (double)ntr;
  for (size_t i = 0; i < R.n; i++)
    if (R.split[i] == WSK_SPLIT_TRAIN) var += (R.acc[i] - mu) * (R.acc[i] - mu);
  const double sd = sqrt(var / (double)ntr) + 1e-12;
  target = malloc(R.n * sizeof *target);
  if (!target) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < R.n; i++) target[i] = (R.acc[i] - mu) / sd;

  /* the model */
  if ((s = wsk_unf_basis_build(spec, &m->basis)) != WSK_OK) goto done;
  m->nt = spec->n_tensors;
  m->n = spec->numel;
  m->h = c->hidden;
  if ((s = wsk_unf_layer_make(&m->basis, 1, m->h, 0, &m->l1)) != WSK_OK ||
      (s = wsk_unf_layer_make(&m->basis, m->h, m->h, 0, &m->l2)) != WSK_OK)
    goto done;
  const size_t np = (size_t)m->nt * (size_t)m->h;
  m->off_l2 = m->l1.n_params;
  m->off_w3 = m->off_l2 + m->l2.n_params;
  m->off_b3 = m->off_w3 + (size_t)HEAD * np;
  m->off_w4 = m->off_b3 + HEAD;
  m->off_b4 = m->off_w4 + HEAD;
  m->n_params = m->off_b4 + 1;
  res->n_params = m->n_params;
  const size_t P = m->n_params, B = (size_t)c->batch;
  par = calloc(P, sizeof *par);
  best = calloc(P, sizeof *best);
  grad = calloc(P, sizeof *grad);
  am = calloc(P, sizeof *am);
  av = calloc(P, sizeof *av);
  grads = calloc(B * P, sizeof *grads);
  bpred = calloc(B, sizeof *bpred);
  order = malloc(R.n * sizeof *order);
  idx = malloc(R.n * sizeof *idx);
  pv = malloc(R.n * sizeof *pv);
  tv = malloc(R.n * sizeof *tv);
  nslots = wsk_threads_count();
  slots = calloc((size_t)nslots, sizeof *slots);
  if (!par || !best || !grad || !am || !av || !grads || !bpred || !order || !idx || !pv || !tv ||
      !slots) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory for the predictor (%zu parameters)", P);
    goto done;
  }
  for (int t = 0; t < nslots && s == WSK_OK; t++) s = slot_make(m, &slots[t]);
  if (s != WSK_OK) goto done;
  wsk_rng rng;
  wsk_rng_seed(&rng, c->seed, RNG_STREAM);
  if ((s = wsk_unf_layer_init(&m->l1, &rng, par)) != WSK_OK ||
      (s = wsk_unf_layer_init(&m->l2, &rng, par + m->off_l2)) != WSK_OK)
    goto done;
  {
    const float b3 = 1.0f / sqrtf((float)np), b4 = 1.0f / sqrtf((float)HEAD);
    for (size_t i = 0; i < (size_t)HEAD * np; i++)
      par[m->off_w3 + i] = wsk_rng_range(&rng, -b3, b3);
    for (int j = 0; j < HEAD; j++) par[m->off_w4 + j] = wsk_rng_range(&rng, -b4, b4);
  }
  memcpy(best, par, P * sizeof *par);

  ctx->m = m;
  ctx->par = par;
  ctx->R = &R;
  ctx->target = target;
  ctx->slots = slots;
  ctx->grads = grads;
  ctx->pred = bpred;
  size_t ntrain = 0;
  for (size_t i = 0; i < R.n; i++)
    if (R.split[i] == WSK_SPLIT_TRAIN) order[ntrain++] = (uint32_t)i;
  wsk_adam_params ap = {c->lr, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 0};
  double best_tau = -2;
  res->best_epoch = 0;
  wsk_progress *pr =
      c->quiet ? NULL : wsk_progress_begin("unf predict: training", (size_t)c->epochs);
  for (int ep = 1; ep <= c->epochs && s == WSK_OK; ep++) {
    wsk_rng_shuffle_u32(&rng, order, ntrain);
    for (size_t b0 = 0; b0 < ntrain && s == WSK_OK; b0 += B) {
      const size_t nb = ntrain - b0 < B ? ntrain - b0 : B;
      ctx->idx = order + b0;
      ctx->train = 1;
      ctx->scale = 2.0f / (float)nb;
      if ((s = run_batch(ctx, nb)) != WSK_OK) break;
      for (size_t p = 0; p < P; p++) {
        float acc = grads[p];
        for (size_t b = 1; b < nb; b++) acc += grads[b * P + p];
        grad[p] = acc;
      }
      ap.step++;
      s = wsk_adam((int64_t)P, par, grad, am, av, &ap);
    }
    if (s != WSK_OK) break;
    size_t k;
    if ((s = predict_split(ctx, &R, WSK_SPLIT_VAL, B, idx, pv, tv, &k)) != WSK_OK) break;
    const double tau = wsk_kendall_tau(pv, tv, k);
    if (tau > best_tau) {
      best_tau = tau;
      res->best_epoch = ep;
      memcpy(best, par, P * sizeof *par);
    }
    char note[64];
    snprintf(note, sizeof note, "val tau %.3f", tau);
    wsk_progress_advance(pr, 1, note);
  }
  wsk_progress_end(pr);
  if (s != WSK_OK) goto done;
  res->tau_val = best_tau;
  memcpy(par, best, P * sizeof *par);
  size_t k;
  if ((s = predict_split(ctx, &R, WSK_SPLIT_TEST, B, idx, pv, tv, &k)) != WSK_OK) goto done;
  res->pred_count = k;
  res->pred = malloc(k * sizeof(double));
  res->pred_true = malloc(k * sizeof(double));
  if (!res->pred || !res->pred_true) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
    goto done;
  }
  double ssr = 0, sst = 0, mt = 0;
  for (size_t i = 0; i < k; i++) mt += tv[i];
  mt /= (double)k;
  for (size_t i = 0; i < k; i++) {
    res->pred[i] = mu + sd * pv[i];
    res->pred_true[i] = tv[i];
    ssr += (res->pred[i] - tv[i]) * (res->pred[i] - tv[i]);
    sst += (tv[i] - mt) * (tv[i] - mt);
  }
  res->r2_test = sst > 0 ? 1.0 - ssr / sst : NAN;
  res->tau_test = wsk_kendall_tau(res->pred, res->pred_true, k);
  res->seconds = wsk_now_s() - t0;
done:
  if (s != WSK_OK) wsk_unf_predict_result_free(res);
  for (int t = 0; t < nslots; t++) slot_free(&slots[t]);
  free(slots);
  if (m) wsk_unf_basis_free(&m->basis);
  free(m);
  free(spec);
  free(R.w);
  free(R.acc);
  free(R.split);
  free(par);
  free(best);
  free(grad);
  free(am);
  free(av);
  free(grads);
  free(bpred);
  free(order);
  free(idx);
  free(pv);
  free(tv);
  free(target);
  free(ctx);
  return s;
}
