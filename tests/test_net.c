/* tests/test_net.c — model/net.h and model/train.h.
 *
 * - the architectures: tensor names, shapes, offsets, 2,410 and 2,464 parameters;
 * - gradients: for both architectures, every activation, with and without
 *   dropout, the float backward against central differences of an
 *   independent double-precision reference of the same network (direct
 *   convolutions on [c][h][w], the same dropout mask): step h = 1e-5,
 *   |grad - fd| <= 1e-4 |fd| + 1e-6 on 6 entries of every tensor; the float
 *   loss within 1e-5 (relative) of the reference's;
 * - initializations: every kind's mean and standard deviation on 20,480 draws
 *   of 0.weight (64 -> 32) within 5 standard errors of the definition, the
 *   bounds of the uniform kinds, PyTorch's default bias range;
 * - training: a few epochs on synthetic data lower the loss (MLP and CNN,
 *   SGD and Adam); the trained parameters are bit-identical for 1 and 3
 *   threads and for the scalar tier and the best one; a recorded digest of
 *   them (the same on x86-64 and aarch64);
 * - the trainer runs the CNN16 (model/unf_task.h's CNN, tested there) on
 *   16 x 16 images and lowers its loss, so a zoo of CNN16s works too;
 * - the batcher covers every row once per epoch; bad arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/net.h"
#include "model/train.h"
#include "testutil.h"

#define TRAIN_DIGEST 0x0ea8314c624d2294ull

/* ---- double-precision reference ---------------------------------------------------- */

static double act_d(wsk_net_act a, double x) {
  switch (a) {
    case WSK_NET_RELU: return x > 0 ? x : 0;
    case WSK_NET_TANH: return tanh(x);
    case WSK_NET_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case WSK_NET_SIGMOID: return 1.0 / (1.0 + exp(-x));
    default: return x;
  }
}

static const double *T(const wsk_net *net, const double *p, int t) {
  return p + net->tensors[t].offset;
}

/* out[o][h-k+1][w-k+1] = act(b[o] + sum w[o][c][kh][kw] in[c][i+kh][j+kw]) */
static void conv_d(int c, int h, int w, int o, int k, const double *in, const double *wt,
                   const double *b, wsk_net_act a, double *out) {
  const int oh = h - k + 1, ow = w - k + 1;
  for (int q = 0; q < o; q++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        double s = b[q];
        for (int ci = 0; ci < c; ci++)
          for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++)
              s += wt[((q * c + ci) * k + kh) * k + kw] * in[(ci * h + i + kh) * w + j + kw];
        out[(q * oh + i) * ow + j] = act_d(a, s);
      }
}

static void pool_d(int c, int h, int w, const double *in, double *out) {
  for (int q = 0; q < c; q++)
    for (int i = 0; i < h / 2; i++)
      for (int j = 0; j < w / 2; j++) {
        double m = in[(q * h + 2 * i) * w + 2 * j];
        for (int t = 1; t < 4; t++) {
          const double v = in[(q * h + 2 * i + t / 2) * w + 2 * j + t % 2];
          if (v > m) m = v;
        }
        out[(q * (h / 2) + i) * (w / 2) + j] = m;
      }
}

/* y[o] = act(b + W x), W [o][n] */
static void fc_d(int n, int o, const double *x, const double *wt, const double *b, int act,
                 double *y) {
  for (int q = 0; q < o; q++) {
    double s = b[q];
    for (int i = 0; i < n; i++) s += wt[q * n + i] * x[i];
    y[q] = act < 0 ? s : act_d((wsk_net_act)act, s);
  }
}

