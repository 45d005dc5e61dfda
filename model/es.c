/* model/es.c — persistent evolution strategies with antithetic pairs
 * (Vicol et al. 2021, Algorithm 2), its staggered start and its checkpoints
 * (model/es.h). */
#include "model/es.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dispatch/error.h"
#include "model/io.h"
#include "model/rng.h"
#include "wsk/optim.h"
#include "wsk/threads.h"

#define ES_MAGIC "WSK-PES\n"
#define ES_VERSION 1u
#define ES_HEADER_BYTES (8 + 4 + 4 + 7 * 8 + 7 * 4 + 8) /* up to and with the step */
#define ES_MSG 512

/* Salts that separate the two families of rng streams of one seed. */
#define EPS_SALT 0x5045532d65707331ull   /* "PES-eps1" */
#define RESET_SALT 0x5045532d72737431ull /* "PES-rst1" */

void wsk_es_config_default(wsk_es_config *c) {
  if (!c) return;
  memset(c, 0, sizeof *c);
  c->tasks = 16;
  c->truncation = 50;
  c->sigma = 0.01f;
  c->lr = 3e-3f;
  c->beta1 = 0.9f;
  c->beta2 = 0.999f;
  c->eps = 1e-8f;
  c->clip = 1.0f;
  c->steps = 100;
  c->seed = 0;
  c->checkpoint = NULL;
  c->checkpoint_every = 10;
}

/* ---- the run's state ---------------------------------------------------------------------- */

typedef struct es_run {
  const wsk_es_problem *p;
  const wsk_es_config *c;
  size_t nm, sb;
  int n;        /* tasks */
  int64_t step; /* meta-steps done */
  float *theta, *m, *v;
  float *xi;             /* [n][nm] */
  float *eps;            /* [n][nm] */
  float *tpm;            /* [2n][nm]: theta + eps_i, theta - eps_i */
  unsigned char *states; /* [2n][sb]: particle (i, +) at 2i, (i, -) at 2i + 1 */
  uint64_t *episode;     /* [n] */
  double *loss;          /* [2n] */
  int *done;             /* [2n] */
  wsk_status *st;        /* [2n] */
  char (*msg)[ES_MSG];   /* [2n] */
  float *g;
  double *gacc;
} es_run;

static void run_free(es_run *r) {
  free(r->theta);
  free(r->m);
  free(r->v);
  free(r->xi);
  free(r->eps);
  free(r->tpm);
  free(r->states);
  free(r->episode);
  free(r->loss);
  free(r->done);
  free(r->st);
  free(r->msg);
  free(r->g);
  free(r->gacc);
}

static uint64_t reset_seed(const es_run *r, int i, uint64_t episode) {
  wsk_rng g;
  wsk_rng_seed(&g, r->c->seed ^ RESET_SALT, ((uint64_t)i << 32) | (episode & 0xffffffffu));
  return wsk_rng_u64(&g);
}

static unsigned char *state_of(const es_run *r, size_t particle) {
  return r->states + particle * r->sb;
}

/* Records a failure of particle j with its thread's message. */
static void note_fail(es_run *r, size_t j, wsk_status s) {
  r->st[j] = s;
  snprintf(r->msg[j], ES_MSG, "%s", wsk_last_error());
}

/* The first failure in particle order, re-raised on the calling thread. */
static wsk_status first_fail(const es_run *r, size_t count) {
  for (size_t j = 0; j < count; j++)
    if (r->st[j] != WSK_OK) return wsk__fail(r->st[j], "%s", r->msg[j]);
  return WSK_OK;
}

/* Runs fn over [0, count): on the pool, or serially on slot 0 when the pool
 * has more threads than the problem has scratch slots. */
static wsk_status for_each(const es_run *r, size_t count, wsk_task_fn fn) {
  if (wsk_threads_count() > r->p->threads_max) {
    for (size_t j = 0; j < count; j++) fn((void *)r, j, 0);
    return WSK_OK;
  }
  return wsk_parallel_for(count, fn, (void *)r);
}

