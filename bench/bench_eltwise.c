/* bench/bench_eltwise.c — the eltwise family on every tier of
 * kernels/eltwise/eltwise.inc: every op over footprints that sit in L1, L2,
 * L3 and DRAM (rows of 1024 floats for softmax and layer norm).
 * Bytes are the compulsory traffic: every full-size input read once and every
 * full-size output written once (the per-row and per-column vectors are
 * counted too). FLOPs are the operations of the definitions in
 * wsk/eltwise.h per element, a SLEEF exp/tanh/erfc counted as one. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "impls.h"


enum {
  OP_RELU,
  OP_GELU,
  OP_TANH,
  OP_SIGMOID,
  OP_RELU_BW,
  OP_GELU_BW,
  OP_TANH_BW,
  OP_SIGMOID_BW,
  OP_SOFTMAX,
  OP_SOFTMAX_BW,
  OP_LN,
  OP_LN_BW,
  OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
    "relu",          "gelu",    "tanh",       "sigmoid",   "relu-bw",   "gelu-bw",
    "tanh-bw",       "sigmoid-bw", "softmax", "softmax-bw", "layernorm", "layernorm-bw"};
/* full-size streams read and written, and FLOPs per element */
static const int streams[OP_COUNT] = {2, 2, 2, 2, 3, 3, 3, 3, 2, 3, 2, 3};
static const double flops_per[OP_COUNT] = {1, 4, 1, 4, 2, 11, 4, 3, 4, 4, 7, 14};

enum { ROW = 1024, SLOT_B = 64, SLOT_C, SLOT_D, SLOT_E, SLOT_OUT, SLOT_OUT2, SLOT_OUT3 };

typedef struct ew_arg {
  int impl, op;
  size_t rows, n; /* the activations see rows * n elements */
  size_t rot;
} ew_arg;

static void bm_eltwise(gb_state *st, const void *argp) {
  const ew_arg *a = argp;
  wsk_bench_enter(st);
  const bench_impl *im = &eltwise_impls[a->impl];
  if (!bench_impl_usable(st, im->isa)) return;
  const wsk_eltwise_ukernels *t = im->table;
  const size_t len = a->rows * a->n;
  float *x[64] = {0};
  for (size_t r = 0; r < a->rot; r++) x[r] = wsk_bench_buffer(st, (int)r, len);
  float *dy = wsk_bench_buffer(st, SLOT_B, len);
  float *gam = wsk_bench_buffer(st, SLOT_C, a->n), *bet = wsk_bench_buffer(st, SLOT_D, a->n);
  float *stats = wsk_bench_buffer(st, SLOT_E, 2 * a->rows);
  float *y = wsk_bench_buffer(st, SLOT_OUT, len);
  float *o2 = wsk_bench_buffer(st, SLOT_OUT2, a->n), *o3 = wsk_bench_buffer(st, SLOT_OUT3, a->n);
  int ok = dy && gam && bet && stats && y && o2 && o3;
  for (size_t r = 0; r < a->rot; r++) ok = ok && x[r];
  if (!ok) {
    gb_skip(st, "out of memory for the buffers");
    return;
  }
  /* sane statistics for the layer-norm backward: mean 0, rstd 1 */
  for (size_t r = 0; r < a->rows; r++) {
    stats[r] = 0.0f;
    stats[a->rows + r] = 1.0f;
  }
  size_t it = 0;
  while (gb_keep_running(st)) {
    const float *xi = x[it++ % a->rot];
    switch (a->op) {
      case OP_RELU: t->relu(len, xi, y); break;
      case OP_GELU: t->gelu(len, xi, y); break;
      case OP_TANH: t->tanh(len, xi, y); break;
      case OP_SIGMOID: t->sigmoid(len, xi, y); break;
      case OP_RELU_BW: t->relu_backward(len, xi, dy, y); break;
      case OP_GELU_BW: t->gelu_backward(len, xi, dy, y); break;
      case OP_TANH_BW: t->tanh_backward(len, xi, dy, y); break;
      case OP_SIGMOID_BW: t->sigmoid_backward(len, xi, dy, y); break;
      case OP_SOFTMAX: t->softmax(a->rows, a->n, xi, y); break;
      case OP_SOFTMAX_BW: t->softmax_backward(a->rows, a->n, xi, dy, y); break;
      case OP_LN:
        t->layernorm(a->rows, a->n, 1e-5f, xi, gam, bet, y, stats, stats + a->rows);
        break;
      default:
        t->layernorm_backward(a->rows, a->n, xi, dy, gam, stats, stats + a->rows, y, o2, o3);
    }
    gb_clobber_memory();
  }
}

static void add_case(const ew_arg *base, const char *level, int threads) {
  for (size_t i = 0; i < N_ELTWISE_IMPLS; i++) {
    ew_arg a = *base;
    a.impl = (int)i;
    wsk_bench_case c = {0};
    char shape[48];
    snprintf(shape, sizeof shape, "%zux%zu", a.rows, a.n);
    snprintf(c.family, sizeof c.family, "eltwise");
    snprintf(c.op, sizeof c.op, "%s", op_names[a.op]);
    snprintf(c.isa, sizeof c.isa, "%s", eltwise_impls[i].name);
    snprintf(c.shape, sizeof c.shape, "%s", shape);
    snprintf(c.level, sizeof c.level, "%s", level);
    c.threads = threads;
    const double len = (double)(a.rows * a.n);
    c.flops = flops_per[a.op] * len;
    c.bytes = 4.0 * streams[a.op] * len;
    c.rw = 1; /* every op writes an output as long as an input */
    if (a.op == OP_LN) c.bytes += 4.0 * (2 * a.n + 2 * a.rows);
    if (a.op == OP_LN_BW) c.bytes += 4.0 * (5 * a.n + 2 * a.rows); /* gamma, dgamma/dbeta r+w */
    wsk_bench_add(&c, bm_eltwise, &a, sizeof a);
  }
}

void wsk_bench_register_eltwise(const wsk_machine *m) {
  for (int l = 0; l < WSK_LEVEL_COUNT; l++) {
    const size_t fp = wsk_level_footprint(m, (wsk_level)l, 1);
    const size_t rot = wsk_level_rotation(m, (wsk_level)l, fp);
    for (int op = 0; op < OP_COUNT; op++) {
      /* the footprint holds the full-size streams */
      size_t len = fp / 4 / (size_t)streams[op];
      ew_arg a = {0, op, 1, len < 16 ? 16 : len, rot > 64 ? 64 : rot};
      if (op >= OP_SOFTMAX) {
        a.n = ROW;
        a.rows = len / ROW < 1 ? 1 : len / ROW;
      }
      add_case(&a, wsk_level_name((wsk_level)l), 1);
    }
  }
}
