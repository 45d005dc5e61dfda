/* model/unf_meta.c — a task instance trained by an optimizer, as the inner
 * problem of persistent evolution strategies (model/unf_meta.h). */
#include "model/unf_meta.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"

#define HEAD_BYTES 32 /* i64 step, 4 x u32 rng, u64 0 */

typedef struct slot {
  wsk_task_run *run;
  wsk_lopt_state *st;
  float *buf; /* the optimizer's persistent state, on its way in or out */
} slot;

struct wsk_unf_meta {
  const wsk_task *task;
  const wsk_lopt *opt;
  int horizon, threads;
  size_t n;          /* task parameters */
  size_t opt_floats; /* the optimizer's persistent state */
  size_t off_w, off_opt;
  slot *slots;
  wsk_es_problem problem;
};

/* ---- particles <-> a slot ------------------------------------------------------------------- */

static void load(const wsk_unf_meta *m, slot *s, const unsigned char *state, int64_t *step) {
  memcpy(step, state, sizeof *step);
  memcpy(s->run->rng.s, state + 8, sizeof s->run->rng.s);
  memcpy(s->run->w, state + m->off_w, m->n * sizeof(float));
  memcpy(s->buf, state + m->off_opt, m->opt_floats * sizeof(float));
  wsk_lopt_state_load(s->st, s->buf);
}

static void save(const wsk_unf_meta *m, const slot *s, unsigned char *state, int64_t step) {
  memset(state, 0, HEAD_BYTES);
  memcpy(state, &step, sizeof step);
  memcpy(state + 8, s->run->rng.s, sizeof s->run->rng.s);
  memcpy(state + m->off_w, s->run->w, m->n * sizeof(float));
  wsk_lopt_state_save(s->st, s->buf);
  memcpy(state + m->off_opt, s->buf, m->opt_floats * sizeof(float));
}

/* ---- the wsk_es_problem callbacks ----------------------------------------------------------- */

static wsk_status cb_reset(void *ctx, int thread, uint64_t seed, void *state) {
  wsk_unf_meta *m = ctx;
  if (thread < 0 || thread >= m->threads)
    return wsk__fail(WSK_ERR_ARG, "unf_meta: thread %d outside 0..%d", thread, m->threads - 1);
  slot *s = &m->slots[thread];
  WSK_TRY(wsk_task_run_reset(s->run, seed));
  wsk_lopt_state_reset(s->st);
  save(m, s, state, 0);
  return WSK_OK;
}

static wsk_status cb_unroll(void *ctx, int thread, const float *meta, void *state, int steps,
                            double *loss, int *done) {
  wsk_unf_meta *m = ctx;
  if (thread < 0 || thread >= m->threads)
    return wsk__fail(WSK_ERR_ARG, "unf_meta: thread %d outside 0..%d", thread, m->threads - 1);
  slot *s = &m->slots[thread];
  int64_t step;
  load(m, s, state, &step);
  double sum = 0;
  int k = 0;
  while (k < steps && step < m->horizon) {
    float l;
    WSK_TRY(wsk_task_run_loss_grad(s->run, &l));
    sum += (double)l;
    k++;
    step++;
    if (!isfinite(l)) break;
    WSK_TRY(wsk_lopt_step(m->opt, meta, s->st, s->run->w, s->run->g));
  }
  save(m, s, state, step);
  *loss = k ? sum / k : 0.0;
  *done = step >= m->horizon;
  return WSK_OK;
}

/* ---- creation -------------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static uint64_t fingerprint(const wsk_unf_meta *m) {
  const wsk_task *t = m->task;
  const wsk_dataset *d = t->train;
  uint64_t h = 0xcbf29ce484222325ull;
  const int64_t head[] = {(int64_t)t->kind,      (int64_t)t->batch,       (int64_t)m->n,
                          (int64_t)d->n,         (int64_t)d->rows,        (int64_t)d->cols,
                          (int64_t)m->opt->kind, (int64_t)m->opt->n_meta, (int64_t)m->horizon};
  for (size_t i = 0; i < sizeof head / sizeof head[0]; i++) {
    unsigned char b[8];
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)head[i] >> (8 * k));
    h = fnv1a(h, b, 8);
  }
  h = fnv1a(h, m->opt->spec.name, strlen(m->opt->spec.name));
  /* the images as 32-bit words (FNV-1a over words: 4 times fewer rounds) */
  const size_t px = d->n * (size_t)d->rows * (size_t)d->cols;
  for (size_t i = 0; i < px; i++) {
    uint32_t u;
    memcpy(&u, &d->x[i], sizeof u);
    h ^= u;
    h *= 0x100000001b3ull;
  }
  return fnv1a(h, d->y, d->n);
}