/* mean cross-entropy of the reference network; mask: hidden multipliers or NULL */
static double ref_loss(const wsk_net *net, const double *p, const float *x, const uint8_t *y, int B,
                       const float *mask) {
  double total = 0;
  for (int b = 0; b < B; b++) {
    double in[784], z[10], h[32];
    for (int i = 0; i < net->in_size; i++) in[i] = x[(size_t)b * net->in_size + i];
    int H;
    if (net->arch == WSK_ARCH_MLP) {
      H = 32;
      fc_d(64, 32, in, T(net, p, 0), T(net, p, 1), (int)net->act, h);
    } else {
      double c1[8 * 24 * 24], p1[8 * 12 * 12], c2[6 * 8 * 8], p2[6 * 4 * 4], c3[36];
      conv_d(1, 28, 28, 8, 5, in, T(net, p, 0), T(net, p, 1), net->act, c1);
      pool_d(8, 24, 24, c1, p1);
      conv_d(8, 12, 12, 6, 5, p1, T(net, p, 2), T(net, p, 3), net->act, c2);
      pool_d(6, 8, 8, c2, p2);
      conv_d(6, 4, 4, 4, 2, p2, T(net, p, 4), T(net, p, 5), net->act, c3);
      H = 20;
      fc_d(36, 20, c3, T(net, p, 6), T(net, p, 7), (int)net->act, h);
    }
    if (mask)
      for (int j = 0; j < H; j++) h[j] *= mask[b * H + j];
    const int last = net->n_tensors - 2;
    fc_d(H, 10, h, T(net, p, last), T(net, p, last + 1), -1, z);
    double m = z[0];
    for (int j = 1; j < 10; j++) m = z[j] > m ? z[j] : m;
    double s = 0;
    for (int j = 0; j < 10; j++) s += exp(z[j] - m);
    total += m + log(s) - z[y[b]];
  }
  return total / B;
}

/* ---- helpers ----------------------------------------------------------------------- */

/* Synthetic 10-class data: noise in [0, 0.3) plus 0.6 on the pixels p with
 * p % 10 == label (stripes a linear layer separates). */
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

static void free_data(wsk_dataset *d) {
  free(d->x);
  free(d->y);
}

/* ---- architecture ------------------------------------------------------------------- */

static void test_architectures(void **state) {
  (void)state;
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(net.n_params, WSK_MLP_PARAMS);
  assert_int_equal(net.n_params, 2410);
  assert_int_equal(net.n_tensors, 4);
  assert_string_equal(net.tensors[0].name, "0.weight");
  assert_int_equal(net.tensors[0].shape[0], 32);
  assert_int_equal(net.tensors[0].shape[1], 64);
  assert_string_equal(net.tensors[2].name, "2.weight");
  assert_int_equal(net.tensors[2].shape[0], 10);
  assert_int_equal(net.tensors[3].offset, 2400);
  assert_int_equal(net.in_size, 64);

  assert_int_equal(wsk_net_make(&net, WSK_ARCH_CNN, WSK_NET_TANH, 0.5f), WSK_OK);
  assert_int_equal(net.n_params, 2464); /* the paper's CNN */
  assert_int_equal(net.n_params, WSK_CNN_PARAMS);
  static const char *names[] = {"0.weight", "0.bias",   "3.weight", "3.bias",    "6.weight",
                                "6.bias",   "9.weight", "9.bias",   "11.weight", "11.bias"};
  static const size_t numel[] = {200, 8, 1200, 6, 96, 4, 720, 20, 200, 10};
  size_t off = 0;
  assert_int_equal(net.n_tensors, 10);
  for (int i = 0; i < 10; i++) {
    assert_string_equal(net.tensors[i].name, names[i]);
    assert_int_equal(net.tensors[i].numel, numel[i]);
    assert_int_equal(net.tensors[i].offset, off);
    off += numel[i];
  }
  assert_int_equal(net.tensors[2].rank, 4);
  assert_int_equal(net.tensors[2].shape[0], 6);
  assert_int_equal(net.tensors[2].shape[1], 8);
  assert_int_equal(net.tensors[2].shape[2], 5);
  assert_int_equal(net.tensors[2].fan_in, 200);
  assert_int_equal(net.tensors[2].fan_out, 150);
  assert_int_equal(net.in_size, 784);

  /* names round-trip */
  for (int i = 0; i < WSK_INIT_COUNT; i++) {
    wsk_init v;
    assert_int_equal(wsk_init_parse(wsk_init_name((wsk_init)i), &v), WSK_OK);
    assert_int_equal(v, i);
  }
  for (int i = 0; i < WSK_NET_ACT_COUNT; i++) {
    wsk_net_act v;
    assert_int_equal(wsk_net_act_parse(wsk_net_act_name((wsk_net_act)i), &v), WSK_OK);
    assert_int_equal(v, i);
  }
  wsk_arch a;
  assert_int_equal(wsk_arch_parse("cnn", &a), WSK_OK);
  assert_int_equal(a, WSK_ARCH_CNN);
  assert_int_equal(wsk_arch_parse("resnet", &a), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "resnet"));
  wsk_init in;
  assert_int_equal(wsk_init_parse("Kaiming", &in), WSK_ERR_ARG);
  assert_string_equal(wsk_init_name((wsk_init)17), "?");
}

