/* tests/test_unf_task.c — the CNN16 of model/net.h and the learned
 * optimizer's tasks of model/unf_task.h, on small synthetic data made here.
 *
 * - CNN16: 5,130 parameters, its tensor table (names, shapes, offsets, fans);
 *   "cnn16" parses;
 * - its gradient, for every activation, with and without dropout, against
 *   central differences (h = 1e-5) of an independent double-precision
 *   reference (direct strided, zero-padded convolutions on [c][h][w], the
 *   mean over the 4 x 4 positions, the same dropout mask):
 *   |grad - fd| <= 1e-4 |fd| + 1e-6 on 6 entries of every tensor; the float
 *   loss within 1e-5 (relative) of the reference's;
 * - a symmetry of the network: permuting conv1's 16 filters (0.weight and
 *   0.bias rows, 2.weight's input channels) or conv2's 32 (2.weight and
 *   2.bias rows, 5.weight's columns) leaves the logits unchanged within 1e-5
 *   (only the order of the float sums changes), while permuting the filters
 *   alone (not the next layer's inputs) changes them by far more;
 * - tasks: names, sizes, FLOPs per step, bad arguments;
 * - task runs: a reset with one seed gives the same bits twice (w and the
 *   batch stream), another seed other bits; loss_grad is deterministic; a
 *   non-finite loss is returned as it is; 40 steps of wsk_sgd_momentum on a
 *   separable set (stripes for the MLP, oriented stripes of ten periods
 *   and orientations for the CNN) at least halve the loss of both tasks;
 *   evaluation leaves the run's stream and gradient alone; the state (w, rng)
 *   copied into another run continues identically;
 * - parity: a few SGD steps of both tasks give the same bits on every tier
 *   this CPU has (set in-process by wsk_set_isa) and for 1 and 3 threads,
 *   and a recorded digest (the same on x86-64 and aarch64).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/net.h"
#include "model/unf_task.h"
#include "testutil.h"

#define TASK_DIGEST 0x3529458622d068f5ull

/* ---- double-precision reference of the CNN16 ------------------------------------------ */

static double act_d(wsk_net_act a, double x) {
  switch (a) {
    case WSK_NET_RELU: return x > 0 ? x : 0;
    case WSK_NET_TANH: return tanh(x);
    case WSK_NET_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case WSK_NET_SIGMOID: return 1.0 / (1.0 + exp(-x));
    default: return x;
  }
}

/* out[o][oh][ow] = act(b[o] + sum w[o][c][kh][kw] in[c][s i + kh - 1][s j + kw - 1]),
 * 3 x 3 kernel, stride 2, zero padding 1 */
static void conv_d(int c, int h, int o, const double *in, const double *wt, const double *b,
                   wsk_net_act a, double *out) {
  const int oh = (h + 2 - 3) / 2 + 1;
  for (int q = 0; q < o; q++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < oh; j++) {
        double s = b[q];
        for (int ci = 0; ci < c; ci++)
          for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
              const int y = 2 * i + kh - 1, x = 2 * j + kw - 1;
              if (y < 0 || y >= h || x < 0 || x >= h) continue;
              s += wt[((q * c + ci) * 3 + kh) * 3 + kw] * in[(ci * h + y) * h + x];
            }
        out[(q * oh + i) * oh + j] = act_d(a, s);
      }
}

