/* bench/bench_optim.c — the optim family on every tier of
 * kernels/optim/optim.inc:
 *  - sgd and adam at footprints that sit in L2, L3 and DRAM (the arrays of
 *    the update together). Bytes are the compulsory traffic: SGD reads w, g,
 *    m and writes w, m (20 bytes a parameter); Adam reads w, g, m, v and
 *    writes w, m, v (28 bytes). FLOPs per parameter: SGD 6 (with weight
 *    decay), Adam 14 (sqrt and division counted as one each);
 *  - the fused MLP at F = 19 inputs, O = 1 output, hidden widths 32 and 64,
 *    on 16384 parameters: FLOPs 2 N (F H1 + H1 H2 + H2 O), all FMAs (c.fma = 1,
 *    so the report gives the % of the tier's FMA peak);
 *  - the learned optimizer's element-wise kernels at model shapes (2,410
 *    parameters: the MLP task's weight space; 16,384; and 262,144, past L2),
 *    all bandwidth-bound, reported against the read/write roof of the level
 *    their footprint sits in:
 *      features, 6 momenta, rows of 19: reads w, g and the momenta, writes
 *        the momenta and 8 columns of x: 4 (2 + 6 + 6 + 8) = 88 bytes and
 *        18 FLOPs (a multiply and an fma per momentum) a parameter;
 *      lupdate: reads w, g, f, m0, writes w, m0: 24 bytes, 6 FLOPs;
 *      rowdot, k = 32 (the Deep Set head): reads a row of x, writes y:
 *        4 (k + 1) bytes and 2 k FLOPs a row (v stays in L1).
 * Every case runs on one thread (the pool set to 1). */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "impls.h"
#include "wsk/threads.h"

enum { OPT_SGD, OPT_ADAM, OPT_MLP, OPT_FEATURES, OPT_LUPDATE, OPT_ROWDOT };

static const float feat_gamma[6] = {0.1f, 0.5f, 0.9f, 0.99f, 0.999f, 0.9999f};
static const float feat_omg[6] = {0.9f, 0.5f, 0.1f, 0.01f, 0.001f, 0.0001f};

typedef struct opt_arg {
  int impl, op;
  size_t n;            /* parameters */
  size_t f, h1, h2, o; /* MLP widths */
} opt_arg;

static void bm_optim(gb_state *st, const void *argp) {
  const opt_arg *a = argp;
  wsk_bench_enter(st);
  const bench_impl *im = &optim_impls[a->impl];
  if (!bench_impl_usable(st, im->isa)) return;
  if (wsk_threads_set_count(1) != WSK_OK) {
    gb_skip(st, wsk_last_error());
    return;
  }
  const wsk_optim_ukernels *t = im->table;
  if (a->op == OPT_MLP) {
    float *x = wsk_bench_buffer(st, 0, a->n * a->f), *y = wsk_bench_buffer(st, 1, a->n * a->o);
    float *w1 = wsk_bench_buffer(st, 2, a->f * a->h1 + a->h1);
    float *w2 = wsk_bench_buffer(st, 3, a->h1 * a->h2 + a->h2);
    float *w3 = wsk_bench_buffer(st, 4, a->h2 * a->o + a->o);
    if (!x || !y || !w1 || !w2 || !w3) {
      gb_skip(st, "out of memory for the buffers");
      return;
    }
    const wsk_mlp3 net = {(int64_t)a->f,
                          (int64_t)a->h1,
                          (int64_t)a->h2,
                          (int64_t)a->o,
                          w1,
                          w1 + a->f * a->h1,
                          w2,
                          w2 + a->h1 * a->h2,
                          w3,
                          w3 + a->h2 * a->o};
    while (gb_keep_running(st)) {
      t->mlp(&net, a->n, x, y);
      gb_clobber_memory();
    }
    return;
  }
  if (a->op == OPT_FEATURES || a->op == OPT_ROWDOT) {
    const size_t k = a->f; /* rowdot's k; features: 6 momenta, rows of 19 */
    float *x = wsk_bench_buffer(st, 0, a->n * (a->op == OPT_ROWDOT ? k : 19));
    float *w = wsk_bench_buffer(st, 1, a->n), *g = wsk_bench_buffer(st, 2, a->n);
    float *mom = wsk_bench_buffer(st, 3, 6 * a->n);
    if (!x || !w || !g || !mom) {
      gb_skip(st, "out of memory for the buffers");
      return;
    }
    if (a->op == OPT_ROWDOT) {
      while (gb_keep_running(st)) {
        t->rowdot(a->n, k, x, g, 0.5f, w);
        gb_clobber_memory();
      }
    } else {
      while (gb_keep_running(st)) {
        t->lopt_features(a->n, w, g, 6, feat_gamma, feat_omg, mom, a->n, x, 19);
        gb_clobber_memory();
      }
    }
    return;
  }
  float *w = wsk_bench_buffer(st, 0, a->n), *g = wsk_bench_buffer(st, 1, a->n);
  float *m = wsk_bench_buffer(st, 2, a->n), *v = wsk_bench_buffer(st, 3, a->n);
  if (!w || !g || !m || !v) {
    gb_skip(st, "out of memory for the buffers");
    return;
  }
  if (a->op == OPT_LUPDATE) {
    const wsk_optim_lopt_k k = {-1e-30f, 1e-3f, 0.9f};
    while (gb_keep_running(st)) {
      t->lopt_update(a->n, w, g, v, m, &k);
      gb_clobber_memory();
    }
  } else if (a->op == OPT_SGD) {
    const wsk_optim_sgd_k k = {-1e-30f, 0.9f, 1e-30f, 1};
    while (gb_keep_running(st)) {
      t->sgd(a->n, w, g, m, &k);
      gb_clobber_memory();
    }
  } else {
    const wsk_adam_params p = {1e-30f, 0.9f, 0.999f, 1e-8f, 1e-30f, 10, 1};
    wsk_optim_adam_k k;
    wsk__adam_constants(&p, &k);
    while (gb_keep_running(st)) {
      t->adam(a->n, w, g, m, v, &k);
      gb_clobber_memory();
    }
  }
}