/* ---- gradients ---------------------------------------------------------------------- */

static void gradcheck(wsk_arch arch, wsk_net_act act, float p_drop) {
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, arch, act, p_drop), WSK_OK);
  const int B = arch == WSK_ARCH_MLP ? 5 : 2;
  const int H = arch == WSK_ARCH_MLP ? 32 : 20;
  wsk_dataset d;
  make_data(&d, (size_t)B, net.in_rows, 99 + act);
  float *params = malloc(net.n_params * sizeof(float));
  float *grad = malloc(net.n_params * sizeof(float));
  double *pd = malloc(net.n_params * sizeof(double));
  wsk_rng r;
  wsk_rng_seed(&r, 7 + act, 0);
  assert_int_equal(wsk_net_init_params(&net, WSK_INIT_XAVIER_UNIFORM, &r, params), WSK_OK);
  for (size_t i = 0; i < net.n_params; i++) pd[i] = params[i];

  wsk_net_ws *ws;
  assert_int_equal(wsk_net_ws_create(&net, B, &ws), WSK_OK);
  wsk_rng drop;
  wsk_rng_seed(&drop, 11, 2);
  float loss;
  int correct;
  assert_int_equal(wsk_net_loss_grad(&net, params, d.x, d.y, B, &drop, ws, &loss, &correct, grad),
                   WSK_OK);
  assert_true(correct >= 0 && correct <= B);

  /* the same mask as the network drew (draw order of model/net.h) */
  float mask[5 * 32];
  wsk_rng_seed(&drop, 11, 2);
  for (int i = 0; i < B * H; i++) {
    const float u = wsk_rng_uniform(&drop);
    mask[i] = p_drop > 0 ? (u >= p_drop ? 1.0f / (1.0f - p_drop) : 0.0f) : 1.0f;
  }
  const double l0 = ref_loss(&net, pd, d.x, d.y, B, mask);
  if (fabs(loss - l0) > 1e-5 * fabs(l0) + 1e-6) {
    print_error("%s/%s: loss %.9g, reference %.12g\n", wsk_arch_name(arch), wsk_net_act_name(act),
                (double)loss, l0);
    fail();
  }

  tu_rng pick = {1234 + (uint64_t)act};
  const double h = 1e-5;
  double worst = 0;
  for (int t = 0; t < net.n_tensors; t++) {
    const wsk_net_tensor *tt = &net.tensors[t];
    for (int k = 0; k < 6; k++) {
      const size_t i = tt->offset + tu_int(&pick, 0, tt->numel - 1);
      const double keep = pd[i];
      pd[i] = keep + h;
      const double lp = ref_loss(&net, pd, d.x, d.y, B, mask);
      pd[i] = keep - h;
      const double lm = ref_loss(&net, pd, d.x, d.y, B, mask);
      pd[i] = keep;
      const double fd = (lp - lm) / (2 * h);
      const double err = fabs(grad[i] - fd), tol = 1e-4 * fabs(fd) + 1e-6;
      if (err / tol > worst) worst = err / tol;
      if (err > tol) {
        print_error("%s/%s/dropout %.1f: d loss / d %s[%zu] = %.9g, central difference %.9g\n",
                    wsk_arch_name(arch), wsk_net_act_name(act), (double)p_drop, tt->name,
                    i - tt->offset, (double)grad[i], fd);
        fail();
      }
    }
  }
  printf("  %s %-7s dropout %.1f: loss %.6f, worst error / tolerance %.3f\n", wsk_arch_name(arch),
         wsk_net_act_name(act), (double)p_drop, (double)loss, worst);

  /* evaluation mode (no rng) is the network without dropout */
  float loss_eval;
  assert_int_equal(wsk_net_loss_grad(&net, params, d.x, d.y, B, NULL, ws, &loss_eval, NULL, NULL),
                   WSK_OK);
  const double le = ref_loss(&net, pd, d.x, d.y, B, NULL);
  assert_true(fabs(loss_eval - le) <= 1e-5 * fabs(le) + 1e-6);
  /* forward's logits agree with loss_grad's loss */
  float logits[5 * 10];
  assert_int_equal(wsk_net_forward(&net, params, d.x, B, NULL, ws, logits), WSK_OK);
  double sum_loss = 0;
  size_t ok = 0;
  assert_int_equal(wsk_net_evaluate(&net, params, d.x, d.y, NULL, (size_t)B, ws, &sum_loss, &ok),
                   WSK_OK);
  assert_true((float)(sum_loss / B) == loss_eval);

  wsk_net_ws_free(ws);
  free(params);
  free(grad);
  free(pd);
  free_data(&d);
}

