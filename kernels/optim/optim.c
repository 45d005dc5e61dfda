/* kernels/optim/optim.c — the public entry points of the optim family
 * (include/wsk/optim.h): argument checks, the per-call constants (derived
 * in double and rounded once to float, as wsk/optim.h defines), and the call
 * through the dispatch table, spread over the thread pool in contiguous
 * chunks for large n. Every element (or MLP row) is computed whole by one
 * task with the same steps, so the thread count changes no bit. Built with
 * baseline flags; the arithmetic lives in optim-<isa>.c. */
#include <stdint.h>

#include "dispatch/error.h"
#include "kernels/ukernels.h"
#include "wsk/threads.h"

/* elements per task of the updates and the features; rows per task of the
 * MLP and of the row dot product (multiples of the SIMD tile of 16 rows).
 * Smaller n runs as one task on the calling thread. */
enum { OPTIM_CHUNK = 1 << 15, MLP_CHUNK = 1 << 10, ROWDOT_CHUNK = 1 << 13 };

typedef struct span {
  const char *name;
  const void *p;
  size_t floats;
  int out;
} span;

static wsk_status check_count(const char *fn, const char *what, int64_t v, size_t per) {
  if (v < 1) return wsk__fail(WSK_ERR_SIZE, "%s: %s = %lld, must be >= 1", fn, what, (long long)v);
  if ((uint64_t)v > (uint64_t)PTRDIFF_MAX / sizeof(float) / per)
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: %s = %lld overflows", fn, what, (long long)v);
  return WSK_OK;
}

/* NULLs, then any overlap that involves an output */
static wsk_status check_spans(const char *fn, const span *s, int count) {
  for (int i = 0; i < count; i++)
    if (!s[i].p) return wsk__fail(WSK_ERR_NULL, "%s: %s is NULL", fn, s[i].name);
  for (int i = 0; i < count; i++)
    for (int j = i + 1; j < count; j++) {
      if (!s[i].out && !s[j].out) continue;
      const uintptr_t a0 = (uintptr_t)s[i].p, b0 = (uintptr_t)s[j].p;
      const uintptr_t a1 = a0 + s[i].floats * sizeof(float), b1 = b0 + s[j].floats * sizeof(float);
      if (a0 < b1 && b0 < a1)
        return wsk__fail(WSK_ERR_ARG, "%s: %s and %s overlap", fn, s[i].name, s[j].name);
    }
  return WSK_OK;
}

/* ---- SGD ---- */

typedef struct sgd_job {
  const wsk_optim_ukernels *t;
  size_t n;
  float *w, *m;
  const float *g;
  wsk_optim_sgd_k k;
} sgd_job;

static void sgd_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const sgd_job *j = ctx;
  const size_t i0 = index * OPTIM_CHUNK, len = j->n - i0 < OPTIM_CHUNK ? j->n - i0 : OPTIM_CHUNK;
  j->t->sgd(len, j->w + i0, j->g + i0, j->m + i0, &j->k);
}

wsk_status wsk__sgd_with(const wsk_optim_ukernels *t, size_t n, float *w, const float *g, float *m,
                         const wsk_sgd_params *p) {
  sgd_job j = {t, n, w, m, g, {-p->lr, p->momentum, p->weight_decay, p->weight_decay != 0.0f}};
  return wsk_parallel_for((n + OPTIM_CHUNK - 1) / OPTIM_CHUNK, sgd_task, &j);
}

wsk_status wsk_sgd_momentum(int64_t n, float *w, const float *g, float *m,
                            const wsk_sgd_params *p) {
  const char *fn = "wsk_sgd_momentum";
  if (!p) return wsk__fail(WSK_ERR_NULL, "%s: params is NULL", fn);
  WSK_TRY(check_count(fn, "n", n, 1));
  const span s[] = {{"w", w, (size_t)n, 1}, {"g", g, (size_t)n, 0}, {"m", m, (size_t)n, 1}};
  WSK_TRY(check_spans(fn, s, 3));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__sgd_with(wsk__optim_table(), (size_t)n, w, g, m, p);
}