static void add(const wsk_machine *mach, opt_arg a, const char *level) {
  for (size_t i = 0; i < N_OPTIM_IMPLS; i++) {
    a.impl = (int)i;
    wsk_bench_case c = {0};
    snprintf(c.family, sizeof c.family, "optim");
    snprintf(c.isa, sizeof c.isa, "%s", optim_impls[i].name);
    c.threads = 1;
    c.pool = 1;
    const double n = (double)a.n;
    if (a.op == OPT_MLP) {
      snprintf(c.op, sizeof c.op, "mlp");
      snprintf(c.shape, sizeof c.shape, "%zux%zux%zux%zux%zu", a.n, a.f, a.h1, a.h2, a.o);
      c.flops = 2.0 * n * (double)(a.f * a.h1 + a.h1 * a.h2 + a.h2 * a.o);
      c.bytes = 4.0 * (n * (double)(a.f + a.o) + (double)(a.f * a.h1 + a.h1 * a.h2 + a.h2 * a.o));
      c.fma = 1;
      snprintf(c.level, sizeof c.level, "%s", wsk_level_of(mach, c.bytes));
    } else if (a.op >= OPT_FEATURES) {
      static const char *const names[] = {"features", "lupdate", "rowdot"};
      static const double bytes[] = {88.0, 24.0, 0.0}, flops[] = {18.0, 6.0, 0.0};
      const int j = a.op - OPT_FEATURES;
      snprintf(c.op, sizeof c.op, "%s", names[j]);
      if (a.op == OPT_ROWDOT) {
        snprintf(c.shape, sizeof c.shape, "%zux%zu", a.n, a.f);
        c.flops = 2.0 * n * (double)a.f;
        c.bytes = 4.0 * n * (double)(a.f + 1);
      } else {
        snprintf(c.shape, sizeof c.shape, "%zu", a.n);
        c.flops = flops[j] * n;
        c.bytes = bytes[j] * n;
      }
      c.rw = 1;
      c.fma = 0;
      snprintf(c.level, sizeof c.level, "%s", wsk_level_of(mach, c.bytes));
    } else {
      snprintf(c.op, sizeof c.op, "%s", a.op == OPT_SGD ? "sgd" : "adam");
      snprintf(c.shape, sizeof c.shape, "%zu", a.n);
      c.flops = (a.op == OPT_SGD ? 6.0 : 14.0) * n;
      c.bytes = (a.op == OPT_SGD ? 20.0 : 28.0) * n;
      c.rw = 1; /* the updates write w and the moments back */
      c.fma = 0;
      snprintf(c.level, sizeof c.level, "%s", level);
    }
    wsk_bench_add(&c, bm_optim, &a, sizeof a);
  }
}

void wsk_bench_register_optim(const wsk_machine *m) {
  static const wsk_level levels[] = {WSK_LEVEL_L2, WSK_LEVEL_L3, WSK_LEVEL_DRAM};
  for (size_t l = 0; l < 3; l++) {
    const size_t fp = wsk_level_footprint(m, levels[l], 1);
    for (int op = OPT_SGD; op <= OPT_ADAM; op++) {
      size_t n = fp / 4 / (op == OPT_SGD ? 3 : 4);
      opt_arg a = {0, op, n < 16 ? 16 : n, 0, 0, 0, 0};
      add(m, a, wsk_level_name(levels[l]));
    }
  }
  static const size_t widths[] = {32, 64};
  for (size_t i = 0; i < 2; i++) {
    opt_arg a = {0, OPT_MLP, 16384, 19, widths[i], widths[i], 1};
    add(m, a, NULL);
  }
  static const size_t ns[] = {2410, 16384, 262144};
  for (size_t i = 0; i < 3; i++)
    for (int op = OPT_FEATURES; op <= OPT_ROWDOT; op++) {
      opt_arg a = {0, op, ns[i], op == OPT_ROWDOT ? 32 : 0, 0, 0, 0};
      add(m, a, NULL);
    }
}