void wsk_unf_meta_free(wsk_unf_meta *m) {
  if (!m) return;
  if (m->slots)
    for (int i = 0; i < m->threads; i++) {
      wsk_task_run_free(m->slots[i].run);
      wsk_lopt_state_free(m->slots[i].st);
      free(m->slots[i].buf);
    }
  free(m->slots);
  free(m);
}

wsk_status wsk_unf_meta_create(const wsk_task *task, const wsk_lopt *opt, int horizon, int threads,
                               wsk_unf_meta **out) {
  if (!task || !opt || !out) return wsk__fail(WSK_ERR_NULL, "wsk_unf_meta_create: NULL argument");
  *out = NULL;
  if (horizon < 1) return wsk__fail(WSK_ERR_ARG, "unf_meta: horizon %d < 1", horizon);
  if (threads < 1 || threads > 4096)
    return wsk__fail(WSK_ERR_ARG, "unf_meta: threads %d outside 1..4096", threads);
  if (!task->train || !task->train->x || !task->train->y)
    return wsk__fail(WSK_ERR_NULL, "unf_meta: task %s has no training set",
                     wsk_task_name(task->kind));
  if (opt->spec.numel != task->net.n_params)
    return wsk__fail(WSK_ERR_ARG,
                     "unf_meta: optimizer over spec '%s' (%zu parameters) for task %s (%zu "
                     "parameters)",
                     opt->spec.name, opt->spec.numel, wsk_task_name(task->kind),
                     task->net.n_params);
  wsk_unf_meta *m = calloc(1, sizeof *m);
  if (!m) return wsk__fail(WSK_ERR_NOMEM, "unf_meta: out of memory");
  m->task = task;
  m->opt = opt;
  m->horizon = horizon;
  m->threads = threads;
  m->n = task->net.n_params;
  m->opt_floats = wsk_lopt_state_floats(opt);
  m->off_w = HEAD_BYTES;
  m->off_opt = HEAD_BYTES + m->n * sizeof(float);
  m->slots = calloc((size_t)threads, sizeof *m->slots);
  if (!m->slots) {
    wsk_unf_meta_free(m);
    return wsk__fail(WSK_ERR_NOMEM, "unf_meta: out of memory for %d slots", threads);
  }
  for (int i = 0; i < threads; i++) {
    wsk_status s = wsk_task_run_create(task, &m->slots[i].run);
    if (s == WSK_OK) s = wsk_lopt_state_create(opt, &m->slots[i].st);
    if (s == WSK_OK && !(m->slots[i].buf = malloc(m->opt_floats * sizeof(float))))
      s = wsk__fail(WSK_ERR_NOMEM, "unf_meta: out of memory");
    if (s != WSK_OK) {
      wsk_unf_meta_free(m);
      return s;
    }
  }
  wsk_es_problem *p = &m->problem;
  p->n_meta = opt->n_meta;
  p->state_bytes = m->off_opt + m->opt_floats * sizeof(float);
  p->ctx = m;
  p->threads_max = threads;
  p->horizon = horizon;
  p->fingerprint = fingerprint(m);
  p->reset = cb_reset;
  p->unroll = cb_unroll;
  *out = m;
  return WSK_OK;
}

const wsk_es_problem *wsk_unf_meta_problem(wsk_unf_meta *m) { return m ? &m->problem : NULL; }

const float *wsk_unf_meta_weights(const wsk_unf_meta *m) { return m ? m->slots[0].run->w : NULL; }

wsk_status wsk_unf_meta_run(wsk_unf_meta *m, const float *meta, uint64_t seed, int steps,
                            float *curve, double *final) {
  if (!m || !meta) return wsk__fail(WSK_ERR_NULL, "wsk_unf_meta_run: NULL argument");
  if (steps < 1) return wsk__fail(WSK_ERR_ARG, "wsk_unf_meta_run: steps %d < 1", steps);
  slot *s = &m->slots[0];
  WSK_TRY(wsk_task_run_reset(s->run, seed));
  wsk_lopt_state_reset(s->st);
  const int tail = steps < 10 ? steps : 10;
  double sum = 0;
  for (int k = 0; k < steps; k++) {
    float l;
    WSK_TRY(wsk_task_run_loss_grad(s->run, &l));
    if (curve) curve[k] = l;
    if (k >= steps - tail) sum += (double)l;
    WSK_TRY(wsk_lopt_step(m->opt, meta, s->st, s->run->w, s->run->g));
  }
  if (final) *final = sum / tail;
  return WSK_OK;
}