static void test_gradients_mlp(void **state) {
  (void)state;
  for (int a = 0; a < WSK_NET_ACT_COUNT; a++) {
    gradcheck(WSK_ARCH_MLP, (wsk_net_act)a, 0.0f);
    gradcheck(WSK_ARCH_MLP, (wsk_net_act)a, 0.3f);
  }
}

static void test_gradients_cnn(void **state) {
  (void)state;
  for (int a = 0; a < WSK_NET_ACT_COUNT; a++) {
    gradcheck(WSK_ARCH_CNN, (wsk_net_act)a, 0.0f);
    gradcheck(WSK_ARCH_CNN, (wsk_net_act)a, 0.4f);
  }
}

/* ---- initializations ---------------------------------------------------------------- */

static void test_init_statistics(void **state) {
  (void)state;
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  const double fi = 64, fo = 32;
  /* want mean, std; for the uniform kinds also [lo, hi] */
  struct {
    wsk_init init;
    double mean, sd, lo, hi;
  } kinds[] = {
      {WSK_INIT_UNIFORM, 0.5, sqrt(1.0 / 12), 0, 1},
      {WSK_INIT_NORMAL, 0, 1, -INFINITY, INFINITY},
      {WSK_INIT_KAIMING_UNIFORM, 0, sqrt(2.0 / fi), -sqrt(6.0 / fi), sqrt(6.0 / fi)},
      {WSK_INIT_KAIMING_NORMAL, 0, sqrt(2.0 / fi), -INFINITY, INFINITY},
      {WSK_INIT_XAVIER_UNIFORM, 0, sqrt(2.0 / (fi + fo)), -sqrt(6.0 / (fi + fo)),
       sqrt(6.0 / (fi + fo))},
      {WSK_INIT_XAVIER_NORMAL, 0, sqrt(2.0 / (fi + fo)), -INFINITY, INFINITY},
  };
  float *p = malloc(net.n_params * sizeof(float));
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    double s = 0, s2 = 0, bmax = 0;
    size_t n = 0;
    for (int rep = 0; rep < 10; rep++) {
      wsk_rng r;
      wsk_rng_seed(&r, 500 + rep, k);
      assert_int_equal(wsk_net_init_params(&net, kinds[k].init, &r, p), WSK_OK);
      for (size_t i = 0; i < net.tensors[0].numel; i++) {
        const double v = p[i];
        assert_true(v >= kinds[k].lo && v <= kinds[k].hi);
        s += v;
        s2 += v * v;
        n++;
      }
      /* biases: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
      for (size_t i = 0; i < 32; i++) {
        const double v = fabs(p[net.tensors[1].offset + i]);
        assert_true(v <= 1.0 / 8);
        bmax = v > bmax ? v : bmax;
      }
      for (size_t i = 0; i < 10; i++)
        assert_true(fabs(p[net.tensors[3].offset + i]) <= 1.0 / sqrt(32.0));
    }
    assert_true(bmax > 0.1); /* the bias range is used, not zeros */
    const double mean = s / n, sd = sqrt(s2 / n - mean * mean);
    const double se_mean = kinds[k].sd / sqrt((double)n), se_sd = kinds[k].sd / sqrt(2.0 * n);
    if (fabs(mean - kinds[k].mean) > 5 * se_mean || fabs(sd - kinds[k].sd) > 5 * se_sd) {
      print_error("%s: mean %.5f std %.5f, want %.5f %.5f\n", wsk_init_name(kinds[k].init), mean,
                  sd, kinds[k].mean, kinds[k].sd);
      fail();
    }
  }
  /* CNN fans: 3.weight is [6][8][5][5], kaiming_uniform bound sqrt(6 / 200) */
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_CNN, WSK_NET_RELU, 0.0f), WSK_OK);
  float *q = malloc(net.n_params * sizeof(float));
  wsk_rng r;
  wsk_rng_seed(&r, 3, 3);
  assert_int_equal(wsk_net_init_params(&net, WSK_INIT_KAIMING_UNIFORM, &r, q), WSK_OK);
  double m = 0;
  for (size_t i = 0; i < net.tensors[2].numel; i++) {
    const double v = fabs(q[net.tensors[2].offset + i]);
    assert_true(v <= sqrt(6.0 / 200));
    m = v > m ? v : m;
  }
  assert_true(m > 0.9 * sqrt(6.0 / 200));
  free(q);
  free(p);
}

