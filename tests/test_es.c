/* tests/test_es.c — persistent evolution strategies (model/es.h) on toy
 * inner problems.
 *
 * - "target": the unroll loss is |theta - target|^2 whatever the state (a
 *   noise-free quadratic): over 50 meta-steps the mean antithetic loss falls
 *   below a tenth of its start; the first gradient estimate (32 pairs,
 *   8 meta-parameters) has cosine > 0.5 with the true gradient 2 (theta - t);
 * - "descent": a stateful problem (inner gradient descent on a random
 *   quadratic with noisy gradients, meta = log learning rate and a
 *   momentum-like mixing): the mean loss falls, the bits are the same for 1
 *   and 2 threads and when the problem has fewer scratch slots than the pool
 *   (serial fallback);
 * - checkpoints: 6 steps straight == 3 steps + a fresh call that resumes to
 *   6 == 6 steps with a checkpoint every step (meta bits); a truncated or
 *   corrupted file is WSK_ERR_FORMAT naming the path; another sigma or
 *   another problem fingerprint is WSK_ERR_ARG naming the field;
 * - a loss that turns NaN for some perturbations never reaches theta;
 * - bad arguments;
 * - model/unf_meta.h on the MLP task with a tiny synthetic dataset: SGDM
 *   lowers the training loss over 40 steps; ES runs on it (SGDM: 4 meta-steps,
 *   UNF: 2 meta-steps on a horizon of 6) with the same bits for 1 and 2
 *   threads and a resumed checkpoint of the problem.
 */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/es.h"
#include "model/lopt.h"
#include "model/rng.h"
#include "model/unf_meta.h"
#include "model/unf_task.h"
#include "testutil.h"

#define D 8

/* ---- the "target" problem ---------------------------------------------------------------- */

typedef struct tgt_state {
  int64_t t;
} tgt_state;

typedef struct tgt_ctx {
  float target[D];
  float cliff; /* theta[0] above it: NaN loss (0: none) */
} tgt_ctx;

static wsk_status tgt_reset(void *ctx, int thread, uint64_t seed, void *state) {
  (void)ctx, (void)thread, (void)seed;
  ((tgt_state *)state)->t = 0;
  return WSK_OK;
}

static wsk_status tgt_unroll(void *ctx, int thread, const float *meta, void *state, int steps,
                             double *loss, int *done) {
  (void)thread;
  const tgt_ctx *c = ctx;
  tgt_state *s = state;
  double l = 0;
  for (int k = 0; k < D; k++) {
    const double d = (double)meta[k] - (double)c->target[k];
    l += d * d;
  }
  if (c->cliff != 0 && meta[0] > c->cliff) l = NAN;
  s->t += steps;
  *loss = l;
  *done = s->t >= 100;
  return WSK_OK;
}

static void tgt_problem(tgt_ctx *c, wsk_es_problem *p) {
  for (int k = 0; k < D; k++) c->target[k] = 0.05f * (float)(k - 3);
  c->cliff = 0;
  memset(p, 0, sizeof *p);
  p->n_meta = D;
  p->state_bytes = sizeof(tgt_state);
  p->ctx = c;
  p->threads_max = 64;
  p->horizon = 100;
  p->fingerprint = 1;
  p->reset = tgt_reset;
  p->unroll = tgt_unroll;
}

typedef struct trace {
  double first, last;
  int64_t steps;
  float g1[D];
} trace;

static void on_step(void *arg, int64_t step, double loss, double gnorm) {
  trace *t = arg;
  assert_true(isfinite(gnorm));
  if (step == 1) t->first = loss;
  t->last = loss;
  t->steps = step;
}

static void on_grad(void *arg, int64_t step, const float *g, size_t n) {
  trace *t = arg;
  assert_int_equal(n, D);
  if (step == 1) memcpy(t->g1, g, sizeof t->g1);
}

