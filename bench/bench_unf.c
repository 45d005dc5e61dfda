/* bench/bench_unf.c — the learned optimizer of universal neural functionals
 * (model/lopt.h, model/unf_meta.h) on the MLP task (model/unf_task.h):
 *  - unf/meta-step: the work of one persistent-ES meta-step, 16 task
 *    instances x 2 antithetic particles x 50 inner steps (each inner step:
 *    the task's forward and backward on a batch of 128, then one step of the
 *    UNF learned optimizer), the 32 unrolls spread over the pool, one per
 *    thread at a time. Once on one thread and once on every core ("-pool");
 *  - where its time goes, on one thread: unf/task-step (the MLP's forward and
 *    backward, batch 128), unf/lopt-step for the UNF and the Deep Set
 *    optimizer (features, the per-parameter MLP 19-32-32-32, the head, the
 *    update), and unf/layer (the UNF layer 32 -> 1 channel alone).
 * FLOPs: the task's gemm multiply-adds (wsk_task.flops_per_step) and the
 * optimizer's (wsk_lopt_flops_per_step), 2 per multiply-add, so the report
 * sets them against the FMA peak. Runs on the tier the dispatch picks under
 * WSK_ISA (whole-model code has no per-tier table); the data are synthetic
 * 8 x 8 images (the FLOPs do not depend on them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "model/lopt.h"
#include "model/unf_meta.h"
#include "model/unf_task.h"
#include "wsk/threads.h"

enum { OP_META, OP_TASK, OP_LOPT_UNF, OP_LOPT_DEEPSET, OP_LAYER };

typedef struct unf_arg {
  int op, pool;
} unf_arg;

#define TASKS 16
#define TRUNC 50
#define IMAGES 4096

/* The synthetic task and the two optimizers, made once per run. */
typedef struct unf_fixture {
  int ready, failed;
  char why[160];
  wsk_dataset data;
  wsk_task task;
  wsk_unf_spec spec;
  wsk_lopt opt[2]; /* UNF, Deep Set */
  float *meta[2];
} unf_fixture;

static unf_fixture fx;

static int fixture(gb_state *st) {
  if (fx.failed) {
    gb_skip(st, fx.why);
    return 0;
  }
  if (fx.ready) return 1;
  fx.data.n = IMAGES;
  fx.data.rows = fx.data.cols = 8;
  fx.data.x = malloc(IMAGES * 64 * sizeof(float));
  fx.data.y = malloc(IMAGES);
  wsk_status s = (fx.data.x && fx.data.y) ? WSK_OK : WSK_ERR_NOMEM;
  if (s == WSK_OK) {
    wsk_rng r;
    wsk_rng_seed(&r, 7, 0);
    for (size_t i = 0; i < IMAGES * 64; i++) fx.data.x[i] = wsk_rng_uniform(&r);
    for (size_t i = 0; i < IMAGES; i++) fx.data.y[i] = (uint8_t)wsk_rng_below(&r, 10);
    s = wsk_task_make(WSK_TASK_MLP, &fx.data, 0, &fx.task);
  }
  if (s == WSK_OK) s = wsk_unf_spec_builtin(fx.task.spec, &fx.spec);
  for (int k = 0; k < 2 && s == WSK_OK; k++) {
    s = wsk_lopt_make(k == 0 ? WSK_LOPT_UNF : WSK_LOPT_DEEPSET, &fx.spec, &fx.opt[k]);
    if (s == WSK_OK && !(fx.meta[k] = malloc(fx.opt[k].n_meta * sizeof(float)))) s = WSK_ERR_NOMEM;
    wsk_rng r;
    wsk_rng_seed(&r, 1, 2);
    if (s == WSK_OK) s = wsk_lopt_init_meta(&fx.opt[k], &r, fx.meta[k]);
  }
  if (s != WSK_OK) {
    fx.failed = 1;
    snprintf(fx.why, sizeof fx.why, "set-up failed: %s", wsk_last_error());
    gb_skip(st, fx.why);
    return 0;
  }
  fx.ready = 1;
  return 1;
}