/* ---- training ----------------------------------------------------------------------- */

/* Trains a small network and returns its parameters (malloc'd) and losses. */
static float *train_small(wsk_arch arch, wsk_optimizer opt, wsk_net_act act, const wsk_dataset *d,
                          const wsk_dataset *test, int epochs, double *loss0, double *loss1) {
  wsk_train_hparams hp;
  wsk_train_hparams_default(&hp);
  hp.arch = arch;
  hp.opt = opt;
  hp.act = act;
  hp.lr = opt == WSK_OPT_ADAM ? 0.01f : 0.05f;
  hp.dropout = 0.1f;
  hp.weight_decay = 1e-4f;
  hp.train_frac = 0.75f;
  hp.max_grad_norm = 5.0f;
  hp.batch = 16;
  hp.seed = 4321;
  wsk_trainer *t;
  assert_int_equal(wsk_trainer_create(&hp, d, &t), WSK_OK);
  assert_int_equal(t->n_subset, (size_t)floor(0.75 * d->n + 0.5));
  wsk_eval e0, e1, et;
  assert_int_equal(wsk_trainer_eval(t, NULL, &e0), WSK_OK);
  for (int e = 0; e < epochs; e++) {
    wsk_epoch_stats st;
    assert_int_equal(wsk_trainer_epoch(t, &st), WSK_OK);
    assert_int_equal(st.steps, (int64_t)((t->n_subset + 15) / 16));
    assert_int_equal(st.skipped, 0);
  }
  assert_int_equal(wsk_trainer_eval(t, NULL, &e1), WSK_OK);
  assert_int_equal(wsk_trainer_eval(t, test, &et), WSK_OK);
  assert_int_equal(e1.n, t->n_subset);
  assert_int_equal(et.n, test->n);
  if (loss0) *loss0 = e0.loss;
  if (loss1) *loss1 = e1.loss;
  float *p = malloc(t->net.n_params * sizeof(float));
  memcpy(p, t->params, t->net.n_params * sizeof(float));
  wsk_trainer_free(t);
  return p;
}

static void test_training_lowers_loss(void **state) {
  (void)state;
  wsk_dataset d8, t8, d28, t28;
  make_data(&d8, 256, 8, 1);
  make_data(&t8, 100, 8, 2);
  make_data(&d28, 64, 28, 3);
  make_data(&t28, 20, 28, 4);
  for (int o = 0; o < 2; o++) {
    double l0, l1;
    free(train_small(WSK_ARCH_MLP, (wsk_optimizer)o, WSK_NET_RELU, &d8, &t8, 4, &l0, &l1));
    printf("  mlp %s: train loss %.4f -> %.4f\n", wsk_optimizer_name((wsk_optimizer)o), l0, l1);
    assert_true(l1 < 0.6 * l0);
    free(train_small(WSK_ARCH_CNN, (wsk_optimizer)o, WSK_NET_TANH, &d28, &t28, 8, &l0, &l1));
    printf("  cnn %s: train loss %.4f -> %.4f\n", wsk_optimizer_name((wsk_optimizer)o), l0, l1);
    assert_true(l1 < 0.7 * l0);
  }
  free_data(&d8);
  free_data(&t8);
  free_data(&d28);
  free_data(&t28);
}