static void test_target_descends(void **state) {
  (void)state;
  tgt_ctx ctx;
  wsk_es_problem p;
  tgt_problem(&ctx, &p);
  wsk_es_config c;
  wsk_es_config_default(&c);
  c.tasks = 8;
  c.truncation = 10;
  c.steps = 50;
  c.lr = 0.02f;
  c.seed = 7;
  trace t = {0};
  c.on_step = on_step;
  c.on_step_arg = &t;
  float meta[D];
  for (int k = 0; k < D; k++) meta[k] = 0.3f;
  assert_int_equal(wsk_es_train(&p, &c, meta), WSK_OK);
  assert_int_equal(t.steps, 50);
  print_message("target: loss %.4g -> %.4g\n", t.first, t.last);
  assert_true(t.last < 0.1 * t.first);
}

static void test_gradient_cosine(void **state) {
  (void)state;
  tgt_ctx ctx;
  wsk_es_problem p;
  tgt_problem(&ctx, &p);
  wsk_es_config c;
  wsk_es_config_default(&c);
  c.tasks = 32;
  c.truncation = 10;
  c.steps = 1;
  c.clip = 0;
  c.seed = 3;
  trace t = {0};
  c.on_grad = on_grad;
  c.on_step_arg = &t;
  float meta[D], theta0[D];
  for (int k = 0; k < D; k++) meta[k] = theta0[k] = 0.1f * (float)((k * 5) % 7) - 0.2f;
  assert_int_equal(wsk_es_train(&p, &c, meta), WSK_OK);
  double dot = 0, na = 0, nb = 0;
  for (int k = 0; k < D; k++) {
    const double tg = 2.0 * ((double)theta0[k] - (double)ctx.target[k]);
    dot += tg * t.g1[k];
    na += tg * tg;
    nb += (double)t.g1[k] * t.g1[k];
  }
  const double cosine = dot / sqrt(na * nb);
  print_message("cosine(PES estimate, true gradient) = %.3f\n", cosine);
  assert_true(cosine > 0.5);
}

/* A loss that is NaN for theta[0] beyond a cliff next to the start: the
 * particles that cross it count as WSK_ES_BAD_LOSS, theta stays finite. */
static void test_nonfinite_loss(void **state) {
  (void)state;
  tgt_ctx ctx;
  wsk_es_problem p;
  tgt_problem(&ctx, &p);
  ctx.cliff = 0.305f;
  wsk_es_config c;
  wsk_es_config_default(&c);
  c.tasks = 4;
  c.truncation = 10;
  c.steps = 20;
  c.lr = 0.01f;
  float meta[D];
  for (int k = 0; k < D; k++) meta[k] = 0.3f;
  assert_int_equal(wsk_es_train(&p, &c, meta), WSK_OK);
  for (int k = 0; k < D; k++) assert_true(isfinite(meta[k]));
  assert_true(meta[0] < 0.3f); /* pushed away from the cliff (and towards the target) */
}

/* ---- the "descent" problem: inner SGD on a random quadratic --------------------------- */

#define DIM 6
#define HORIZON 40
typedef struct dsc_state {
  float w[DIM], c[DIM], m[DIM];
  int32_t t, pad;
  wsk_rng rng;
} dsc_state;

typedef struct dsc_ctx {
  int slots;
  int *busy; /* [slots]: a slot is never used by two unrolls at once */
  int clash; /* set when one was (or a slot was out of range); checked after */
} dsc_ctx;

static wsk_status dsc_reset(void *ctx, int thread, uint64_t seed, void *state) {
  (void)ctx, (void)thread;
  dsc_state *s = state;
  memset(s, 0, sizeof *s);
  wsk_rng_seed(&s->rng, seed, 0);
  for (int k = 0; k < DIM; k++) {
    const float a = wsk_rng_range(&s->rng, -1, 1);
    s->w[k] = a;
    const float b = wsk_rng_range(&s->rng, -1, 1);
    s->c[k] = b;
  }
  return WSK_OK;
}

/* meta = [log lr, momentum logit]: m = mu m + grad, w -= lr m; loss = mean
 * of |w - c|^2 before each step; the gradient has N(0, 0.1^2) noise. */
