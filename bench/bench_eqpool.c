/* bench/bench_eqpool.c — the eqpool family on every tier of
 * kernels/eqpool/eqpool.inc: the pooled reductions of the layer's input
 * ("pool": every row, column and global mean the layer mixes) on footprints
 * from L1 to DRAM, the pointwise channel mix alone ("mix", a GEMM with a
 * broadcast start, next to OpenBLAS in bench_peers.c), and the whole layer
 * forward and backward and the invariant pool on model shapes.
 * Bytes are compulsory traffic (inputs read once, outputs written once);
 * FLOPs count 2 per fused multiply-add and 1 per add of a reduction. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "impls.h"

enum { OP_POOL, OP_MIX, OP_FORWARD, OP_BACKWARD, OP_INVARIANT };
static const char *const op_names[] = {"pool", "mix", "forward", "backward", "invariant"};

#define MAXL 4
typedef struct eq_arg {
  int impl, op, L;
  int64_t n[MAXL + 1];
  int64_t ci, co;
  size_t rot;
} eq_arg;

static wsk_eqpool_shape shape_of(const eq_arg *a) {
  return (wsk_eqpool_shape){a->L, a->n, a->ci, a->co};
}

static size_t space(const eq_arg *a, int64_t c) {
  wsk_eqpool_shape s = shape_of(a);
  size_t n = 0;
  wsk_eqpool_space_size(&s, c, &n);
  return n;
}

/* 2 * rows * kdim * n of every mix the layer runs (kernels/eqpool/eqpool.c) */
static double layer_flops(const eq_arg *a, int backward) {
  const double ci = (double)a->ci, co = (double)a->co, G = 2.0 * a->L * ci;
  double f = 0;
  for (int i = 1; i <= a->L; i++) {
    const double nj = (double)a->n[i], nk = (double)a->n[i - 1];
    const double kin = 3 * ci - (i < a->L ? 0 : ci), kprev = 3 * ci - (i > 1 ? 0 : 2 * ci);
    /* z, zb; v (col, prev, bprev); u (row, next, b); W'; b' (pt, row, next) */
    const double fwd = 2 * (2 * G * co + nk * kprev * co + nj * kin * co + nj * nk * ci * co +
                            nj * kin * co);
    /* backward: the same mixes transposed for dx, outer products for dparams */
    f += backward ? 2 * fwd : fwd;
  }
  return f;
}

static void bm_eqpool(gb_state *st, const void *argp) {
  const eq_arg *a = argp;
  wsk_bench_enter(st);
  const bench_impl *im = &eqpool_impls[a->impl];
  if (!bench_impl_usable(st, im->isa)) return;
  const wsk_eqpool_ukernels *eq = im->table;
  const wsk_permsum_ukernels *ps = NULL;
  for (size_t i = 0; i < N_PERMSUM_IMPLS; i++)
    if (permsum_impls[i].isa == im->isa) ps = permsum_impls[i].table;
  const wsk_eqpool_shape s = shape_of(a);
  const size_t nx = space(a, a->ci), ny = space(a, a->co);
  size_t np = 0, npool = 0;
  wsk_eqpool_param_count(&s, &np);
  wsk__eqpool_pool_with(ps, &s, NULL, NULL, &npool);
  float *x[64] = {0};
  for (size_t r = 0; r < a->rot; r++) x[r] = wsk_bench_buffer(st, (int)r, nx);
  float *y = wsk_bench_buffer(st, 64, ny), *dy = wsk_bench_buffer(st, 65, ny);
  float *params = wsk_bench_buffer(st, 66, np), *dparams = wsk_bench_buffer(st, 67, np);
  float *pool = wsk_bench_buffer(st, 68, npool), *dx = wsk_bench_buffer(st, 69, nx);
  const size_t nj = (size_t)a->n[1], nk = (size_t)a->n[0];
  float *u = wsk_bench_buffer(st, 70, nj * (size_t)a->co);
  float *v = wsk_bench_buffer(st, 71, nk * (size_t)a->co);
  int ok = y && dy && params && dparams && pool && dx && u && v;
  for (size_t r = 0; r < a->rot; r++) ok = ok && x[r];
  if (!ok) {
    gb_skip(st, "out of memory for the buffers");
    return;
  }
  size_t it = 0;
  wsk_status rc = WSK_OK;
  while (gb_keep_running(st)) {
    float *xi = x[it++ % a->rot];
    switch (a->op) {
      case OP_POOL: rc = wsk__eqpool_pool_with(ps, &s, xi, pool, &npool); break;
      case OP_MIX:
        eq->mix(nj, nk, (size_t)a->ci, (size_t)a->co, xi, (size_t)a->ci, params, u, v, 0, y,
                (size_t)a->co);
        break;
      case OP_FORWARD: rc = wsk__eqpool_forward_with(ps, eq, &s, params, xi, y); break;
      case OP_BACKWARD:
        rc = wsk__eqpool_backward_with(ps, eq, &s, params, xi, dy, dx, dparams);
        break;
      case OP_INVARIANT: rc = wsk__eqpool_invariant_with(ps, &s, xi, pool); break;
    }
    gb_clobber_memory();
  }
  if (rc != WSK_OK) gb_skip(st, wsk_last_error());
}

