/* model/unf_task.c — the learned optimizer's tasks and task runs
 * (model/unf_task.h): a task is a model/net.h network and a borrowed training
 * set; a run owns its parameters, its gradient, its batch stream and every
 * buffer a step needs, so a step allocates nothing. */
#include "model/unf_task.h"

#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"

static const char *const task_names[] = {"mlp", "cnn"};

const char *wsk_task_name(wsk_task_kind k) {
  return ((unsigned)k < WSK_TASK_COUNT) ? task_names[k] : "?";
}

wsk_status wsk_task_parse(const char *s, wsk_task_kind *out) {
  if (!s || !out) return wsk__fail(WSK_ERR_NULL, "wsk_task_parse: NULL argument");
  for (int i = 0; i < WSK_TASK_COUNT; i++)
    if (strcmp(s, task_names[i]) == 0) {
      *out = (wsk_task_kind)i;
      return WSK_OK;
    }
  return wsk__fail(WSK_ERR_ARG, "unknown task '%s' (valid: mlp, cnn)", s);
}

/* Gemm FLOPs of one batch row, forward and backward (model/unf_task.h): the
 * forward multiply-adds f of each layer count twice more for the weight
 * gradient, and once more for the input gradient of every layer but the
 * first. Per layer f = positions x (in x kh x kw) x out. */
static double flops_per_row(wsk_task_kind k) {
  /* {positions, inputs per position, outputs} per layer */
  static const double mlp[2][3] = {{1, 64, 32}, {1, 32, 10}};
  static const double cnn[3][3] = {{8 * 8, 1 * 3 * 3, 16}, {4 * 4, 16 * 3 * 3, 32}, {1, 32, 10}};
  const double(*L)[3] = k == WSK_TASK_MLP ? mlp : cnn;
  const int n = k == WSK_TASK_MLP ? 2 : 3;
  double total = 0.0;
  for (int l = 0; l < n; l++) {
    const double f = 2.0 * L[l][0] * L[l][1] * L[l][2];
    total += (l == 0 ? 2.0 : 3.0) * f;
  }
  return total;
}

wsk_status wsk_task_make(wsk_task_kind k, const wsk_dataset *train, int batch, wsk_task *out) {
  if (!train || !out) return wsk__fail(WSK_ERR_NULL, "wsk_task_make: NULL argument");
  if ((unsigned)k >= WSK_TASK_COUNT)
    return wsk__fail(WSK_ERR_ARG, "wsk_task_make: unknown task %d", (int)k);
  if (batch == 0) batch = WSK_TASK_BATCH;
  if (batch < 1 || batch > (1 << 16))
    return wsk__fail(WSK_ERR_SIZE, "task %s: batch %d outside 1..65536", task_names[k], batch);
  wsk_task t;
  memset(&t, 0, sizeof t);
  t.kind = k;
  t.batch = batch;
  t.train = train;
  t.spec = k == WSK_TASK_MLP ? "mlp" : "cnn16";
  WSK_TRY(
      wsk_net_make(&t.net, k == WSK_TASK_MLP ? WSK_ARCH_MLP : WSK_ARCH_CNN16, WSK_NET_RELU, 0.0f));
  if (train->n < 1 || train->n > (size_t)UINT32_MAX)
    return wsk__fail(WSK_ERR_SIZE, "task %s: training set of %zu images (needs 1..2^32-1)",
                     task_names[k], train->n);
  if (!train->x || !train->y)
    return wsk__fail(WSK_ERR_NULL, "task %s: training set without images or labels", task_names[k]);
  if (train->rows != t.net.in_rows || train->cols != t.net.in_cols)
    return wsk__fail(WSK_ERR_ARG, "task %s: needs %d x %d images, the training set has %d x %d",
                     task_names[k], t.net.in_rows, t.net.in_cols, train->rows, train->cols);
  for (size_t i = 0; i < train->n; i++)
    if (train->y[i] >= WSK_NET_CLASSES)
      return wsk__fail(WSK_ERR_ARG, "task %s: label %d of training image %zu outside 0..9",
                       task_names[k], train->y[i], i);
  t.flops_per_step = flops_per_row(k) * batch;
  *out = t;
  return WSK_OK;
}