/* mean cross-entropy; mask: the 32 pooled features' multipliers per row, or NULL */
static double ref_loss(const wsk_net *net, const double *p, const float *x, const uint8_t *y, int B,
                       const float *mask, double *logits) {
  const double *w0 = p + net->tensors[0].offset, *b0 = p + net->tensors[1].offset;
  const double *w2 = p + net->tensors[2].offset, *b2 = p + net->tensors[3].offset;
  const double *w5 = p + net->tensors[4].offset, *b5 = p + net->tensors[5].offset;
  double total = 0;
  for (int b = 0; b < B; b++) {
    double in[256], c1[16 * 64], c2[32 * 16], g[32], z[10];
    for (int i = 0; i < 256; i++) in[i] = x[(size_t)b * 256 + i];
    conv_d(1, 16, 16, in, w0, b0, net->act, c1);
    conv_d(16, 8, 32, c1, w2, b2, net->act, c2);
    for (int q = 0; q < 32; q++) {
      double s = 0;
      for (int t = 0; t < 16; t++) s += c2[q * 16 + t];
      g[q] = s / 16 * (mask ? mask[b * 32 + q] : 1.0);
    }
    for (int k = 0; k < 10; k++) {
      double s = b5[k];
      for (int q = 0; q < 32; q++) s += w5[k * 32 + q] * g[q];
      z[k] = s;
      if (logits) logits[b * 10 + k] = s;
    }
    double m = z[0];
    for (int k = 1; k < 10; k++) m = z[k] > m ? z[k] : m;
    double s = 0;
    for (int k = 0; k < 10; k++) s += exp(z[k] - m);
    total += m + log(s) - z[y[b]];
  }
  return total / B;
}

/* ---- synthetic data --------------------------------------------------------------------- */

/* 10 classes: noise in [0, 0.3) plus 0.6 on the pixels p with p % 10 == label
 * (stripes that a linear map separates, and a small CNN learns quickly). */
static void make_data(wsk_dataset *d, size_t n, int side, uint64_t seed) {
  tu_rng r = {seed};
  d->n = n;
  d->rows = d->cols = side;
  d->x = malloc(n * side * side * sizeof(float));
  d->y = malloc(n);
  for (size_t i = 0; i < n; i++) {
    d->y[i] = (uint8_t)tu_int(&r, 0, 9);
    for (int p = 0; p < side * side; p++) {
      const float noise = tu_uniform(&r, 0.0f, 0.3f);
      d->x[i * side * side + p] = noise + (p % 10 == d->y[i] ? 0.6f : 0.0f);
    }
  }
}

/* 10 classes of 16 x 16 textures, which a network that averages over
 * positions can tell apart: stripes of period 2 + y % 5, horizontal for
 * y < 5 and vertical otherwise, at a random phase, 0.6 on the stripes plus
 * noise in [0, 0.3) everywhere. */
static void make_textures(wsk_dataset *d, size_t n, uint64_t seed) {
  tu_rng r = {seed};
  d->n = n;
  d->rows = d->cols = 16;
  d->x = malloc(n * 256 * sizeof(float));
  d->y = malloc(n);
  for (size_t i = 0; i < n; i++) {
    const int y = (int)tu_int(&r, 0, 9), period = 2 + y % 5;
    const int phase = (int)tu_int(&r, 0, (size_t)period - 1);
    d->y[i] = (uint8_t)y;
    for (int p = 0; p < 256; p++) {
      const int along = y < 5 ? p / 16 : p % 16;
      const float noise = tu_uniform(&r, 0.0f, 0.3f);
      d->x[i * 256 + p] = noise + ((along + phase) % period == 0 ? 0.6f : 0.0f);
    }
  }
}

static void free_data(wsk_dataset *d) {
  free(d->x);
  free(d->y);
}

/* ---- the CNN16 ----------------------------------------------------------------------------- */