typedef struct meta_ctx {
  const wsk_es_problem *p;
  unsigned char *states;
  const float *metas;
  int failed;
} meta_ctx;

/* one particle's unroll of TRUNC inner steps; a finished instance restarts */
static void meta_task(void *vc, size_t i, int thread) {
  meta_ctx *c = vc;
  const wsk_es_problem *p = c->p;
  unsigned char *state = c->states + i * p->state_bytes;
  double loss;
  int done = 0;
  if (p->unroll(p->ctx, thread, c->metas + i * p->n_meta, state, TRUNC, &loss, &done) != WSK_OK)
    c->failed = 1;
  if (done && p->reset(p->ctx, thread, 5000 + i, state) != WSK_OK) c->failed = 1;
}

static void bm_meta(gb_state *st, const unf_arg *a) {
  if (wsk_threads_set_count(a->pool) != WSK_OK) {
    gb_skip(st, wsk_last_error());
    return;
  }
  wsk_unf_meta *um = NULL;
  if (wsk_unf_meta_create(&fx.task, &fx.opt[0], 1000, a->pool, &um) != WSK_OK) {
    gb_skip(st, wsk_last_error());
    wsk_threads_set_count(1);
    return;
  }
  const wsk_es_problem *p = wsk_unf_meta_problem(um);
  const size_t np = 2 * TASKS;
  unsigned char *states = malloc(np * p->state_bytes);
  float *metas = malloc(np * p->n_meta * sizeof(float));
  int ok = states && metas;
  for (size_t i = 0; ok && i < np; i++) {
    ok = p->reset(p->ctx, 0, 1000 + i / 2, states + i * p->state_bytes) == WSK_OK;
    for (size_t j = 0; j < p->n_meta; j++) /* an antithetic pair around the initial meta */
      metas[i * p->n_meta + j] = fx.meta[0][j] + ((i & 1) ? -1e-3f : 1e-3f);
  }
  meta_ctx c = {p, states, metas, 0};
  if (!ok) {
    gb_skip(st, "set-up of the particles failed");
  } else {
    while (gb_keep_running(st)) {
      wsk_parallel_for(np, meta_task, &c);
      gb_clobber_memory();
    }
    if (c.failed) gb_skip(st, "an unroll failed");
  }
  free(states);
  free(metas);
  wsk_unf_meta_free(um);
  wsk_threads_set_count(1);
}

static void bm_unf(gb_state *st, const void *argp) {
  const unf_arg *a = argp;
  wsk_bench_enter(st);
  if (!fixture(st)) return;
  if (a->op == OP_META) {
    bm_meta(st, a);
    return;
  }
  if (wsk_threads_set_count(1) != WSK_OK) {
    gb_skip(st, wsk_last_error());
    return;
  }
  wsk_task_run *run = NULL;
  if (wsk_task_run_create(&fx.task, &run) != WSK_OK || wsk_task_run_reset(run, 3) != WSK_OK) {
    gb_skip(st, wsk_last_error());
    wsk_task_run_free(run);
    return;
  }
  float loss;
  wsk_task_run_loss_grad(run, &loss);
  if (a->op == OP_TASK) {
    while (gb_keep_running(st)) {
      wsk_task_run_loss_grad(run, &loss);
      gb_clobber_memory();
    }
  } else if (a->op == OP_LAYER) {
    const wsk_lopt *o = &fx.opt[0];
    wsk_unf_ws *ws = NULL;
    float *x = malloc(fx.spec.numel * 32 * sizeof(float)),
          *y = malloc(fx.spec.numel * sizeof(float));
    if (!x || !y || wsk_unf_ws_create(&o->layer, &ws) != WSK_OK) {
      gb_skip(st, "set-up failed");
    } else {
      for (size_t i = 0; i < fx.spec.numel * 32; i++) x[i] = (float)(i % 7) * 0.1f;
      while (gb_keep_running(st)) {
        wsk_unf_layer_forward(&o->layer, fx.meta[0] + o->off_head, x, y, ws);
        gb_clobber_memory();
      }
    }
    wsk_unf_ws_free(ws);
    free(x);
    free(y);
  } else {
    const int k = a->op == OP_LOPT_UNF ? 0 : 1;
    wsk_lopt_state *s = NULL;
    if (wsk_lopt_state_create(&fx.opt[k], &s) != WSK_OK) {
      gb_skip(st, wsk_last_error());
    } else {
      while (gb_keep_running(st)) {
        wsk_lopt_step(&fx.opt[k], fx.meta[k], s, run->w, run->g);
        gb_clobber_memory();
      }
    }
    wsk_lopt_state_free(s);
  }
  wsk_task_run_free(run);
}