static void add_case(const eq_arg *base, const char *shape, const char *level, int threads) {
  for (size_t i = 0; i < N_EQPOOL_IMPLS; i++) {
    eq_arg a = *base;
    a.impl = (int)i;
    wsk_bench_case c = {0};
    snprintf(c.family, sizeof c.family, "eqpool");
    snprintf(c.op, sizeof c.op, "%s", op_names[a.op]);
    snprintf(c.isa, sizeof c.isa, "%s", eqpool_impls[i].name);
    snprintf(c.shape, sizeof c.shape, "%s", shape);
    snprintf(c.level, sizeof c.level, "%s", level);
    c.threads = threads;
    c.fma = a.op == OP_MIX || a.op == OP_FORWARD || a.op == OP_BACKWARD;
    const wsk_eqpool_shape s = shape_of(&a);
    const double nx = (double)space(&a, a.ci), ny = (double)space(&a, a.co);
    size_t np = 0, npool = 0;
    wsk_eqpool_param_count(&s, &np);
    wsk__eqpool_pool_with(&wsk_permsum_ukernels__scalar, &s, NULL, NULL, &npool);
    const double nj = (double)a.n[1], nk = (double)a.n[0];
    switch (a.op) {
      case OP_POOL:
      case OP_INVARIANT:
        c.flops = (a.op == OP_POOL ? 2 : 1) * nx; /* pool: a row and a column add */
        c.bytes = 4.0 * (nx + (a.op == OP_POOL ? (double)npool : 2.0 * a.L * a.ci));
        break;
      case OP_MIX:
        c.flops = 2.0 * nj * nk * (double)a.ci * (double)a.co;
        c.bytes = 4.0 * (nj * nk * ((double)a.ci + (double)a.co) + (double)(a.ci * a.co));
        break;
      case OP_FORWARD:
        c.flops = layer_flops(&a, 0);
        c.bytes = 4.0 * (nx + ny + (double)np);
        break;
      case OP_BACKWARD:
        c.flops = layer_flops(&a, 1);
        c.bytes = 4.0 * (2 * nx + ny + 2.0 * (double)np);
        break;
    }
    wsk_bench_add(&c, bm_eqpool, &a, sizeof a);
  }
}

void wsk_bench_register_eqpool(const wsk_machine *m) {
  char shape[48];
  /* the pooled reductions over footprints: a 2-layer space k -> k -> k, C = 16 */
  for (int l = 0; l < WSK_LEVEL_COUNT; l++) {
    const size_t fp = wsk_level_footprint(m, (wsk_level)l, 1);
    size_t k = 8;
    while (2 * (k + 8) * (k + 8) * 16 * 4 <= fp) k += 8;
    eq_arg a = {0, OP_POOL, 2, {(int64_t)k, (int64_t)k, (int64_t)k}, 16, 16, 1};
    a.rot = wsk_level_rotation(m, (wsk_level)l, 2 * k * k * 16 * 4);
    snprintf(shape, sizeof shape, "%zu-%zu-%zu c16", k, k, k);
    add_case(&a, shape, wsk_level_name((wsk_level)l), 1);
  }
  /* model shapes: the zoo MLP 64 -> 32 -> 10 with NFN channel counts, and a
   * wider layer */
  static const int64_t chans[][2] = {{1, 16}, {16, 16}, {32, 1}};
  for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++) {
    eq_arg a = {0, OP_FORWARD, 2, {64, 32, 10}, chans[ci][0], chans[ci][1], 1};
    snprintf(shape, sizeof shape, "64-32-10 c%lld>%lld", (long long)a.ci, (long long)a.co);
    const char *lv = wsk_level_of(m, 4.0 * (double)(space(&a, a.ci) + space(&a, a.co)));
    for (int op = OP_POOL; op <= OP_INVARIANT; op++) {
      a.op = op;
      add_case(&a, shape, lv, 1);
    }
  }
  eq_arg w = {0, OP_FORWARD, 2, {256, 256, 256}, 16, 16, 1};
  snprintf(shape, sizeof shape, "256-256-256 c16>16");
  const char *lv = wsk_level_of(m, 4.0 * (double)(space(&w, w.ci) + space(&w, w.co)));
  for (int op = OP_MIX; op <= OP_BACKWARD; op++) {
    w.op = op;
    add_case(&w, shape, lv, 1);
  }
}
