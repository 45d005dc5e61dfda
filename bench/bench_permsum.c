/* bench/bench_permsum.c — the permsum family on every tier of
 * kernels/permsum/permsum.inc: the weight-matrix means (rows, cols, total) on
 * footprints that sit in L1, L2, L3 and DRAM (C = 1 and C = 16) and on model
 * shapes, the general reduction, broadcast-add and the diagonal.
 * Bytes are the compulsory traffic: the input read once and the output written
 * once; FLOPs are one add per input element. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "impls.h"

enum { OP_ROWS, OP_COLS, OP_TOTAL, OP_REDUCE, OP_BCAST, OP_DIAG };
static const char *const op_names[] = {"rows", "cols", "total", "reduce-mid", "bcast-rows",
                                       "diag"};

typedef struct ps_arg {
  int impl, op;
  size_t n, m, k, c; /* [n][m][C]; reduce-mid: [n][m][k][C] over m; diag: [n][n][C] */
  size_t rot;
} ps_arg;

static size_t in_floats(const ps_arg *a) {
  switch (a->op) {
    case OP_REDUCE: return a->n * a->m * a->k * a->c;
    case OP_DIAG: return a->n * a->n * a->c;
    default: return a->n * a->m * a->c;
  }
}

static size_t out_floats(const ps_arg *a) {
  switch (a->op) {
    case OP_ROWS: return a->n * a->c;
    case OP_COLS: return a->m * a->c;
    case OP_TOTAL: return a->c;
    case OP_REDUCE: return a->n * a->k * a->c;
    case OP_BCAST: return a->n * a->c; /* the reduced operand */
    default: return a->n * a->c;
  }
}

static void bm_permsum(gb_state *st, const void *argp) {
  const ps_arg *a = argp;
  wsk_bench_enter(st);
  const bench_impl *im = &permsum_impls[a->impl];
  if (!bench_impl_usable(st, im->isa)) return;
  const wsk_permsum_ukernels *t = im->table;
  const size_t nx = in_floats(a), ny = out_floats(a);
  float *x[64] = {0};
  float *y = wsk_bench_buffer(st, 64, ny);
  for (size_t r = 0; r < a->rot; r++) x[r] = wsk_bench_buffer(st, (int)r, nx);
  for (size_t r = 0; r < a->rot; r++)
    if (!x[r] || !y) {
      gb_skip(st, "out of memory for the buffers");
      return;
    }
  wsk_ps_plan plan;
  const size_t d3[3] = {a->n, a->m, a->k};
  wsk_permsum_plan_make(3, d3, a->c, 2u, 1, &plan);
  wsk_ps_plan bplan;
  wsk_permsum_plan_matrix(a->n, a->m, a->c, WSK_AXES_ROWS, 0, &bplan);
  const wsk_ps_diag_plan dplan = {1, a->n, 1, 1, a->c};
  size_t it = 0;
  while (gb_keep_running(st)) {
    float *xi = x[it++ % a->rot];
    switch (a->op) {
      case OP_ROWS: t->rows(a->n, a->m, a->c, 1, xi, y); break;
      case OP_COLS: t->cols(a->n, a->m, a->c, 1, xi, y); break;
      case OP_TOTAL: t->total(a->n, a->m, a->c, 1, xi, y); break;
      case OP_REDUCE: t->reduce(&plan, xi, y); break;
      case OP_BCAST: t->bcast_add(&bplan, y, xi); break;
      case OP_DIAG: t->diag(&dplan, xi, y); break;
    }
    gb_clobber_memory();
  }
}

static void add_case(const wsk_machine *m, const ps_arg *base, const char *shape,
                     const char *level, int threads) {
  for (size_t i = 0; i < N_PERMSUM_IMPLS; i++) {
    ps_arg a = *base;
    a.impl = (int)i;
    wsk_bench_case c = {0};
    snprintf(c.family, sizeof c.family, "permsum");
    snprintf(c.op, sizeof c.op, "%s", op_names[a.op]);
    snprintf(c.isa, sizeof c.isa, "%s", permsum_impls[i].name);
    snprintf(c.shape, sizeof c.shape, "%s", shape);
    snprintf(c.level, sizeof c.level, "%s", level);
    c.threads = threads;
    const double nx = (double)in_floats(&a), ny = (double)out_floats(&a);
    c.flops = a.op == OP_DIAG ? 0 : nx;
    c.bytes = 4.0 * (nx + ny);
    if (a.op == OP_BCAST) c.bytes = 4.0 * (2 * nx + ny); /* y read and written */
    c.rw = a.op == OP_BCAST;
    if (a.op == OP_DIAG) c.bytes = 4.0 * 2 * ny;         /* the diagonal in, y out */
    (void)m;
    wsk_bench_add(&c, bm_permsum, &a, sizeof a);
  }
}