static wsk_status dsc_unroll(void *ctx, int thread, const float *meta, void *state, int steps,
                             double *loss, int *done) {
  dsc_ctx *c = ctx;
  if (thread < 0 || thread >= c->slots) {
    c->clash = 1;
    return WSK_ERR_ARG;
  }
  if (c->busy[thread]++ != 0) c->clash = 1;
  dsc_state *s = state;
  const float lr = expf(meta[0]);
  const float mu = 0.5f * tanhf(meta[1]) + 0.5f;
  double l = 0;
  int k = 0;
  for (; k < steps && s->t < HORIZON; k++, s->t++) {
    double lt = 0;
    for (int j = 0; j < DIM; j++) {
      const float d = s->w[j] - s->c[j];
      lt += (double)d * d;
      const float z = wsk_rng_normal(&s->rng);
      const float g = 2.0f * d + 0.1f * z;
      s->m[j] = mu * s->m[j] + g;
      s->w[j] = s->w[j] - lr * s->m[j];
    }
    l += lt;
  }
  *loss = k ? l / k : 0;
  *done = s->t >= HORIZON;
  c->busy[thread]--;
  return WSK_OK;
}

static void dsc_problem(dsc_ctx *c, int slots, wsk_es_problem *p) {
  c->slots = slots;
  c->clash = 0;
  c->busy = calloc((size_t)slots, sizeof(int));
  assert_non_null(c->busy);
  memset(p, 0, sizeof *p);
  p->n_meta = 2;
  p->state_bytes = sizeof(dsc_state);
  p->ctx = c;
  p->threads_max = slots;
  p->horizon = HORIZON;
  p->fingerprint = 2;
  p->reset = dsc_reset;
  p->unroll = dsc_unroll;
}

static void dsc_config(wsk_es_config *c, int64_t steps) {
  wsk_es_config_default(c);
  c->tasks = 6;
  c->truncation = 5;
  c->steps = steps;
  c->lr = 0.03f;
  c->sigma = 0.05f;
  c->seed = 11;
}

static void dsc_meta(float *m) {
  m[0] = logf(0.02f);
  m[1] = 0.0f;
}