static void test_cnn16_architecture(void **state) {
  (void)state;
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_CNN16, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(net.n_params, WSK_CNN16_PARAMS);
  assert_int_equal(net.n_params, 5130);
  assert_int_equal(net.in_rows, 16);
  assert_int_equal(net.in_cols, 16);
  assert_int_equal(net.in_size, 256);
  static const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias"};
  static const int ranks[] = {4, 1, 4, 1, 2, 1};
  static const int64_t shapes[6][4] = {{16, 1, 3, 3}, {16}, {32, 16, 3, 3}, {32}, {10, 32}, {10}};
  static const size_t numel[] = {144, 16, 4608, 32, 320, 10};
  static const int fan_in[] = {9, 9, 144, 144, 32, 32}, fan_out[] = {144, 144, 288, 288, 10, 10};
  assert_int_equal(net.n_tensors, 6);
  size_t off = 0;
  for (int i = 0; i < 6; i++) {
    const wsk_net_tensor *t = &net.tensors[i];
    assert_string_equal(t->name, names[i]);
    assert_int_equal(t->rank, ranks[i]);
    for (int a = 0; a < ranks[i]; a++) assert_int_equal(t->shape[a], shapes[i][a]);
    assert_int_equal(t->numel, numel[i]);
    assert_int_equal(t->offset, off);
    assert_int_equal(t->fan_in, fan_in[i]);
    assert_int_equal(t->fan_out, fan_out[i]);
    assert_int_equal(t->is_bias, i % 2);
    off += numel[i];
  }
  assert_int_equal(off, 5130);
  wsk_arch a;
  assert_int_equal(wsk_arch_parse("cnn16", &a), WSK_OK);
  assert_int_equal(a, WSK_ARCH_CNN16);
  assert_string_equal(wsk_arch_name(WSK_ARCH_CNN16), "cnn16");
  assert_int_equal(wsk_arch_parse("cnn8", &a), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "cnn16"));
  /* dropout acts on the 32 pooled features, in [0, 1) like the others */
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_CNN16, WSK_NET_GELU, 1.0f), WSK_ERR_ARG);
}

static void gradcheck(wsk_net_act act, float p_drop) {
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_CNN16, act, p_drop), WSK_OK);
  enum { B = 3 };
  wsk_dataset d;
  make_data(&d, B, 16, 31 + act);
  float *params = malloc(net.n_params * sizeof(float));
  float *grad = malloc(net.n_params * sizeof(float));
  double *pd = malloc(net.n_params * sizeof(double));
  wsk_rng r;
  wsk_rng_seed(&r, 17 + act, 0);
  assert_int_equal(wsk_net_init_params(&net, WSK_INIT_KAIMING_UNIFORM, &r, params), WSK_OK);
  for (size_t i = 0; i < net.n_params; i++) pd[i] = params[i];

  wsk_net_ws *ws;
  assert_int_equal(wsk_net_ws_create(&net, B, &ws), WSK_OK);
  wsk_rng drop;
  wsk_rng_seed(&drop, 5, 2);
  float loss;
  int correct;
  assert_int_equal(wsk_net_loss_grad(&net, params, d.x, d.y, B, &drop, ws, &loss, &correct, grad),
                   WSK_OK);
  assert_true(correct >= 0 && correct <= B);
  /* the mask the network drew (draw order of model/net.h) */
  float mask[B * 32];
  wsk_rng_seed(&drop, 5, 2);
  for (int i = 0; i < B * 32; i++) {
    const float u = wsk_rng_uniform(&drop);
    mask[i] = p_drop > 0 ? (u >= p_drop ? 1.0f / (1.0f - p_drop) : 0.0f) : 1.0f;
  }
  const double l0 = ref_loss(&net, pd, d.x, d.y, B, mask, NULL);
  if (fabs(loss - l0) > 1e-5 * fabs(l0) + 1e-6) {
    print_error("cnn16/%s: loss %.9g, reference %.12g\n", wsk_net_act_name(act), (double)loss, l0);
    fail();
  }
  tu_rng pick = {77 + (uint64_t)act};
  const double h = 1e-5;
  double worst = 0;
  for (int t = 0; t < net.n_tensors; t++) {
    const wsk_net_tensor *tt = &net.tensors[t];
    for (int k = 0; k < 6; k++) {
      const size_t i = tt->offset + tu_int(&pick, 0, tt->numel - 1);
      const double keep = pd[i];
      pd[i] = keep + h;
      const double lp = ref_loss(&net, pd, d.x, d.y, B, mask, NULL);
      pd[i] = keep - h;
      const double lm = ref_loss(&net, pd, d.x, d.y, B, mask, NULL);
      pd[i] = keep;
      const double fd = (lp - lm) / (2 * h);
      const double err = fabs(grad[i] - fd), tol = 1e-4 * fabs(fd) + 1e-6;
      if (err / tol > worst) worst = err / tol;
      if (err > tol) {
        print_error("cnn16/%s/dropout %.1f: d loss / d %s[%zu] = %.9g, central difference %.9g\n",
                    wsk_net_act_name(act), (double)p_drop, tt->name, i - tt->offset,
                    (double)grad[i], fd);
        fail();
      }
    }
  }
  printf("  cnn16 %-7s dropout %.1f: loss %.6f, worst error / tolerance %.3f\n",
         wsk_net_act_name(act), (double)p_drop, (double)loss, worst);

  /* evaluation mode is the network without dropout; forward, loss_grad and
   * evaluate agree */
  float loss_eval, logits[B * 10];
  assert_int_equal(wsk_net_loss_grad(&net, params, d.x, d.y, B, NULL, ws, &loss_eval, NULL, NULL),
                   WSK_OK);
  double zref[B * 10];
  const double le = ref_loss(&net, pd, d.x, d.y, B, NULL, zref);
  assert_true(fabs(loss_eval - le) <= 1e-5 * fabs(le) + 1e-6);
  assert_int_equal(wsk_net_forward(&net, params, d.x, B, NULL, ws, logits), WSK_OK);
  for (int i = 0; i < B * 10; i++)
    assert_true(fabs(logits[i] - zref[i]) <= 1e-5 * (1 + fabs(zref[i])));
  double sum_loss = 0;
  size_t ok = 0;
  assert_int_equal(wsk_net_evaluate(&net, params, d.x, d.y, NULL, B, ws, &sum_loss, &ok), WSK_OK);
  assert_true((float)(sum_loss / B) == loss_eval);

  wsk_net_ws_free(ws);
  free(params);
  free(grad);
  free(pd);
  free_data(&d);
}