void wsk_task_run_free(wsk_task_run *r) {
  if (!r) return;
  wsk_net_ws_free(r->ws);
  free(r->w);
  free(r->g);
  free(r->xb);
  free(r->yb);
  free(r);
}

wsk_status wsk_task_run_create(const wsk_task *t, wsk_task_run **out) {
  if (!t || !out) return wsk__fail(WSK_ERR_NULL, "wsk_task_run_create: NULL argument");
  *out = NULL;
  if (!t->train || t->batch < 1 || t->net.n_params == 0)
    return wsk__fail(WSK_ERR_ARG, "wsk_task_run_create: the task is not made (wsk_task_make)");
  wsk_task_run *r = calloc(1, sizeof *r);
  if (!r) return wsk__fail(WSK_ERR_NOMEM, "wsk_task_run_create: out of memory");
  r->task = t;
  const size_t np = t->net.n_params, B = (size_t)t->batch;
  r->w = calloc(np, sizeof(float));
  r->g = calloc(np, sizeof(float));
  r->xb = malloc(B * (size_t)t->net.in_size * sizeof(float));
  r->yb = malloc(B);
  if (!r->w || !r->g || !r->xb || !r->yb) {
    wsk_task_run_free(r);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_task_run_create: out of memory (task %s, batch %d)",
                     wsk_task_name(t->kind), t->batch);
  }
  const wsk_status s = wsk_net_ws_create(&t->net, t->batch, &r->ws);
  if (s != WSK_OK) {
    wsk_task_run_free(r);
    return s;
  }
  wsk_rng_seed(&r->rng, 0, 1);
  *out = r;
  return WSK_OK;
}

wsk_status wsk_task_run_reset(wsk_task_run *r, uint64_t seed) {
  if (!r) return wsk__fail(WSK_ERR_NULL, "wsk_task_run_reset: run is NULL");
  const wsk_net *net = &r->task->net;
  wsk_rng init;
  wsk_rng_seed(&init, seed, 0);
  WSK_TRY(wsk_net_init_params(net, WSK_INIT_KAIMING_UNIFORM, &init, r->w));
  memset(r->g, 0, net->n_params * sizeof(float));
  wsk_rng_seed(&r->rng, seed, 1);
  return WSK_OK;
}

wsk_status wsk_task_run_loss_grad(wsk_task_run *r, float *loss) {
  if (!r || !loss) return wsk__fail(WSK_ERR_NULL, "wsk_task_run_loss_grad: NULL argument");
  const wsk_task *t = r->task;
  const wsk_dataset *d = t->train;
  const size_t in = (size_t)t->net.in_size;
  for (int b = 0; b < t->batch; b++) {
    const uint32_t i = wsk_rng_below(&r->rng, (uint32_t)d->n);
    memcpy(r->xb + (size_t)b * in, d->x + (size_t)i * in, in * sizeof(float));
    r->yb[b] = d->y[i];
  }
  return wsk_net_loss_grad(&t->net, r->w, r->xb, r->yb, t->batch, NULL, r->ws, loss, NULL, r->g);
}

wsk_status wsk_task_run_eval(wsk_task_run *r, const wsk_dataset *d, size_t n, double *loss,
                             double *acc) {
  if (!r || !d || !loss) return wsk__fail(WSK_ERR_NULL, "wsk_task_run_eval: NULL argument");
  const wsk_net *net = &r->task->net;
  if (d->rows != net->in_rows || d->cols != net->in_cols)
    return wsk__fail(WSK_ERR_ARG, "task %s evaluation: needs %d x %d images, the set has %d x %d",
                     wsk_task_name(r->task->kind), net->in_rows, net->in_cols, d->rows, d->cols);
  if (n == 0 || n > d->n) n = d->n;
  if (n == 0)
    return wsk__fail(WSK_ERR_SIZE, "task %s evaluation: the set is empty",
                     wsk_task_name(r->task->kind));
  if (!d->x || !d->y)
    return wsk__fail(WSK_ERR_NULL, "task %s evaluation: set without images or labels",
                     wsk_task_name(r->task->kind));
  double sum = 0.0;
  size_t correct = 0;
  WSK_TRY(wsk_net_evaluate(net, r->w, d->x, d->y, NULL, n, r->ws, &sum, &correct));
  *loss = sum / (double)n;
  if (acc) *acc = (double)correct / (double)n;
  return WSK_OK;
}