static void test_descent_threads(void **state) {
  (void)state;
  dsc_ctx ctx;
  wsk_es_problem p;
  dsc_problem(&ctx, 8, &p);
  wsk_es_config c;
  dsc_config(&c, 30);
  trace t = {0};
  c.on_step = on_step;
  c.on_step_arg = &t;
  float m1[2], m2[2], m3[2];
  dsc_meta(m1);
  dsc_meta(m2);
  dsc_meta(m3);
  assert_int_equal(wsk_threads_set_count(1), WSK_OK);
  assert_int_equal(wsk_es_train(&p, &c, m1), WSK_OK);
  print_message("descent: loss %.4g -> %.4g, lr %.4g\n", t.first, t.last, (double)expf(m1[0]));
  assert_true(t.last < 0.7 * t.first);
  assert_true(m1[0] > logf(0.02f)); /* a larger step size helps */
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
  assert_int_equal(wsk_es_train(&p, &c, m2), WSK_OK);
  tu_assert_bits(m1, m2, 2, "meta, 1 vs 2 threads");
  p.threads_max = 1; /* the serial fallback */
  assert_int_equal(wsk_es_train(&p, &c, m3), WSK_OK);
  tu_assert_bits(m1, m3, 2, "meta, serial fallback");
  assert_int_equal(ctx.clash, 0);
  free(ctx.busy);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static char g_dir[64];

static void ckpt_path(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", g_dir, name);
}

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  void *b = malloc(*n);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void expect_error(wsk_status got, wsk_status want, const char *a, const char *b) {
  assert_int_equal(got, want);
  const char *msg = wsk_last_error();
  if (!strstr(msg, a) || (b && !strstr(msg, b))) {
    print_error("message '%s' lacks '%s' / '%s'\n", msg, a, b ? b : "");
    fail();
  }
}

static void test_checkpoint_resume(void **state) {
  (void)state;
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
  dsc_ctx ctx;
  wsk_es_problem p;
  dsc_problem(&ctx, 8, &p);
  char a[128], b[128];
  ckpt_path(a, sizeof a, "resume.es");
  ckpt_path(b, sizeof b, "every.es");
  unlink(a);
  unlink(b);

  wsk_es_config c;
  float straight[2], resumed[2], every[2], copy[2];
  dsc_config(&c, 6);
  dsc_meta(straight);
  assert_int_equal(wsk_es_train(&p, &c, straight), WSK_OK);

  dsc_config(&c, 3);
  c.checkpoint = a;
  dsc_meta(resumed);
  assert_int_equal(wsk_es_train(&p, &c, resumed), WSK_OK);
  assert_int_equal(access(a, F_OK), 0);
  dsc_meta(resumed); /* a fresh call: the checkpoint carries the state */
  trace t = {0};
  c.on_step = on_step;
  c.on_step_arg = &t;
  c.steps = 6;
  assert_int_equal(wsk_es_train(&p, &c, resumed), WSK_OK);
  assert_int_equal(t.steps, 6);
  tu_assert_bits(straight, resumed, 2, "meta, 6 straight vs 3 + resumed 3");

  /* a checkpoint at its steps already: the meta-parameters, no steps */
  t.steps = 0;
  dsc_meta(copy);
  assert_int_equal(wsk_es_train(&p, &c, copy), WSK_OK);
  assert_int_equal(t.steps, 0);
  tu_assert_bits(straight, copy, 2, "meta from a finished checkpoint");

  dsc_config(&c, 6);
  c.checkpoint = b;
  c.checkpoint_every = 1;
  dsc_meta(every);
  assert_int_equal(wsk_es_train(&p, &c, every), WSK_OK);
  tu_assert_bits(straight, every, 2, "meta, checkpoint every step");

  /* another config, another problem */
  dsc_config(&c, 8);
  c.checkpoint = a;
  c.sigma = 0.04f;
  dsc_meta(copy);
  expect_error(wsk_es_train(&p, &c, copy), WSK_ERR_ARG, a, "sigma");
  c.sigma = 0.05f;
  c.tasks = 5;
  expect_error(wsk_es_train(&p, &c, copy), WSK_ERR_ARG, a, "tasks");
  c.tasks = 6;
  p.fingerprint = 99;
  expect_error(wsk_es_train(&p, &c, copy), WSK_ERR_ARG, a, "fingerprint");
  p.fingerprint = 2;

  /* damaged files */
  size_t n;
  unsigned char *bytes = read_bytes(a, &n);
  write_bytes(a, bytes, n / 2);
  expect_error(wsk_es_train(&p, &c, copy), WSK_ERR_FORMAT, a, "damaged");
  write_bytes(a, bytes, 20);
  expect_error(wsk_es_train(&p, &c, copy), WSK_ERR_FORMAT, a, NULL);
  bytes[n / 2] ^= 0x10;
  write_bytes(a, bytes, n);
  expect_error(wsk_es_train(&p, &c, copy), WSK_ERR_FORMAT, a, "checksum");
  bytes[n / 2] ^= 0x10;
  bytes[0] = 'X';
  write_bytes(a, bytes, n);
  expect_error(wsk_es_train(&p, &c, copy), WSK_ERR_FORMAT, a, "not a wsk ES checkpoint");
  bytes[0] = 'W';
  write_bytes(a, bytes, n); /* intact again: resumes */
  assert_int_equal(wsk_es_train(&p, &c, copy), WSK_OK);
  free(bytes);
  unlink(a);
  unlink(b);
  free(ctx.busy);
}

static void test_bad_args(void **state) {
  (void)state;
  tgt_ctx ctx;
  wsk_es_problem p;
  tgt_problem(&ctx, &p);
  wsk_es_config c;
  wsk_es_config_default(&c);
  c.steps = 1;
  float meta[D] = {0};
  assert_int_equal(wsk_es_train(NULL, &c, meta), WSK_ERR_NULL);
  assert_int_equal(wsk_es_train(&p, NULL, meta), WSK_ERR_NULL);
  assert_int_equal(wsk_es_train(&p, &c, NULL), WSK_ERR_NULL);
  c.tasks = 0;
  expect_error(wsk_es_train(&p, &c, meta), WSK_ERR_ARG, "tasks", NULL);
  c.tasks = 2;
  c.sigma = 0;
  expect_error(wsk_es_train(&p, &c, meta), WSK_ERR_ARG, "sigma", NULL);
  c.sigma = 0.01f;
  p.unroll = NULL;
  assert_int_equal(wsk_es_train(&p, &c, meta), WSK_ERR_NULL);
  p.unroll = tgt_unroll;
  c.checkpoint = "/nonexistent-dir/x.es";
  assert_int_equal(wsk_es_train(&p, &c, meta), WSK_ERR_IO);
  for (int k = 0; k < D; k++) assert_true(meta[k] == 0.0f); /* untouched on failure */
}

/* ---- the learned optimizer's inner problem ------------------------------------------------ */

/* 10 classes of 8 x 8 images: noise in [0, 0.3) plus 0.6 on the pixels p with
 * p % 10 == label (linearly separable). */
static void make_data(wsk_dataset *d, size_t n, uint64_t seed) {
  tu_rng r = {seed};
  d->n = n;
  d->rows = d->cols = 8;
  d->x = malloc(n * 64 * sizeof(float));
  d->y = malloc(n);
  assert_true(d->x && d->y);
  for (size_t i = 0; i < n; i++) {
    d->y[i] = (uint8_t)tu_int(&r, 0, 9);
    for (int p = 0; p < 64; p++) {
      const float noise = tu_uniform(&r, 0.0f, 0.3f);
      d->x[i * 64 + p] = noise + (p % 10 == d->y[i] ? 0.6f : 0.0f);
    }
  }
}

typedef struct meta_fixture {
  wsk_dataset d;
  wsk_task task;
  wsk_unf_spec spec;
} meta_fixture;

static void fixture(meta_fixture *f) {
  make_data(&f->d, 200, 77);
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &f->d, 32, &f->task), WSK_OK);
  assert_int_equal(wsk_unf_spec_builtin(f->task.spec, &f->spec), WSK_OK);
}