/* ---- the staggered start ------------------------------------------------------------------- */

static int64_t warmup_steps(const es_run *r, int i) {
  const int64_t T = r->c->truncation;
  if (r->p->horizon <= 0) return (int64_t)i * T;
  return ((int64_t)i * r->p->horizon / r->n) / T * T;
}

static void warmup_task(void *ctx, size_t i, int thread) {
  es_run *r = ctx;
  const wsk_es_problem *p = r->p;
  unsigned char *sp = state_of(r, 2 * i), *sm = state_of(r, 2 * i + 1);
  wsk_status s = p->reset(p->ctx, thread, reset_seed(r, (int)i, r->episode[i]), sp);
  int64_t left = warmup_steps(r, (int)i);
  while (s == WSK_OK && left > 0) {
    const int k = left < r->c->truncation ? (int)left : r->c->truncation;
    double loss;
    int done = 0;
    s = p->unroll(p->ctx, thread, r->theta, sp, k, &loss, &done);
    left -= k;
    if (s == WSK_OK && done) {
      r->episode[i]++;
      s = p->reset(p->ctx, thread, reset_seed(r, (int)i, r->episode[i]), sp);
    }
  }
  if (s != WSK_OK) {
    note_fail(r, 2 * i, s);
    return;
  }
  memcpy(sm, sp, r->sb);
}

/* ---- one meta-step ------------------------------------------------------------------------- */

static void unroll_task(void *ctx, size_t j, int thread) {
  es_run *r = ctx;
  const wsk_es_problem *p = r->p;
  r->done[j] = 0;
  r->loss[j] = NAN;
  const wsk_status s = p->unroll(p->ctx, thread, r->tpm + j * r->nm, state_of(r, j),
                                 r->c->truncation, &r->loss[j], &r->done[j]);
  if (s != WSK_OK) note_fail(r, j, s);
}

static double finite_loss(double l) { return isfinite(l) ? l : WSK_ES_BAD_LOSS; }

