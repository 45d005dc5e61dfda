/* model/train.c — minibatches, the trainer and its optimizers; see model/train.h. */
#include "model/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "wsk/optim.h"

/* Rows per evaluation batch (bits do not depend on it: model/net.h); the
 * CNN's im2col buffers stay in cache with small batches. */
#define EVAL_BATCH_MLP 256
#define EVAL_BATCH_CNN 32

/* ---- minibatches ---------------------------------------------------------------- */

wsk_status wsk_batcher_init(wsk_batcher *b, const wsk_dataset *data, const uint32_t *rows, size_t n,
                            int batch, const wsk_rng *rng) {
  if (!b || !data || !rng) return wsk__fail(WSK_ERR_NULL, "wsk_batcher_init: NULL argument");
  memset(b, 0, sizeof *b);
  if (!rows) n = data->n;
  if (n < 1 || batch < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_batcher_init: %zu rows, batch %d (both must be >= 1)", n,
                     batch);
  if (n > UINT32_MAX) return wsk__fail(WSK_ERR_SIZE, "wsk_batcher_init: %zu rows is too many", n);
  const size_t in = (size_t)data->rows * (size_t)data->cols;
  b->order = malloc(n * sizeof *b->order);
  b->x = malloc((size_t)batch * in * sizeof *b->x);
  b->y = malloc((size_t)batch);
  if (!b->order || !b->x || !b->y) {
    wsk_batcher_free(b);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_batcher_init: out of memory (%zu rows)", n);
  }
  for (size_t i = 0; i < n; i++) {
    const uint32_t r = rows ? rows[i] : (uint32_t)i;
    if (r >= data->n) {
      wsk_batcher_free(b);
      return wsk__fail(WSK_ERR_ARG, "wsk_batcher_init: row %u outside the dataset's %zu", r,
                       data->n);
    }
    b->order[i] = r;
  }
  b->data = data;
  b->n = n;
  b->batch = batch;
  b->rng = *rng;
  return WSK_OK;
}

wsk_status wsk_batcher_next(wsk_batcher *b, const float **x, const uint8_t **y, int *rows,
                            int *epoch_end) {
  if (!b || !b->order || !x || !y || !rows)
    return wsk__fail(WSK_ERR_NULL, "wsk_batcher_next: NULL argument");
  if (b->pos == 0) {
    wsk_rng_shuffle_u32(&b->rng, b->order, b->n);
    b->epoch++;
  }
  const size_t left = b->n - b->pos;
  const int r = (int)(left < (size_t)b->batch ? left : (size_t)b->batch);
  const size_t in = (size_t)b->data->rows * (size_t)b->data->cols;
  for (int i = 0; i < r; i++) {
    const uint32_t row = b->order[b->pos + (size_t)i];
    memcpy(b->x + (size_t)i * in, b->data->x + (size_t)row * in, in * sizeof(float));
    b->y[i] = b->data->y[row];
  }
  b->pos += (size_t)r;
  const int end = b->pos == b->n;
  if (end) b->pos = 0;
  *x = b->x;
  *y = b->y;
  *rows = r;
  if (epoch_end) *epoch_end = end;
  return WSK_OK;
}

void wsk_batcher_free(wsk_batcher *b) {
  if (!b) return;
  free(b->order);
  free(b->x);
  free(b->y);
  memset(b, 0, sizeof *b);
}

/* ---- hyper-parameters ---------------------------------------------------------------- */

static const char *const opt_names[] = {"sgd", "adam"};

const char *wsk_optimizer_name(wsk_optimizer o) {
  return ((unsigned)o < WSK_OPT_COUNT) ? opt_names[o] : "?";
}

wsk_status wsk_optimizer_parse(const char *s, wsk_optimizer *out) {
  if (!s || !out) return wsk__fail(WSK_ERR_NULL, "wsk_optimizer_parse: NULL argument");
  for (int i = 0; i < WSK_OPT_COUNT; i++)
    if (strcmp(s, opt_names[i]) == 0) {
      *out = (wsk_optimizer)i;
      return WSK_OK;
    }
  return wsk__fail(WSK_ERR_ARG, "unknown optimizer '%s' (valid: sgd, adam)", s);
}

void wsk_train_hparams_default(wsk_train_hparams *h) {
  memset(h, 0, sizeof *h);
  h->arch = WSK_ARCH_MLP;
  h->init = WSK_INIT_KAIMING_UNIFORM;
  h->act = WSK_NET_RELU;
  h->opt = WSK_OPT_SGD;
  h->lr = 0.01f;
  h->momentum = 0.9f;
  h->beta1 = 0.9f;
  h->beta2 = 0.999f;
  h->eps = 1e-8f;
  h->weight_decay = 0.0f;
  h->dropout = 0.0f;
  h->train_frac = 1.0f;
  h->max_grad_norm = 0.0f;
  h->batch = 32;
  h->seed = 0;
}