static void test_cnn16_gradients(void **state) {
  (void)state;
  for (int a = 0; a < WSK_NET_ACT_COUNT; a++) {
    gradcheck((wsk_net_act)a, 0.0f);
    gradcheck((wsk_net_act)a, 0.3f);
  }
}

/* Largest |a - b| / (1 + |b|) over n logits. */
static double max_rel(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    const double e = fabs((double)a[i] - b[i]) / (1 + fabs((double)b[i]));
    m = e > m ? e : m;
  }
  return m;
}

static void test_cnn16_channel_symmetry(void **state) {
  (void)state;
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_CNN16, WSK_NET_TANH, 0.0f), WSK_OK);
  enum { B = 6 };
  wsk_dataset d;
  make_data(&d, B, 16, 8);
  const size_t np = net.n_params;
  float *p = malloc(np * sizeof(float)), *q = malloc(np * sizeof(float));
  wsk_rng r;
  wsk_rng_seed(&r, 3, 0);
  assert_int_equal(wsk_net_init_params(&net, WSK_INIT_KAIMING_UNIFORM, &r, p), WSK_OK);
  wsk_net_ws *ws;
  assert_int_equal(wsk_net_ws_create(&net, B, &ws), WSK_OK);
  float z[B * 10], zp[B * 10];
  assert_int_equal(wsk_net_forward(&net, p, d.x, B, NULL, ws, z), WSK_OK);
  const size_t o0w = net.tensors[0].offset, o0b = net.tensors[1].offset;
  const size_t o2w = net.tensors[2].offset, o2b = net.tensors[3].offset;
  const size_t o5w = net.tensors[4].offset;
  tu_rng pr = {2024};
  size_t perm[32];

  /* conv1's 16 filters: new filter i is old filter perm[i]; conv2 reads its
   * input channel i from there */
  tu_perm(&pr, perm, 16);
  memcpy(q, p, np * sizeof(float));
  for (int i = 0; i < 16; i++) {
    memcpy(q + o0w + i * 9, p + o0w + perm[i] * 9, 9 * sizeof(float));
    q[o0b + i] = p[o0b + perm[i]];
  }
  float *filters_only = malloc(np * sizeof(float));
  memcpy(filters_only, q, np * sizeof(float));
  for (int o = 0; o < 32; o++)
    for (int i = 0; i < 16; i++)
      memcpy(q + o2w + (o * 16 + i) * 9, p + o2w + (o * 16 + perm[i]) * 9, 9 * sizeof(float));
  assert_int_equal(wsk_net_forward(&net, q, d.x, B, NULL, ws, zp), WSK_OK);
  const double e1 = max_rel(zp, z, B * 10);
  assert_true(e1 <= 1e-5);
  /* the check has teeth: the filters permuted without conv2's inputs */
  assert_int_equal(wsk_net_forward(&net, filters_only, d.x, B, NULL, ws, zp), WSK_OK);
  const double broken1 = max_rel(zp, z, B * 10);
  assert_true(broken1 > 1e-2);

  /* conv2's 32 filters: the mean over positions commutes with them; the
   * head reads its input i from there */
  tu_perm(&pr, perm, 32);
  memcpy(q, p, np * sizeof(float));
  for (int o = 0; o < 32; o++) {
    memcpy(q + o2w + o * 144, p + o2w + perm[o] * 144, 144 * sizeof(float));
    q[o2b + o] = p[o2b + perm[o]];
  }
  memcpy(filters_only, q, np * sizeof(float));
  for (int k = 0; k < 10; k++)
    for (int o = 0; o < 32; o++) q[o5w + k * 32 + o] = p[o5w + k * 32 + perm[o]];
  assert_int_equal(wsk_net_forward(&net, q, d.x, B, NULL, ws, zp), WSK_OK);
  const double e2 = max_rel(zp, z, B * 10);
  assert_true(e2 <= 1e-5);
  assert_int_equal(wsk_net_forward(&net, filters_only, d.x, B, NULL, ws, zp), WSK_OK);
  const double broken2 = max_rel(zp, z, B * 10);
  assert_true(broken2 > 1e-2);
  printf(
      "  permuted conv1 / conv2 channels: logits within %.2g / %.2g (filters alone: %.2g / %.2g)\n",
      e1, e2, broken1, broken2);

  wsk_net_ws_free(ws);
  free(filters_only);
  free(p);
  free(q);
  free_data(&d);
}