static wsk_status meta_step(es_run *r, double *mean_loss, double *gnorm_out) {
  const wsk_es_config *c = r->c;
  const wsk_es_problem *p = r->p;
  const size_t nm = r->nm;
  const int n = r->n;
  const int64_t k = r->step;

  /* perturbations: eps_i from the stream (seed, k, i), sigma * N(0, 1) */
  for (int i = 0; i < n; i++) {
    wsk_rng g;
    wsk_rng_seed(&g, c->seed ^ EPS_SALT, (uint64_t)k * (uint64_t)n + (uint64_t)i);
    float *e = r->eps + (size_t)i * nm, *tp = r->tpm + 2 * (size_t)i * nm, *tm = tp + nm;
    for (size_t q = 0; q < nm; q++) {
      const float z = wsk_rng_normal(&g);
      e[q] = c->sigma * z;
      tp[q] = r->theta[q] + e[q];
      tm[q] = r->theta[q] - e[q];
    }
  }
  const size_t np = 2 * (size_t)n;
  for (size_t j = 0; j < np; j++) r->st[j] = WSK_OK;
  WSK_TRY(for_each(r, np, unroll_task));
  WSK_TRY(first_fail(r, np));

  /* xi_i += eps_i;  g = sum_i xi_i (L+_i - L-_i) / (2 N sigma^2) */
  memset(r->gacc, 0, nm * sizeof(double));
  double lsum = 0;
  for (int i = 0; i < n; i++) {
    const double lp = finite_loss(r->loss[2 * i]), lm = finite_loss(r->loss[2 * i + 1]);
    lsum += 0.5 * (lp + lm);
    const double d = lp - lm;
    float *x = r->xi + (size_t)i * nm;
    const float *e = r->eps + (size_t)i * nm;
    for (size_t q = 0; q < nm; q++) {
      x[q] = x[q] + e[q];
      r->gacc[q] += (double)x[q] * d;
    }
  }
  const double sig = (double)c->sigma;
  const double scale = 1.0 / (2.0 * (double)n * sig * sig);
  double sq = 0;
  for (size_t q = 0; q < nm; q++) {
    r->g[q] = (float)(r->gacc[q] * scale);
    sq += (double)r->g[q] * (double)r->g[q];
  }
  const double gnorm = sqrt(sq);
  if (c->on_grad) c->on_grad(c->on_step_arg, k + 1, r->g, nm);
  if (c->clip > 0 && gnorm > (double)c->clip) {
    const float f = (float)((double)c->clip / gnorm);
    for (size_t q = 0; q < nm; q++) r->g[q] = r->g[q] * f;
  }
  const wsk_adam_params ap = {c->lr, c->beta1, c->beta2, c->eps, 0.0f, k + 1, 0};
  WSK_TRY(wsk_adam((int64_t)nm, r->theta, r->g, r->m, r->v, &ap));
  r->step = k + 1;

  /* problems at their horizon, or diverged: a new episode */
  for (int i = 0; i < n; i++) {
    const int bad = !isfinite(r->loss[2 * i]) || !isfinite(r->loss[2 * i + 1]);
    if (!r->done[2 * i] && !r->done[2 * i + 1] && !bad) continue;
    r->episode[i]++;
    const uint64_t seed = reset_seed(r, i, r->episode[i]);
    WSK_TRY(p->reset(p->ctx, 0, seed, state_of(r, 2 * (size_t)i)));
    WSK_TRY(p->reset(p->ctx, 0, seed, state_of(r, 2 * (size_t)i + 1)));
    memset(r->xi + (size_t)i * nm, 0, nm * sizeof(float));
  }
  *mean_loss = lsum / n;
  *gnorm_out = gnorm;
  return WSK_OK;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static unsigned char *put_u32(unsigned char *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
  return b + 4;
}
static unsigned char *put_u64(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  return b + 8;
}
static unsigned char *put_f32s(unsigned char *b, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) b = put_u32(b, f32_bits(x[i]));
  return b;
}
static uint32_t get_u32(const unsigned char **b) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)(*b)[i] << (8 * i);
  *b += 4;
  return v;
}
static uint64_t get_u64(const unsigned char **b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)(*b)[i] << (8 * i);
  *b += 8;
  return v;
}
static void get_f32s(const unsigned char **b, float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const uint32_t u = get_u32(b);
    memcpy(&x[i], &u, sizeof u);
  }
}

/* Bytes of a checkpoint of these sizes; 0 on overflow. */
static size_t ckpt_bytes(uint64_t nm, uint64_t sb, uint64_t tasks) {
  const uint64_t lim = (uint64_t)SIZE_MAX / 4;
  if (nm > lim / 16 || sb > lim / 4 || tasks > lim / 4) return 0;
  const uint64_t per_task = 8 + 4 * nm + 2 * sb;
  if (tasks && per_task > (lim - 12 * nm) / tasks) return 0;
  return (size_t)(ES_HEADER_BYTES + 12 * nm + tasks * per_task + 8);
}