/* ---- the trainer ---------------------------------------------------------------------- */

void wsk_trainer_free(wsk_trainer *t) {
  if (!t) return;
  free(t->params);
  free(t->grad);
  free(t->m);
  free(t->v);
  free(t->subset);
  wsk_batcher_free(&t->batcher);
  wsk_net_ws_free(t->ws);
  wsk_net_ws_free(t->eval_ws);
  free(t);
}

static wsk_status check_hparams(const wsk_train_hparams *h) {
  if (!(h->lr > 0.0f && isfinite(h->lr)))
    return wsk__fail(WSK_ERR_ARG, "training: learning rate %g must be > 0", (double)h->lr);
  if (!(h->weight_decay >= 0.0f && isfinite(h->weight_decay)))
    return wsk__fail(WSK_ERR_ARG, "training: weight decay %g must be >= 0",
                     (double)h->weight_decay);
  if (!(h->train_frac > 0.0f && h->train_frac <= 1.0f))
    return wsk__fail(WSK_ERR_ARG, "training: train fraction %g outside (0, 1]",
                     (double)h->train_frac);
  if (!(h->max_grad_norm >= 0.0f))
    return wsk__fail(WSK_ERR_ARG, "training: max gradient norm %g must be >= 0",
                     (double)h->max_grad_norm);
  if (h->batch < 1 || h->batch > 65536)
    return wsk__fail(WSK_ERR_SIZE, "training: batch %d outside 1..65536", h->batch);
  if ((unsigned)h->opt >= WSK_OPT_COUNT)
    return wsk__fail(WSK_ERR_ARG, "training: unknown optimizer %d", (int)h->opt);
  if (h->opt == WSK_OPT_SGD && !(h->momentum >= 0.0f && h->momentum < 1.0f))
    return wsk__fail(WSK_ERR_ARG, "training: momentum %g outside [0, 1)", (double)h->momentum);
  if (h->opt == WSK_OPT_ADAM && !(h->beta1 >= 0.0f && h->beta1 < 1.0f && h->beta2 >= 0.0f &&
                                  h->beta2 < 1.0f && h->eps > 0.0f))
    return wsk__fail(WSK_ERR_ARG, "training: Adam betas (%g, %g) or eps %g out of range",
                     (double)h->beta1, (double)h->beta2, (double)h->eps);
  return WSK_OK;
}

wsk_status wsk_trainer_create(const wsk_train_hparams *hp, const wsk_dataset *train,
                              wsk_trainer **out) {
  if (!hp || !train || !out) return wsk__fail(WSK_ERR_NULL, "wsk_trainer_create: NULL argument");
  *out = NULL;
  WSK_TRY(check_hparams(hp));
  wsk_net net;
  WSK_TRY(wsk_net_make(&net, hp->arch, hp->act, hp->dropout));
  if (train->rows != net.in_rows || train->cols != net.in_cols || !train->x || !train->y ||
      train->n < 1)
    return wsk__fail(WSK_ERR_ARG,
                     "wsk_trainer_create: the %s needs %d x %d images, the training set has "
                     "%zu of %d x %d",
                     wsk_arch_name(hp->arch), net.in_rows, net.in_cols, train->n, train->rows,
                     train->cols);
  if (train->n > UINT32_MAX)
    return wsk__fail(WSK_ERR_SIZE, "wsk_trainer_create: %zu training images is too many", train->n);
  wsk_trainer *t = calloc(1, sizeof *t);
  if (!t) return wsk__fail(WSK_ERR_NOMEM, "wsk_trainer_create: out of memory");
  t->hp = *hp;
  t->net = net;
  t->train = train;
  const size_t np = net.n_params;
  t->params = malloc(np * sizeof(float));
  t->grad = calloc(np, sizeof(float));
  t->m = calloc(np, sizeof(float));
  t->v = calloc(np, sizeof(float));
  t->subset = malloc(train->n * sizeof(uint32_t));
  if (!t->params || !t->grad || !t->m || !t->v || !t->subset) {
    wsk_trainer_free(t);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_trainer_create: out of memory");
  }
  wsk_status s = wsk_net_ws_create(&net, hp->batch, &t->ws);
  if (s == WSK_OK)
    s = wsk_net_ws_create(&net, hp->arch == WSK_ARCH_MLP ? EVAL_BATCH_MLP : EVAL_BATCH_CNN,
                          &t->eval_ws);
  if (s != WSK_OK) {
    wsk_trainer_free(t);
    return s;
  }

  wsk_rng init_rng, data_rng;
  wsk_rng_seed(&init_rng, hp->seed, 0);
  wsk_rng_seed(&data_rng, hp->seed, 1);
  wsk_rng_seed(&t->drop_rng, hp->seed, 2);
  s = wsk_net_init_params(&net, hp->init, &init_rng, t->params);

  /* the subset: the first round(frac * n) rows of a shuffle of all rows */
  for (size_t i = 0; i < train->n; i++) t->subset[i] = (uint32_t)i;
  size_t k = train->n;
  if (hp->train_frac < 1.0f) {
    wsk_rng_shuffle_u32(&data_rng, t->subset, train->n);
    k = (size_t)floor((double)hp->train_frac * (double)train->n + 0.5);
    if (k < 1) k = 1;
    if (k > train->n) k = train->n;
  }
  t->n_subset = k;
  if (s == WSK_OK) s = wsk_batcher_init(&t->batcher, train, t->subset, k, hp->batch, &data_rng);
  if (s != WSK_OK) {
    wsk_trainer_free(t);
    return s;
  }
  *out = t;
  return WSK_OK;
}