static void test_unf_meta_sgdm(void **state) {
  (void)state;
  meta_fixture f;
  fixture(&f);
  wsk_lopt o;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_SGDM, &f.spec, &o), WSK_OK);
  float meta[2];
  assert_int_equal(wsk_lopt_init_meta(&o, NULL, meta), WSK_OK);
  wsk_unf_meta *m;
  assert_int_equal(wsk_unf_meta_create(&f.task, &o, 20, 2, &m), WSK_OK);
  float curve[40];
  double fin;
  assert_int_equal(wsk_unf_meta_run(m, meta, 5, 40, curve, &fin), WSK_OK);
  double first = 0;
  for (int k = 0; k < 5; k++) first += curve[k] / 5.0;
  print_message("unf_meta SGDM: loss %.4f (first 5 steps) -> %.4f (last 10)\n", first, fin);
  assert_true(fin < 0.8 * first);
  float again[40];
  assert_int_equal(wsk_unf_meta_run(m, meta, 5, 40, again, NULL), WSK_OK);
  tu_assert_bits(curve, again, 40, "the same run twice");

  /* ES on the problem: 1 and 2 threads, and 2 + resumed 2 steps */
  const wsk_es_problem *p = wsk_unf_meta_problem(m);
  assert_int_equal(p->n_meta, 2);
  wsk_es_config c;
  wsk_es_config_default(&c);
  c.tasks = 4;
  c.truncation = 5;
  c.steps = 4;
  c.seed = 1;
  c.lr = 0.05f;
  float m1[2], m2[2], m3[2];
  memcpy(m1, meta, sizeof m1);
  memcpy(m2, meta, sizeof m2);
  memcpy(m3, meta, sizeof m3);
  assert_int_equal(wsk_threads_set_count(1), WSK_OK);
  assert_int_equal(wsk_es_train(p, &c, m1), WSK_OK);
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
  assert_int_equal(wsk_es_train(p, &c, m2), WSK_OK);
  tu_assert_bits(m1, m2, 2, "unf_meta SGDM ES, 1 vs 2 threads");
  assert_true(m1[0] != meta[0]);
  char path[128];
  snprintf(path, sizeof path, "%s/sgdm.es", g_dir);
  unlink(path);
  c.checkpoint = path;
  c.steps = 2;
  assert_int_equal(wsk_es_train(p, &c, m3), WSK_OK);
  memcpy(m3, meta, sizeof m3);
  c.steps = 4;
  assert_int_equal(wsk_es_train(p, &c, m3), WSK_OK);
  tu_assert_bits(m1, m3, 2, "unf_meta SGDM ES, 2 + resumed 2 steps");
  unlink(path);
  wsk_unf_meta_free(m);

  /* another optimizer's spec size, bad arguments */
  wsk_unf_spec rnn;
  assert_int_equal(wsk_unf_spec_builtin("rnn", &rnn), WSK_OK);
  wsk_lopt o2;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_SGDM, &rnn, &o2), WSK_OK);
  assert_int_equal(wsk_unf_meta_create(&f.task, &o2, 20, 1, &m), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "rnn"));
  assert_int_equal(wsk_unf_meta_create(&f.task, &o, 0, 1, &m), WSK_ERR_ARG);
  assert_int_equal(wsk_unf_meta_create(NULL, &o, 10, 1, &m), WSK_ERR_NULL);
  wsk_lopt_free(&o2);
  wsk_lopt_free(&o);
  free(f.d.x);
  free(f.d.y);
}