static wsk_status ckpt_write(const es_run *r, const char *path) {
  const size_t nm = r->nm, n = (size_t)r->n;
  const size_t total = ckpt_bytes(nm, r->sb, n);
  if (!total) return wsk__fail(WSK_ERR_OVERFLOW, "%s: checkpoint too large", path);
  unsigned char *buf = malloc(total);
  if (!buf) return wsk__fail(WSK_ERR_NOMEM, "%s: out of memory for the checkpoint", path);
  const wsk_es_config *c = r->c;
  unsigned char *b = buf;
  memcpy(b, ES_MAGIC, 8);
  b += 8;
  b = put_u32(b, ES_VERSION);
  b = put_u32(b, 0);
  b = put_u64(b, nm);
  b = put_u64(b, r->sb);
  b = put_u64(b, n);
  b = put_u64(b, (uint64_t)c->truncation);
  b = put_u64(b, c->seed);
  b = put_u64(b, r->p->fingerprint);
  b = put_u64(b, (uint64_t)r->p->horizon);
  b = put_u32(b, f32_bits(c->sigma));
  b = put_u32(b, f32_bits(c->lr));
  b = put_u32(b, f32_bits(c->beta1));
  b = put_u32(b, f32_bits(c->beta2));
  b = put_u32(b, f32_bits(c->eps));
  b = put_u32(b, f32_bits(c->clip));
  b = put_u32(b, 0);
  b = put_u64(b, (uint64_t)r->step);
  b = put_f32s(b, r->theta, nm);
  b = put_f32s(b, r->m, nm);
  b = put_f32s(b, r->v, nm);
  for (size_t i = 0; i < n; i++) {
    b = put_u64(b, r->episode[i]);
    b = put_f32s(b, r->xi + i * nm, nm);
    memcpy(b, state_of(r, 2 * i), r->sb);
    b += r->sb;
    memcpy(b, state_of(r, 2 * i + 1), r->sb);
    b += r->sb;
  }
  b = put_u64(b, fnv1a(FNV_INIT, buf, (size_t)(b - buf)));
  const size_t written = (size_t)(b - buf);
  if (written != total) {
    free(buf);
    return wsk__fail(WSK_ERR_ARG, "%s: internal error: checkpoint of %zu bytes, expected %zu", path,
                     written, total);
  }
  const wsk_status s = wsk_file_write_atomic(path, buf, total);
  free(buf);
  return s;
}

/* Compares a header field with this run's value; fails naming it. */
#define CK_FIELD(name, got, want, fmt)                                                    \
  do {                                                                                    \
    if ((got) != (want)) {                                                                \
      free(data);                                                                         \
      return wsk__fail(WSK_ERR_ARG,                                                       \
                       "%s: an ES checkpoint of another problem or config (" name " " fmt \
                       " there, " fmt " here); delete it to start over",                  \
                       path, got, want);                                                  \
    }                                                                                     \
  } while (0)
#define CK_FLOAT(name, bits, want)                                         \
  do {                                                                     \
    float f_;                                                              \
    memcpy(&f_, &(bits), sizeof f_);                                       \
    if ((bits) != f32_bits(want)) {                                        \
      free(data);                                                          \
      return wsk__fail(WSK_ERR_ARG,                                        \
                       "%s: an ES checkpoint of another config (" name     \
                       " %.9g there, %.9g here); delete it to start over", \
                       path, (double)f_, (double)(want));                  \
    }                                                                      \
  } while (0)