/* ---- Adam ---- */

/* b^t by binary powering: IEEE double multiplications in a fixed order */
static double powi(double b, int64_t t) {
  double r = 1.0;
  while (t > 0) {
    if (t & 1) r *= b;
    b *= b;
    t >>= 1;
  }
  return r;
}

void wsk__adam_constants(const wsk_adam_params *p, wsk_optim_adam_k *k) {
  const double bc1 = 1.0 - powi((double)p->beta1, p->step);
  const double bc2 = 1.0 - powi((double)p->beta2, p->step);
  k->b1 = p->beta1;
  k->b2 = p->beta2;
  k->omb1 = (float)(1.0 - (double)p->beta1);
  k->omb2 = (float)(1.0 - (double)p->beta2);
  k->c2 = (float)(1.0 / bc2);
  k->eps = p->eps;
  k->neg_a = -(float)((double)p->lr / bc1);
  k->wd = p->weight_decay;
  k->d = (float)(1.0 - (double)p->lr * (double)p->weight_decay);
  k->l2 = !p->decoupled && p->weight_decay != 0.0f;
  k->decay = p->decoupled && p->weight_decay != 0.0f;
}

typedef struct adam_job {
  const wsk_optim_ukernels *t;
  size_t n;
  float *w, *m, *v;
  const float *g;
  wsk_optim_adam_k k;
} adam_job;

static void adam_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const adam_job *j = ctx;
  const size_t i0 = index * OPTIM_CHUNK, len = j->n - i0 < OPTIM_CHUNK ? j->n - i0 : OPTIM_CHUNK;
  j->t->adam(len, j->w + i0, j->g + i0, j->m + i0, j->v + i0, &j->k);
}

wsk_status wsk__adam_with(const wsk_optim_ukernels *t, size_t n, float *w, const float *g, float *m,
                          float *v, const wsk_adam_params *p) {
  adam_job j;
  j.t = t;
  j.n = n;
  j.w = w;
  j.m = m;
  j.v = v;
  j.g = g;
  wsk__adam_constants(p, &j.k);
  return wsk_parallel_for((n + OPTIM_CHUNK - 1) / OPTIM_CHUNK, adam_task, &j);
}

wsk_status wsk_adam(int64_t n, float *w, const float *g, float *m, float *v,
                    const wsk_adam_params *p) {
  const char *fn = "wsk_adam";
  if (!p) return wsk__fail(WSK_ERR_NULL, "%s: params is NULL", fn);
  if (p->step < 1)
    return wsk__fail(WSK_ERR_ARG, "%s: step = %lld, must be >= 1", fn, (long long)p->step);
  WSK_TRY(check_count(fn, "n", n, 1));
  const span s[] = {{"w", w, (size_t)n, 1},
                    {"g", g, (size_t)n, 0},
                    {"m", m, (size_t)n, 1},
                    {"v", v, (size_t)n, 1}};
  WSK_TRY(check_spans(fn, s, 4));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__adam_with(wsk__optim_table(), (size_t)n, w, g, m, v, p);
}

/* ---- MLP ---- */

typedef struct mlp_job {
  const wsk_optim_ukernels *t;
  const wsk_mlp3 *net;
  size_t n;
  const float *x;
  float *y;
} mlp_job;

static void mlp_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const mlp_job *j = ctx;
  const size_t r0 = index * MLP_CHUNK, len = j->n - r0 < MLP_CHUNK ? j->n - r0 : MLP_CHUNK;
  j->t->mlp(j->net, len, j->x + r0 * (size_t)j->net->f, j->y + r0 * (size_t)j->net->o);
}