static void test_unf_meta_unf_es(void **state) {
  (void)state;
  meta_fixture f;
  fixture(&f);
  wsk_lopt o;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_UNF, &f.spec, &o), WSK_OK);
  float *m0 = malloc(o.n_meta * sizeof(float)), *m1 = malloc(o.n_meta * sizeof(float));
  float *m2 = malloc(o.n_meta * sizeof(float));
  assert_true(m0 && m1 && m2);
  wsk_rng rng;
  wsk_rng_seed(&rng, 8, 0);
  assert_int_equal(wsk_lopt_init_meta(&o, &rng, m0), WSK_OK);
  wsk_unf_meta *m;
  assert_int_equal(wsk_unf_meta_create(&f.task, &o, 6, 2, &m), WSK_OK);
  wsk_es_config c;
  wsk_es_config_default(&c);
  c.tasks = 2;
  c.truncation = 3;
  c.steps = 2;
  c.seed = 4;
  memcpy(m1, m0, o.n_meta * sizeof(float));
  memcpy(m2, m0, o.n_meta * sizeof(float));
  assert_int_equal(wsk_threads_set_count(1), WSK_OK);
  assert_int_equal(wsk_es_train(wsk_unf_meta_problem(m), &c, m1), WSK_OK);
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
  assert_int_equal(wsk_es_train(wsk_unf_meta_problem(m), &c, m2), WSK_OK);
  tu_assert_bits(m1, m2, o.n_meta, "unf_meta UNF ES, 1 vs 2 threads");
  size_t changed = 0;
  for (size_t i = 0; i < o.n_meta; i++) {
    assert_true(isfinite(m1[i]));
    changed += m1[i] != m0[i];
  }
  assert_true(changed > o.n_meta / 2);
  wsk_unf_meta_free(m);
  free(m0);
  free(m1);
  free(m2);
  wsk_lopt_free(&o);
  free(f.d.x);
  free(f.d.y);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/wsk_test_es_XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **state) {
  (void)state;
  return rmdir(g_dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_target_descends),   cmocka_unit_test(test_gradient_cosine),
      cmocka_unit_test(test_nonfinite_loss),    cmocka_unit_test(test_descent_threads),
      cmocka_unit_test(test_checkpoint_resume), cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_unf_meta_sgdm),     cmocka_unit_test(test_unf_meta_unf_es),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