/* ---- tasks ------------------------------------------------------------------------------- */

static void test_task_make(void **state) {
  (void)state;
  wsk_dataset d8, d16;
  make_data(&d8, 20, 8, 1);
  make_textures(&d16, 20, 2);
  wsk_task t;
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d8, 0, &t), WSK_OK);
  assert_int_equal(t.kind, WSK_TASK_MLP);
  assert_int_equal(t.batch, 128);
  assert_int_equal(t.net.arch, WSK_ARCH_MLP);
  assert_int_equal(t.net.act, WSK_NET_RELU);
  assert_int_equal(t.net.n_params, WSK_MLP_PARAMS);
  assert_string_equal(t.spec, "mlp");
  assert_ptr_equal(t.train, &d8);
  assert_true(t.flops_per_step == 128.0 * 10112);
  assert_int_equal(wsk_task_make(WSK_TASK_CNN, &d16, 0, &t), WSK_OK);
  assert_int_equal(t.net.arch, WSK_ARCH_CNN16);
  assert_int_equal(t.net.n_params, WSK_CNN16_PARAMS);
  assert_string_equal(t.spec, "cnn16");
  assert_true(t.flops_per_step == 128.0 * 481152);
  assert_int_equal(wsk_task_make(WSK_TASK_CNN, &d16, 7, &t), WSK_OK);
  assert_true(t.flops_per_step == 7.0 * 481152);

  for (int k = 0; k < WSK_TASK_COUNT; k++) {
    wsk_task_kind v;
    assert_int_equal(wsk_task_parse(wsk_task_name((wsk_task_kind)k), &v), WSK_OK);
    assert_int_equal(v, k);
  }
  wsk_task_kind v;
  assert_int_equal(wsk_task_parse("cnn16", &v), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "cnn16"));
  assert_string_equal(wsk_task_name((wsk_task_kind)5), "?");

  /* wrong image size, bad label, batch, empty set, NULLs */
  assert_int_equal(wsk_task_make(WSK_TASK_CNN, &d8, 0, &t), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "16 x 16"));
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d16, 0, &t), WSK_ERR_ARG);
  d8.y[13] = 10;
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d8, 0, &t), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "image 13"));
  d8.y[13] = 3;
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d8, -1, &t), WSK_ERR_SIZE);
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d8, 70000, &t), WSK_ERR_SIZE);
  assert_int_equal(wsk_task_make((wsk_task_kind)2, &d8, 0, &t), WSK_ERR_ARG);
  wsk_dataset empty = d8;
  empty.n = 0;
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &empty, 0, &t), WSK_ERR_SIZE);
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, NULL, 0, &t), WSK_ERR_NULL);
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d8, 0, NULL), WSK_ERR_NULL);

  /* a run: NULLs, evaluation on images of the wrong size */
  wsk_task_run *r;
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d8, 4, &t), WSK_OK);
  assert_int_equal(wsk_task_run_create(NULL, &r), WSK_ERR_NULL);
  assert_int_equal(wsk_task_run_create(&t, &r), WSK_OK);
  assert_int_equal(wsk_task_run_reset(r, 1), WSK_OK);
  double loss, acc;
  assert_int_equal(wsk_task_run_eval(r, &d16, 0, &loss, &acc), WSK_ERR_ARG);
  assert_int_equal(wsk_task_run_eval(r, &d8, 0, NULL, &acc), WSK_ERR_NULL);
  assert_int_equal(wsk_task_run_loss_grad(r, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_task_run_reset(NULL, 1), WSK_ERR_NULL);
  wsk_task_run_free(r);
  wsk_task_run_free(NULL);
  free_data(&d8);
  free_data(&d16);
}