static wsk_status ckpt_read(es_run *r, const char *path) {
  void *raw;
  size_t size;
  WSK_TRY(wsk_file_read(path, &raw, &size));
  unsigned char *data = raw;
  const unsigned char *b = data;
  if (size < ES_HEADER_BYTES + 8 || memcmp(b, ES_MAGIC, 8) != 0) {
    free(data);
    return wsk__fail(WSK_ERR_FORMAT, "%s: not a wsk ES checkpoint (%s)", path,
                     size < ES_HEADER_BYTES + 8 ? "too short" : "wrong magic");
  }
  b += 8;
  const uint32_t version = get_u32(&b);
  (void)get_u32(&b);
  if (version != ES_VERSION) {
    free(data);
    return wsk__fail(WSK_ERR_FORMAT, "%s: ES checkpoint version %" PRIu32 ", expected %u", path,
                     version, ES_VERSION);
  }
  const uint64_t nm = get_u64(&b), sb = get_u64(&b), n = get_u64(&b), trunc = get_u64(&b);
  const uint64_t seed = get_u64(&b), fp = get_u64(&b), horizon = get_u64(&b);
  uint32_t fb[6];
  for (int i = 0; i < 6; i++) fb[i] = get_u32(&b);
  (void)get_u32(&b);
  const size_t want = ckpt_bytes(nm, sb, n);
  if (!want || size != want) {
    free(data);
    return wsk__fail(WSK_ERR_FORMAT,
                     "%s: a damaged ES checkpoint (%zu bytes, its header implies %zu: truncated "
                     "or corrupt)",
                     path, size, want);
  }
  const uint64_t sum = fnv1a(FNV_INIT, data, size - 8);
  const unsigned char *tail = data + size - 8;
  if (get_u64(&tail) != sum) {
    free(data);
    return wsk__fail(WSK_ERR_FORMAT, "%s: a damaged ES checkpoint (checksum mismatch)", path);
  }
  const wsk_es_config *c = r->c;
  CK_FIELD("n_meta", (uint64_t)nm, (uint64_t)r->nm, "%" PRIu64);
  CK_FIELD("state_bytes", (uint64_t)sb, (uint64_t)r->sb, "%" PRIu64);
  CK_FIELD("fingerprint", fp, r->p->fingerprint, "%016" PRIx64);
  CK_FIELD("horizon", (int64_t)horizon, r->p->horizon, "%" PRId64);
  CK_FIELD("tasks", (uint64_t)n, (uint64_t)r->n, "%" PRIu64);
  CK_FIELD("truncation", trunc, (uint64_t)c->truncation, "%" PRIu64);
  CK_FIELD("seed", seed, c->seed, "%" PRIu64);
  CK_FLOAT("sigma", fb[0], c->sigma);
  CK_FLOAT("lr", fb[1], c->lr);
  CK_FLOAT("beta1", fb[2], c->beta1);
  CK_FLOAT("beta2", fb[3], c->beta2);
  CK_FLOAT("eps", fb[4], c->eps);
  CK_FLOAT("clip", fb[5], c->clip);
  const int64_t step = (int64_t)get_u64(&b);
  if (step < 0) {
    free(data);
    return wsk__fail(WSK_ERR_FORMAT, "%s: a damaged ES checkpoint (step %" PRId64 ")", path, step);
  }
  r->step = step;
  get_f32s(&b, r->theta, r->nm);
  get_f32s(&b, r->m, r->nm);
  get_f32s(&b, r->v, r->nm);
  for (size_t i = 0; i < (size_t)r->n; i++) {
    r->episode[i] = get_u64(&b);
    get_f32s(&b, r->xi + i * r->nm, r->nm);
    memcpy(state_of(r, 2 * i), b, r->sb);
    b += r->sb;
    memcpy(state_of(r, 2 * i + 1), b, r->sb);
    b += r->sb;
  }
  free(data);
  return WSK_OK;
}

/* ---- training ----------------------------------------------------------------------------- */