wsk_status wsk_trainer_step(wsk_trainer *t, const float *x, const uint8_t *y, int rows,
                            float *loss) {
  if (!t || !x || !y) return wsk__fail(WSK_ERR_NULL, "wsk_trainer_step: NULL argument");
  const size_t np = t->net.n_params;
  float l = 0.0f;
  WSK_TRY(
      wsk_net_loss_grad(&t->net, t->params, x, y, rows, &t->drop_rng, t->ws, &l, NULL, t->grad));
  if (loss) *loss = l;
  double ss = 0.0;
  for (size_t i = 0; i < np; i++) ss += (double)t->grad[i] * (double)t->grad[i];
  if (!isfinite(l) || !isfinite(ss)) {
    t->skipped++;
    return WSK_OK;
  }
  const double norm = sqrt(ss);
  if (t->hp.max_grad_norm > 0.0f && norm > (double)t->hp.max_grad_norm) {
    const float scale = (float)((double)t->hp.max_grad_norm / norm);
    for (size_t i = 0; i < np; i++) t->grad[i] = t->grad[i] * scale;
    t->clipped++;
  }
  t->step++;
  if (t->hp.opt == WSK_OPT_SGD) {
    const wsk_sgd_params p = {t->hp.lr, t->hp.momentum, t->hp.weight_decay};
    return wsk_sgd_momentum((int64_t)np, t->params, t->grad, t->m, &p);
  }
  const wsk_adam_params p = {
      t->hp.lr, t->hp.beta1, t->hp.beta2, t->hp.eps, t->hp.weight_decay, t->step, 0};
  return wsk_adam((int64_t)np, t->params, t->grad, t->m, t->v, &p);
}

wsk_status wsk_trainer_epoch(wsk_trainer *t, wsk_epoch_stats *stats) {
  if (!t) return wsk__fail(WSK_ERR_NULL, "wsk_trainer_epoch: NULL trainer");
  const int64_t step0 = t->step, skip0 = t->skipped, clip0 = t->clipped;
  double sum = 0.0;
  size_t rows_seen = 0;
  int end = 0;
  while (!end) {
    const float *x;
    const uint8_t *y;
    int rows = 0;
    float loss = 0.0f;
    WSK_TRY(wsk_batcher_next(&t->batcher, &x, &y, &rows, &end));
    WSK_TRY(wsk_trainer_step(t, x, y, rows, &loss));
    sum += (double)loss * rows;
    rows_seen += (size_t)rows;
  }
  if (stats) {
    stats->loss = sum / (double)rows_seen;
    stats->steps = t->step - step0;
    stats->skipped = t->skipped - skip0;
    stats->clipped = t->clipped - clip0;
  }
  return WSK_OK;
}

wsk_status wsk_trainer_eval(wsk_trainer *t, const wsk_dataset *data, wsk_eval *out) {
  if (!t || !out) return wsk__fail(WSK_ERR_NULL, "wsk_trainer_eval: NULL argument");
  const wsk_dataset *d = data ? data : t->train;
  const uint32_t *idx = data ? NULL : t->subset;
  const size_t n = data ? data->n : t->n_subset;
  if (d->rows != t->net.in_rows || d->cols != t->net.in_cols)
    return wsk__fail(WSK_ERR_ARG, "wsk_trainer_eval: the %s needs %d x %d images, not %d x %d",
                     wsk_arch_name(t->net.arch), t->net.in_rows, t->net.in_cols, d->rows, d->cols);
  if (n < 1) return wsk__fail(WSK_ERR_SIZE, "wsk_trainer_eval: empty dataset");
  double ls = 0.0;
  size_t ok = 0;
  WSK_TRY(wsk_net_evaluate(&t->net, t->params, d->x, d->y, idx, n, t->eval_ws, &ls, &ok));
  out->loss = ls / (double)n;
  out->acc = (double)ok / (double)n;
  out->n = n;
  return WSK_OK;
}