static void test_task_run_determinism(void **state) {
  (void)state;
  wsk_dataset d8, d16;
  make_data(&d8, 50, 8, 3);
  make_textures(&d16, 50, 4);
  const wsk_dataset *data[2] = {&d8, &d16};
  for (int k = 0; k < WSK_TASK_COUNT; k++) {
    wsk_task t;
    assert_int_equal(wsk_task_make((wsk_task_kind)k, data[k], 16, &t), WSK_OK);
    const size_t np = t.net.n_params;
    wsk_task_run *a, *b;
    assert_int_equal(wsk_task_run_create(&t, &a), WSK_OK);
    assert_int_equal(wsk_task_run_create(&t, &b), WSK_OK);
    /* reset twice with one seed: the same bits (parameters and stream) */
    assert_int_equal(wsk_task_run_reset(a, 99), WSK_OK);
    float *w0 = malloc(np * sizeof(float));
    memcpy(w0, a->w, np * sizeof(float));
    const wsk_rng rng0 = a->rng;
    float la;
    assert_int_equal(wsk_task_run_loss_grad(a, &la), WSK_OK);
    assert_int_equal(wsk_task_run_reset(a, 99), WSK_OK);
    tu_assert_bits(a->w, w0, np, "w after a second reset");
    assert_memory_equal(&a->rng, &rng0, sizeof rng0);
    for (size_t i = 0; i < np; i++) assert_true(a->g[i] == 0.0f);
    /* the initialization: kaiming_uniform bound sqrt(6 / fan_in) for 0.weight */
    const double bound = sqrt(6.0 / t.net.tensors[0].fan_in);
    double m = 0;
    for (size_t i = 0; i < t.net.tensors[0].numel; i++) {
      assert_true(fabs(a->w[i]) <= bound);
      m = fabs(a->w[i]) > m ? fabs(a->w[i]) : m;
    }
    assert_true(m > 0.8 * bound);
    /* the same seed in another run: the same losses and gradients, step by step */
    assert_int_equal(wsk_task_run_reset(b, 99), WSK_OK);
    for (int s = 0; s < 3; s++) {
      float lb;
      assert_int_equal(wsk_task_run_loss_grad(a, &la), WSK_OK);
      assert_int_equal(wsk_task_run_loss_grad(b, &lb), WSK_OK);
      assert_memory_equal(&la, &lb, sizeof la);
      tu_assert_bits(a->g, b->g, np, "gradient of the same seed");
      assert_true(isfinite(la) && la > 0);
    }
    /* evaluation leaves the stream and the gradient alone */
    const wsk_rng before = a->rng;
    float *g0 = malloc(np * sizeof(float));
    memcpy(g0, a->g, np * sizeof(float));
    double loss, acc, loss_all;
    assert_int_equal(wsk_task_run_eval(a, data[k], 20, &loss, &acc), WSK_OK);
    assert_true(acc >= 0 && acc <= 1 && isfinite(loss));
    assert_int_equal(wsk_task_run_eval(a, data[k], 0, &loss_all, NULL), WSK_OK);
    double loss_big;
    assert_int_equal(wsk_task_run_eval(a, data[k], 1000, &loss_big, NULL), WSK_OK);
    assert_true(loss_big == loss_all);
    assert_memory_equal(&a->rng, &before, sizeof before);
    tu_assert_bits(a->g, g0, np, "gradient after an evaluation");
    /* the state is (w, rng): copied into another run, it continues the same */
    memcpy(b->w, a->w, np * sizeof(float));
    b->rng = a->rng;
    float lb;
    assert_int_equal(wsk_task_run_loss_grad(a, &la), WSK_OK);
    assert_int_equal(wsk_task_run_loss_grad(b, &lb), WSK_OK);
    assert_memory_equal(&la, &lb, sizeof la);
    tu_assert_bits(a->g, b->g, np, "gradient of a copied state");
    /* another seed: other parameters */
    assert_int_equal(wsk_task_run_reset(b, 100), WSK_OK);
    assert_true(tu_bitdiff(b->w, w0, np) >= 0);
    /* a non-finite loss is reported as it is */
    b->w[0] = NAN;
    assert_int_equal(wsk_task_run_loss_grad(b, &lb), WSK_OK);
    assert_true(isnan(lb));
    free(g0);
    free(w0);
    wsk_task_run_free(a);
    wsk_task_run_free(b);
  }
  free_data(&d8);
  free_data(&d16);
}