wsk_status wsk__mlp3_with(const wsk_optim_ukernels *t, const wsk_mlp3 *net, size_t n,
                          const float *x, float *y) {
  mlp_job j = {t, net, n, x, y};
  return wsk_parallel_for((n + MLP_CHUNK - 1) / MLP_CHUNK, mlp_task, &j);
}

wsk_status wsk_mlp3_forward(const wsk_mlp3 *net, int64_t n, const float *x, float *y) {
  const char *fn = "wsk_mlp3_forward";
  if (!net) return wsk__fail(WSK_ERR_NULL, "%s: net is NULL", fn);
  const int64_t wd[4] = {net->f, net->h1, net->h2, net->o};
  static const char *const wn[4] = {"f", "h1", "h2", "o"};
  for (int i = 0; i < 4; i++) {
    if (wd[i] < 1 || wd[i] > WSK_MLP_MAXW)
      return wsk__fail(WSK_ERR_SIZE, "%s: %s = %lld, must be 1..%d", fn, wn[i], (long long)wd[i],
                       (int)WSK_MLP_MAXW);
  }
  WSK_TRY(check_count(fn, "n", n, (size_t)WSK_MLP_MAXW));
  const size_t f = (size_t)net->f, h1 = (size_t)net->h1, h2 = (size_t)net->h2, o = (size_t)net->o;
  const span s[] = {{"y", y, (size_t)n * o, 1},  {"x", x, (size_t)n * f, 0},
                    {"w1", net->w1, f * h1, 0},  {"b1", net->b1, h1, 0},
                    {"w2", net->w2, h1 * h2, 0}, {"b2", net->b2, h2, 0},
                    {"w3", net->w3, h2 * o, 0},  {"b3", net->b3, o, 0}};
  WSK_TRY(check_spans(fn, s, 8));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__mlp3_with(wsk__optim_table(), net, (size_t)n, x, y);
}

/* ---- the learned optimizer's features ---- */

typedef struct feat_job {
  const wsk_optim_ukernels *t;
  size_t n, nmom, ldx;
  const float *w, *g, *gamma, *omg;
  float *mom, *x;
} feat_job;

static void feat_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const feat_job *j = ctx;
  const size_t i0 = index * OPTIM_CHUNK, len = j->n - i0 < OPTIM_CHUNK ? j->n - i0 : OPTIM_CHUNK;
  j->t->lopt_features(len, j->w + i0, j->g + i0, j->nmom, j->gamma, j->omg, j->mom + i0, j->n,
                      j->x + i0 * j->ldx, j->ldx);
}

wsk_status wsk__lopt_features_with(const wsk_optim_ukernels *t, size_t n, const float *w,
                                   const float *g, size_t nmom, const float *gamma,
                                   const float *omg, float *mom, float *x, size_t ldx) {
  feat_job j = {t, n, nmom, ldx, w, g, gamma, omg, mom, x};
  return wsk_parallel_for((n + OPTIM_CHUNK - 1) / OPTIM_CHUNK, feat_task, &j);
}

wsk_status wsk_lopt_features(int64_t n, const float *w, const float *g, int nmom,
                             const float *gamma, const float *omg, float *mom, float *x,
                             int64_t ldx) {
  const char *fn = "wsk_lopt_features";
  if (nmom < 1 || nmom > WSK_LOPT_MAXMOM)
    return wsk__fail(WSK_ERR_SIZE, "%s: nmom = %d, must be 1..%d", fn, nmom, (int)WSK_LOPT_MAXMOM);
  if (ldx < 2 + nmom)
    return wsk__fail(WSK_ERR_SIZE, "%s: ldx = %lld, must be >= 2 + nmom = %d", fn, (long long)ldx,
                     2 + nmom);
  if ((uint64_t)ldx > (uint64_t)PTRDIFF_MAX / sizeof(float))
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: ldx = %lld overflows", fn, (long long)ldx);
  WSK_TRY(check_count(fn, "n", n, (size_t)ldx > (size_t)nmom ? (size_t)ldx : (size_t)nmom));
  const size_t un = (size_t)n, nm = (size_t)nmom;
  const span s[] = {{"mom", mom, nm * un, 1}, {"x", x, (un - 1) * (size_t)ldx + 2 + nm, 1},
                    {"w", w, un, 0},          {"g", g, un, 0},
                    {"gamma", gamma, nm, 0},  {"omg", omg, nm, 0}};
  WSK_TRY(check_spans(fn, s, 6));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__lopt_features_with(wsk__optim_table(), un, w, g, nm, gamma, omg, mom, x, (size_t)ldx);
}