static void test_training_cnn16(void **state) {
  (void)state;
  wsk_dataset d16, t16;
  make_data(&d16, 64, 16, 11);
  make_data(&t16, 20, 16, 12);
  double l0, l1;
  free(train_small(WSK_ARCH_CNN16, WSK_OPT_ADAM, WSK_NET_RELU, &d16, &t16, 15, &l0, &l1));
  printf("  cnn16 adam: train loss %.4f -> %.4f\n", l0, l1);
  assert_true(l1 < 0.7 * l0);
  /* 8 x 8 data is refused with the size it needs */
  wsk_dataset d8;
  make_data(&d8, 10, 8, 13);
  wsk_train_hparams hp;
  wsk_train_hparams_default(&hp);
  hp.arch = WSK_ARCH_CNN16;
  wsk_trainer *t;
  assert_int_equal(wsk_trainer_create(&hp, &d8, &t), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "16 x 16"));
  free_data(&d8);
  free_data(&d16);
  free_data(&t16);
}

/* The same bits for 1 and 3 threads, for the scalar tier and the best, and
 * the recorded digest. */
static void test_training_parity(void **state) {
  (void)state;
  wsk_dataset d8, t8, d28, t28;
  make_data(&d8, 96, 8, 5);
  make_data(&t8, 20, 8, 6);
  make_data(&d28, 24, 28, 7);
  make_data(&t28, 8, 28, 8);
  float *ref_mlp = NULL, *ref_cnn = NULL;
  const wsk_isa isas[] = {WSK_ISA_SCALAR, WSK_ISA_AVX2, WSK_ISA_AVX512, WSK_ISA_NEON};
  int runs = 0;
  for (size_t k = 0; k < 4; k++) {
    if (!(wsk_isas_available() & WSK_ISA_BIT(isas[k]))) continue;
    assert_int_equal(wsk_set_isa(isas[k]), WSK_OK);
    for (int threads = 1; threads <= 3; threads += 2) {
      assert_int_equal(wsk_threads_set_count(threads), WSK_OK);
      float *m = train_small(WSK_ARCH_MLP, WSK_OPT_ADAM, WSK_NET_GELU, &d8, &t8, 2, NULL, NULL);
      float *c = train_small(WSK_ARCH_CNN, WSK_OPT_SGD, WSK_NET_SIGMOID, &d28, &t28, 1, NULL, NULL);
      if (!ref_mlp) {
        ref_mlp = m;
        ref_cnn = c;
      } else {
        char what[64];
        snprintf(what, sizeof what, "mlp %s %d threads", wsk_isa_name(isas[k]), threads);
        tu_assert_bits(m, ref_mlp, WSK_MLP_PARAMS, what);
        snprintf(what, sizeof what, "cnn %s %d threads", wsk_isa_name(isas[k]), threads);
        tu_assert_bits(c, ref_cnn, WSK_CNN_PARAMS, what);
        free(m);
        free(c);
      }
      runs++;
    }
  }
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  printf("  %d runs (tiers x thread counts) gave the same bits\n", runs);
  uint64_t h = tu_digest(TU_DIGEST_INIT, ref_mlp, WSK_MLP_PARAMS);
  h = tu_digest(h, ref_cnn, WSK_CNN_PARAMS);
  tu_assert_digest("training", h, TRAIN_DIGEST);
  free(ref_mlp);
  free(ref_cnn);
  free_data(&d8);
  free_data(&t8);
  free_data(&d28);
  free_data(&t28);
}

/* ---- batcher and bad arguments -------------------------------------------------------------- */