/* `steps` SGD-with-momentum steps of a task run from seed; returns the final
 * parameters (malloc'd) and, when asked, the mean loss over the set before
 * and after. */
static float *sgd_run(const wsk_task *t, uint64_t seed, int steps, float lr, double *before,
                      double *after, float *last_loss) {
  wsk_task_run *r;
  assert_int_equal(wsk_task_run_create(t, &r), WSK_OK);
  assert_int_equal(wsk_task_run_reset(r, seed), WSK_OK);
  const size_t np = t->net.n_params;
  float *m = calloc(np, sizeof(float));
  const wsk_sgd_params sp = {lr, 0.9f, 0.0f};
  if (before) assert_int_equal(wsk_task_run_eval(r, t->train, 0, before, NULL), WSK_OK);
  float loss = 0;
  for (int s = 0; s < steps; s++) {
    assert_int_equal(wsk_task_run_loss_grad(r, &loss), WSK_OK);
    assert_int_equal(wsk_sgd_momentum((int64_t)np, r->w, r->g, m, &sp), WSK_OK);
  }
  if (after) assert_int_equal(wsk_task_run_eval(r, t->train, 0, after, NULL), WSK_OK);
  if (last_loss) *last_loss = loss;
  float *w = malloc(np * sizeof(float));
  memcpy(w, r->w, np * sizeof(float));
  free(m);
  wsk_task_run_free(r);
  return w;
}