/* FLOPs of the cases, computed from the same descriptions the model uses */
static double flops_of(int op) {
  wsk_dataset d = {1, 8, 8, NULL, NULL};
  float x[64] = {0};
  uint8_t y = 0;
  d.x = x;
  d.y = &y;
  wsk_task t;
  wsk_unf_spec spec;
  wsk_lopt *o = calloc(2, sizeof *o);
  double f = 0;
  if (o && wsk_task_make(WSK_TASK_MLP, &d, 0, &t) == WSK_OK &&
      wsk_unf_spec_builtin(t.spec, &spec) == WSK_OK &&
      wsk_lopt_make(WSK_LOPT_UNF, &spec, &o[0]) == WSK_OK &&
      wsk_lopt_make(WSK_LOPT_DEEPSET, &spec, &o[1]) == WSK_OK) {
    const double fu = wsk_lopt_flops_per_step(&o[0]), fd = wsk_lopt_flops_per_step(&o[1]);
    switch (op) {
      case OP_META: f = 2.0 * TASKS * TRUNC * (t.flops_per_step + fu); break;
      case OP_TASK: f = t.flops_per_step; break;
      case OP_LOPT_UNF: f = fu; break;
      case OP_LOPT_DEEPSET: f = fd; break;
      default: f = fu - fd + 2.0 * (double)spec.numel * 32; break; /* the UNF head alone */
    }
  }
  if (o) {
    wsk_lopt_free(&o[0]);
    wsk_lopt_free(&o[1]);
  }
  free(o);
  return f;
}

static void add(const wsk_machine *m, int op, const char *name, const char *shape, int pool) {
  wsk_bench_case c;
  memset(&c, 0, sizeof c);
  snprintf(c.family, sizeof c.family, "unf");
  snprintf(c.op, sizeof c.op, "%s%s", name, pool > 1 ? "-pool" : "");
  wsk_isa isa = WSK_ISA_SCALAR;
  wsk_family_isa(WSK_FAMILY_GEMM, &isa);
  snprintf(c.isa, sizeof c.isa, "%s", wsk_isa_name(isa));
  snprintf(c.shape, sizeof c.shape, "%s", shape);
  snprintf(c.level, sizeof c.level, "model");
  c.threads = 1;
  c.flops = flops_of(op);
  c.fma = 1;
  c.pool = pool;
  (void)m;
  const unf_arg a = {op, pool};
  wsk_bench_add(&c, bm_unf, &a, sizeof a);
}

void wsk_bench_register_unf(const wsk_machine *m) {
  add(m, OP_META, "meta-step", "mlp-16x2x50", 1);
  if (m->cores > 1) add(m, OP_META, "meta-step", "mlp-16x2x50", m->cores);
  add(m, OP_TASK, "task-step", "mlp-b128", 1);
  add(m, OP_LOPT_UNF, "lopt-step", "unf-mlp", 1);
  add(m, OP_LOPT_DEEPSET, "lopt-step", "deepset-mlp", 1);
  add(m, OP_LAYER, "layer", "mlp-32x1", 1);
}