/* ---- the learned optimizer's update ---- */

typedef struct lupd_job {
  const wsk_optim_ukernels *t;
  size_t n;
  float *w, *m0;
  const float *g, *f;
  wsk_optim_lopt_k k;
} lupd_job;

static void lupd_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const lupd_job *j = ctx;
  const size_t i0 = index * OPTIM_CHUNK, len = j->n - i0 < OPTIM_CHUNK ? j->n - i0 : OPTIM_CHUNK;
  j->t->lopt_update(len, j->w + i0, j->g + i0, j->f + i0, j->m0 + i0, &j->k);
}

wsk_status wsk__lopt_update_with(const wsk_optim_ukernels *t, size_t n, float *w, const float *g,
                                 const float *f, float *m0, float alpha, float beta, float gamma0) {
  lupd_job j = {t, n, w, m0, g, f, {-alpha, beta, gamma0}};
  return wsk_parallel_for((n + OPTIM_CHUNK - 1) / OPTIM_CHUNK, lupd_task, &j);
}

wsk_status wsk_lopt_update(int64_t n, float *w, const float *g, const float *f, float *m0,
                           float alpha, float beta, float gamma0) {
  const char *fn = "wsk_lopt_update";
  WSK_TRY(check_count(fn, "n", n, 1));
  const size_t un = (size_t)n;
  const span s[] = {{"w", w, un, 1}, {"m0", m0, un, 1}, {"g", g, un, 0}, {"f", f, un, 0}};
  WSK_TRY(check_spans(fn, s, 4));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__lopt_update_with(wsk__optim_table(), un, w, g, f, m0, alpha, beta, gamma0);
}

/* ---- the row dot product ---- */

typedef struct rowdot_job {
  const wsk_optim_ukernels *t;
  size_t n, k;
  const float *x, *v;
  float b;
  float *y;
} rowdot_job;

static void rowdot_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const rowdot_job *j = ctx;
  const size_t r0 = index * ROWDOT_CHUNK;
  const size_t len = j->n - r0 < ROWDOT_CHUNK ? j->n - r0 : ROWDOT_CHUNK;
  j->t->rowdot(len, j->k, j->x + r0 * j->k, j->v, j->b, j->y + r0);
}

wsk_status wsk__rowdot_with(const wsk_optim_ukernels *t, size_t n, size_t k, const float *x,
                            const float *v, float b, float *y) {
  rowdot_job j = {t, n, k, x, v, b, y};
  return wsk_parallel_for((n + ROWDOT_CHUNK - 1) / ROWDOT_CHUNK, rowdot_task, &j);
}

wsk_status wsk_rowdot(int64_t n, int64_t k, const float *x, const float *v, float b, float *y) {
  const char *fn = "wsk_rowdot";
  if (k < 1 || k > WSK_MLP_MAXW)
    return wsk__fail(WSK_ERR_SIZE, "%s: k = %lld, must be 1..%d", fn, (long long)k,
                     (int)WSK_MLP_MAXW);
  WSK_TRY(check_count(fn, "n", n, (size_t)k));
  const size_t un = (size_t)n, uk = (size_t)k;
  const span s[] = {{"y", y, un, 1}, {"x", x, un * uk, 0}, {"v", v, uk, 0}};
  WSK_TRY(check_spans(fn, s, 3));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__rowdot_with(wsk__optim_table(), un, uk, x, v, b, y);
}