static void test_task_sgd_lowers_loss(void **state) {
  (void)state;
  wsk_dataset d8, d16;
  make_data(&d8, 64, 8, 5);
  make_textures(&d16, 64, 6);
  const wsk_dataset *data[2] = {&d8, &d16};
  for (int k = 0; k < WSK_TASK_COUNT; k++) {
    wsk_task t;
    assert_int_equal(wsk_task_make((wsk_task_kind)k, data[k], 16, &t), WSK_OK);
    double l0, l1;
    const float lr = k == WSK_TASK_MLP ? 0.05f : 0.2f;
    free(sgd_run(&t, 7, 40, lr, &l0, &l1, NULL));
    printf("  %s: 40 SGD steps (lr %g, momentum 0.9, batch 16), loss over the set %.4f -> %.4f\n",
           wsk_task_name(t.kind), (double)lr, l0, l1);
    assert_true(l1 < 0.5 * l0);
  }
  free_data(&d8);
  free_data(&d16);
}

static void test_task_parity(void **state) {
  (void)state;
  wsk_dataset d8, d16;
  make_data(&d8, 40, 8, 9);
  make_textures(&d16, 40, 10);
  wsk_task tm, tc;
  assert_int_equal(wsk_task_make(WSK_TASK_MLP, &d8, 16, &tm), WSK_OK);
  assert_int_equal(wsk_task_make(WSK_TASK_CNN, &d16, 16, &tc), WSK_OK);
  const wsk_isa isas[] = {WSK_ISA_SCALAR, WSK_ISA_AVX2, WSK_ISA_AVX512, WSK_ISA_NEON};
  uint64_t ref = 0;
  int runs = 0;
  for (size_t k = 0; k < 4; k++) {
    if (!(wsk_isas_available() & WSK_ISA_BIT(isas[k]))) continue;
    assert_int_equal(wsk_set_isa(isas[k]), WSK_OK);
    for (int threads = 1; threads <= 3; threads += 2) {
      assert_int_equal(wsk_threads_set_count(threads), WSK_OK);
      float lm, lc;
      float *wm = sgd_run(&tm, 11, 5, 0.05f, NULL, NULL, &lm);
      float *wc = sgd_run(&tc, 12, 5, 0.05f, NULL, NULL, &lc);
      uint64_t h = tu_digest(TU_DIGEST_INIT, wm, WSK_MLP_PARAMS);
      h = tu_digest(h, wc, WSK_CNN16_PARAMS);
      h = tu_digest(h, &lm, 1);
      h = tu_digest(h, &lc, 1);
      if (runs == 0) ref = h;
      if (h != ref) {
        print_error("%s, %d threads: digest %016llx, scalar 1 thread %016llx\n",
                    wsk_isa_name(isas[k]), threads, (unsigned long long)h, (unsigned long long)ref);
        fail();
      }
      free(wm);
      free(wc);
      runs++;
    }
  }
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  printf("  %d runs (tiers x thread counts) gave digest %016llx\n", runs, (unsigned long long)ref);
  tu_assert_digest("task runs", ref, TASK_DIGEST);
  free_data(&d8);
  free_data(&d16);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cnn16_architecture),
      cmocka_unit_test(test_cnn16_gradients),
      cmocka_unit_test(test_cnn16_channel_symmetry),
      cmocka_unit_test(test_task_make),
      cmocka_unit_test(test_task_run_determinism),
      cmocka_unit_test(test_task_sgd_lowers_loss),
      cmocka_unit_test(test_task_parity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