/* the level a footprint of `bytes` sits in */
void wsk_bench_register_permsum(const wsk_machine *m) {
  char shape[48];
  /* weight-matrix means over footprints, one thread and all cores */
  for (int l = 0; l < WSK_LEVEL_COUNT; l++) {
    const int tcounts[2] = {1, m->cores};
    for (int ti = 0; ti < (m->cores > 1 ? 2 : 1); ti++) {
      const int threads = tcounts[ti];
      if (threads > 1 && l != WSK_LEVEL_L2 && l != WSK_LEVEL_DRAM) continue;
      const size_t fp = wsk_level_footprint(m, (wsk_level)l, threads);
      const size_t rot = wsk_level_rotation(m, (wsk_level)l, fp);
      static const size_t chans[2] = {1, 16};
      for (int ci = 0; ci < 2; ci++) {
        const size_t c = chans[ci];
        const size_t rowlen = 1024; /* floats per row: m * C */
        ps_arg a = {0, OP_ROWS, 0, rowlen / c, 1, c, rot};
        a.n = fp / 4 / rowlen;
        if (a.n < 1) a.n = 1;
        snprintf(shape, sizeof shape, "%zux%zux%zu", a.n, a.m, c);
        for (int op = OP_ROWS; op <= OP_TOTAL; op++) {
          a.op = op;
          add_case(m, &a, shape, wsk_level_name((wsk_level)l), threads);
        }
      }
    }
  }
  /* model shapes: the zoo MLP's layers with the channels of NFN layers */
  static const size_t model[][3] = {{32, 64, 1}, {32, 64, 16}, {10, 32, 16}, {64, 64, 32}};
  for (size_t s = 0; s < sizeof model / sizeof model[0]; s++) {
    ps_arg a = {0, OP_ROWS, model[s][0], model[s][1], 1, model[s][2], 1};
    snprintf(shape, sizeof shape, "%zux%zux%zu", a.n, a.m, a.c);
    const char *lv = wsk_level_of(m, 4 * a.n * a.m * a.c);
    for (int op = OP_ROWS; op <= OP_TOTAL; op++) {
      a.op = op;
      add_case(m, &a, shape, lv, 1);
    }
  }
  /* the general reduction (middle axis of a rank-3 tensor), broadcast-add and
   * the diagonal, in L2 and DRAM */
  static const wsk_level lvls[2] = {WSK_LEVEL_L2, WSK_LEVEL_DRAM};
  for (int li = 0; li < 2; li++) {
    const size_t fp = wsk_level_footprint(m, lvls[li], 1);
    const size_t rot = wsk_level_rotation(m, lvls[li], fp);
    ps_arg r = {0, OP_REDUCE, 16, 0, 16, 4, rot};
    r.m = fp / 4 / (16 * 16 * 4);
    if (r.m < 1) r.m = 1;
    snprintf(shape, sizeof shape, "%zux%zux%zux%zu", r.n, r.m, r.k, r.c);
    add_case(m, &r, shape, wsk_level_name(lvls[li]), 1);
    ps_arg b = {0, OP_BCAST, 0, 64, 1, 16, rot};
    b.n = fp / 4 / (64 * 16);
    if (b.n < 1) b.n = 1;
    snprintf(shape, sizeof shape, "%zux%zux%zu", b.n, b.m, b.c);
    add_case(m, &b, shape, wsk_level_name(lvls[li]), 1);
  }
  ps_arg d = {0, OP_DIAG, 128, 128, 1, 16, 1};
  snprintf(shape, sizeof shape, "%zux%zux%zu", d.n, d.n, d.c);
  add_case(m, &d, shape, wsk_level_of(m, 4 * d.n * d.n * d.c), 1);
}