static wsk_status check_args(const wsk_es_problem *p, const wsk_es_config *c, const float *meta) {
  if (!p || !c || !meta) return wsk__fail(WSK_ERR_NULL, "wsk_es_train: NULL argument");
  if (!p->reset || !p->unroll)
    return wsk__fail(WSK_ERR_NULL, "wsk_es_train: the problem has no reset or unroll");
  if (p->n_meta < 1) return wsk__fail(WSK_ERR_SIZE, "wsk_es_train: n_meta is 0");
  if (p->threads_max < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_es_train: threads_max %d < 1", p->threads_max);
  if (p->horizon < 0)
    return wsk__fail(WSK_ERR_ARG, "wsk_es_train: horizon %" PRId64 " < 0", p->horizon);
  if (c->tasks < 1 || c->tasks > (1 << 20))
    return wsk__fail(WSK_ERR_ARG, "ES: tasks %d outside 1..%d", c->tasks, 1 << 20);
  if (c->truncation < 1) return wsk__fail(WSK_ERR_ARG, "ES: truncation %d < 1", c->truncation);
  if (!(c->sigma > 0) || !isfinite(c->sigma))
    return wsk__fail(WSK_ERR_ARG, "ES: sigma %g is not a positive number", (double)c->sigma);
  if (!(c->lr > 0) || !isfinite(c->lr))
    return wsk__fail(WSK_ERR_ARG, "ES: lr %g is not a positive number", (double)c->lr);
  if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
    return wsk__fail(WSK_ERR_ARG, "ES: Adam betas %g, %g outside [0, 1)", (double)c->beta1,
                     (double)c->beta2);
  if (!(c->eps >= 0) || !isfinite(c->eps))
    return wsk__fail(WSK_ERR_ARG, "ES: Adam eps %g", (double)c->eps);
  if (!(c->clip >= 0) || !isfinite(c->clip))
    return wsk__fail(WSK_ERR_ARG, "ES: clip %g < 0", (double)c->clip);
  if (c->steps < 0) return wsk__fail(WSK_ERR_ARG, "ES: steps %" PRId64 " < 0", c->steps);
  if (c->checkpoint_every < 0)
    return wsk__fail(WSK_ERR_ARG, "ES: checkpoint_every %d < 0", c->checkpoint_every);
  if (c->checkpoint && !*c->checkpoint) return wsk__fail(WSK_ERR_ARG, "ES: empty checkpoint path");
  return WSK_OK;
}

wsk_status wsk_es_train(const wsk_es_problem *p, const wsk_es_config *c, float *meta) {
  WSK_TRY(check_args(p, c, meta));
  es_run r;
  memset(&r, 0, sizeof r);
  r.p = p;
  r.c = c;
  r.nm = p->n_meta;
  r.sb = p->state_bytes;
  r.n = c->tasks;
  const size_t n = (size_t)r.n, nm = r.nm, np = 2 * n;
  if (!ckpt_bytes(nm, r.sb, n))
    return wsk__fail(WSK_ERR_OVERFLOW, "ES: %zu tasks of %zu meta-parameters and %zu state bytes",
                     n, nm, r.sb);
  r.theta = malloc(nm * sizeof(float));
  r.m = calloc(nm, sizeof(float));
  r.v = calloc(nm, sizeof(float));
  r.xi = calloc(n * nm, sizeof(float));
  r.eps = malloc(n * nm * sizeof(float));
  r.tpm = malloc(np * nm * sizeof(float));
  r.states = malloc(np * (r.sb ? r.sb : 1));
  r.episode = calloc(n, sizeof(uint64_t));
  r.loss = calloc(np, sizeof(double));
  r.done = calloc(np, sizeof(int));
  r.st = calloc(np, sizeof(wsk_status));
  r.msg = calloc(np, sizeof *r.msg);
  r.g = malloc(nm * sizeof(float));
  r.gacc = malloc(nm * sizeof(double));
  if (!r.theta || !r.m || !r.v || !r.xi || !r.eps || !r.tpm || !r.states || !r.episode || !r.loss ||
      !r.done || !r.st || !r.msg || !r.g || !r.gacc) {
    run_free(&r);
    return wsk__fail(WSK_ERR_NOMEM, "ES: out of memory for %zu tasks", n);
  }
  memcpy(r.theta, meta, nm * sizeof(float));

  wsk_status s = WSK_OK;
  struct stat sb;
  int resumed = 0;
  if (c->checkpoint && stat(c->checkpoint, &sb) == 0) {
    s = ckpt_read(&r, c->checkpoint);
    resumed = s == WSK_OK;
  }
  if (s == WSK_OK && !resumed && c->steps > 0) {
    /* a fresh start: each problem's first episode, staggered (model/es.h) */
    s = for_each(&r, n, warmup_task);
    if (s == WSK_OK) s = first_fail(&r, np);
  }
  int64_t written = resumed ? r.step : -1;
  while (s == WSK_OK && r.step < c->steps) {
    double loss, gnorm;
    s = meta_step(&r, &loss, &gnorm);
    if (s != WSK_OK) break;
    if (c->on_step) c->on_step(c->on_step_arg, r.step, loss, gnorm);
    if (c->checkpoint && c->checkpoint_every > 0 && r.step % c->checkpoint_every == 0) {
      s = ckpt_write(&r, c->checkpoint);
      written = r.step;
    }
  }
  if (s == WSK_OK && c->checkpoint && written != r.step && (resumed || c->steps > 0))
    s = ckpt_write(&r, c->checkpoint);
  if (s == WSK_OK) memcpy(meta, r.theta, nm * sizeof(float));
  run_free(&r);
  return s;
}