static void test_batcher(void **state) {
  (void)state;
  wsk_dataset d;
  make_data(&d, 23, 8, 9);
  const uint32_t rows[] = {3, 5, 7, 9, 11, 13, 15};
  wsk_rng r;
  wsk_rng_seed(&r, 1, 1);
  wsk_batcher b;
  assert_int_equal(wsk_batcher_init(&b, &d, rows, 7, 3, &r), WSK_OK);
  for (int epoch = 0; epoch < 3; epoch++) {
    int seen[23] = {0}, end = 0, batches = 0;
    while (!end) {
      const float *x;
      const uint8_t *y;
      int n;
      assert_int_equal(wsk_batcher_next(&b, &x, &y, &n, &end), WSK_OK);
      batches++;
      assert_int_equal(n, batches < 3 ? 3 : 1);
      for (int i = 0; i < n; i++) {
        /* find the row by its pixels */
        int found = -1;
        for (int j = 0; j < 23; j++)
          if (memcmp(x + i * 64, d.x + j * 64, 64 * sizeof(float)) == 0) found = j;
        assert_true(found >= 0);
        assert_int_equal(y[i], d.y[found]);
        seen[found]++;
      }
    }
    assert_int_equal(batches, 3);
    for (int j = 0; j < 23; j++) assert_int_equal(seen[j], (j % 2 == 1 && j >= 3 && j <= 15));
  }
  wsk_batcher_free(&b);
  const uint32_t bad[] = {1, 23};
  assert_int_equal(wsk_batcher_init(&b, &d, bad, 2, 3, &r), WSK_ERR_ARG);
  assert_int_equal(wsk_batcher_init(&b, &d, NULL, 0, 0, &r), WSK_ERR_SIZE);
  free_data(&d);
}

static void test_bad_arguments(void **state) {
  (void)state;
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 1.0f), WSK_ERR_ARG);
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, -0.1f), WSK_ERR_ARG);
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_COUNT, WSK_NET_RELU, 0.0f), WSK_ERR_ARG);
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, (wsk_net_act)9, 0.0f), WSK_ERR_ARG);
  assert_int_equal(wsk_net_make(NULL, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_ERR_NULL);
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  wsk_net cnn;
  assert_int_equal(wsk_net_make(&cnn, WSK_ARCH_CNN, WSK_NET_RELU, 0.0f), WSK_OK);
  wsk_net_ws *ws;
  assert_int_equal(wsk_net_ws_create(&net, 0, &ws), WSK_ERR_SIZE);
  assert_int_equal(wsk_net_ws_create(&net, 4, &ws), WSK_OK);
  float params[WSK_CNN_PARAMS] = {0}, x[5 * 784] = {0}, grad[WSK_CNN_PARAMS], loss;
  uint8_t y[5] = {0, 1, 2, 3, 10};
  assert_int_equal(wsk_net_loss_grad(&net, params, x, y, 5, NULL, ws, &loss, NULL, grad),
                   WSK_ERR_SIZE); /* batch above the workspace's */
  assert_int_equal(wsk_net_loss_grad(&cnn, params, x, y, 2, NULL, ws, &loss, NULL, grad),
                   WSK_ERR_ARG); /* workspace of the other architecture */
  assert_int_equal(wsk_net_loss_grad(&net, params, x, y + 1, 4, NULL, ws, &loss, NULL, grad),
                   WSK_ERR_ARG); /* label 10 */
  assert_non_null(strstr(wsk_last_error(), "label 10"));
  assert_int_equal(wsk_net_loss_grad(&net, NULL, x, y, 4, NULL, ws, &loss, NULL, grad),
                   WSK_ERR_NULL);
  wsk_net_ws_free(ws);

  wsk_dataset d;
  make_data(&d, 10, 8, 1);
  wsk_train_hparams hp;
  wsk_train_hparams_default(&hp);
  wsk_trainer *t;
  hp.arch = WSK_ARCH_CNN; /* 8 x 8 data */
  assert_int_equal(wsk_trainer_create(&hp, &d, &t), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "28 x 28"));
  wsk_train_hparams_default(&hp);
  hp.lr = 0;
  assert_int_equal(wsk_trainer_create(&hp, &d, &t), WSK_ERR_ARG);
  wsk_train_hparams_default(&hp);
  hp.train_frac = 1.5f;
  assert_int_equal(wsk_trainer_create(&hp, &d, &t), WSK_ERR_ARG);
  wsk_train_hparams_default(&hp);
  hp.batch = 0;
  assert_int_equal(wsk_trainer_create(&hp, &d, &t), WSK_ERR_SIZE);
  wsk_optimizer o;
  assert_int_equal(wsk_optimizer_parse("adamw", &o), WSK_ERR_ARG);
  free_data(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_architectures),
      cmocka_unit_test(test_gradients_mlp),
      cmocka_unit_test(test_gradients_cnn),
      cmocka_unit_test(test_init_statistics),
      cmocka_unit_test(test_training_lowers_loss),
      cmocka_unit_test(test_training_parity),
      cmocka_unit_test(test_training_cnn16),
      cmocka_unit_test(test_batcher),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
