/* tests/test_ssl.c — the SSL hyper-representation model and its training
 * (model/ssl_model.h, model/ssl_train.h):
 *
 * - tokens: the MLP's and the CNN's token layout; tokenize / detokenize
 *   round trip, bit for bit;
 * - the permutation augmentation leaves the network's function unchanged:
 *   the MLP's and the CNN's logits (model/net.h) on a few inputs before and
 *   after agree within 1e-5 (the sums run in another order); erasing zeroes
 *   one contiguous block of the allowed length; noise has the set deviation;
 * - NT-Xent against a hand-computed case (two pairs of identical orthogonal
 *   vectors: C = log(2 + e^(1/τ)) - 1/τ) at τ = 1 and 0.1, and its gradient
 *   against central differences of a double reference;
 * - the whole loss: the float loss within 1e-5 (relative) of the double
 *   reference of tests/test_ssl_ref.h, and the gradient of 4 entries of every
 *   parameter tensor (first, middle, last, largest) against central
 *   differences of that reference (step 1e-6): |g - fd| <= 1e-3 max |g| of
 *   the tensor + 1e-7;
 * - a few Adam steps on a fixed batch lower the loss;
 * - wsk_ssl_run on a synthetic zoo: the outputs (embeddings [rows][latent + 2 layers D]
 *   in zoo.csv order, the loss curve, the model file), a rerun finds the run
 *   finished, other settings are refused unless forced; the same bits for 1
 *   and 3 threads and for every ISA tier, and a recorded digest of the
 *   parameters and embeddings (the same on x86-64 and aarch64);
 * - bad arguments.
 */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ssl_model.h"
#include "model/ssl_train.h"
#include "test_ssl_ref.h"
#include "test_ssl_zoo.h"
#include "testutil.h"

#define SSL_RUN_DIGEST 0xfe4498b41f1e5b20ull

/* ---- tokens ---- */

static void test_tokens(void **state) {
  (void)state;
  wsk_net net;
  wsk_ssl_tokens tk;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(wsk_ssl_tokens_from_net(&net, &tk), WSK_OK);
  assert_int_equal(tk.layers, 2);
  assert_int_equal(tk.n[0], 32);
  assert_int_equal(tk.width[0], 65);
  assert_int_equal(tk.n[1], 10);
  assert_int_equal(tk.width[1], 33);
  assert_int_equal(tk.group[1], 1);
  assert_int_equal(tk.ntok, 42);
  assert_int_equal(tk.nvals, WSK_MLP_PARAMS);
  float p[WSK_CNN_PARAMS], t[WSK_CNN_PARAMS], q[WSK_CNN_PARAMS];
  tu_rng rng = {11};
  tu_fill(&rng, p, WSK_MLP_PARAMS, -1, 1);
  wsk_ssl_tokenize(&tk, p, t);
  /* token 3 of layer 0: row 3 of 0.weight, then 0.bias[3] */
  assert_memory_equal(t + 3 * 65, p + 3 * 64, 64 * sizeof(float));
  assert_true(t[3 * 65 + 64] == p[2048 + 3]);
  wsk_ssl_detokenize(&tk, t, q);
  tu_assert_bits(q, p, WSK_MLP_PARAMS, "mlp round trip");

  assert_int_equal(wsk_net_make(&net, WSK_ARCH_CNN, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(wsk_ssl_tokens_from_net(&net, &tk), WSK_OK);
  const int n[] = {8, 6, 4, 20, 10}, w[] = {26, 201, 25, 37, 21}, g[] = {0, 25, 4, 9, 1};
  assert_int_equal(tk.layers, 5);
  for (int l = 0; l < 5; l++) {
    assert_int_equal(tk.n[l], n[l]);
    assert_int_equal(tk.width[l], w[l]);
    assert_int_equal(tk.group[l], g[l]);
  }
  assert_int_equal(tk.ntok, 48);
  assert_int_equal(tk.nvals, WSK_CNN_PARAMS);
  tu_fill(&rng, p, WSK_CNN_PARAMS, -1, 1);
  wsk_ssl_tokenize(&tk, p, t);
  wsk_ssl_detokenize(&tk, t, q);
  tu_assert_bits(q, p, WSK_CNN_PARAMS, "cnn round trip");
}

/* ---- augmentations ---- */

static void check_function_preserved(wsk_arch arch, int inputs, uint64_t seed) {
  wsk_net net;
  wsk_ssl_tokens tk;
  assert_int_equal(wsk_net_make(&net, arch, WSK_NET_TANH, 0.0f), WSK_OK);
  assert_int_equal(wsk_ssl_tokens_from_net(&net, &tk), WSK_OK);
  const size_t np = net.n_params;
  float *p = malloc(np * sizeof(float)), *t = malloc(np * sizeof(float));
  float *tp = malloc(np * sizeof(float)), *pp = malloc(np * sizeof(float));
  float *x = malloc((size_t)inputs * (size_t)net.in_size * sizeof(float));
  float y0[8 * WSK_NET_CLASSES], y1[8 * WSK_NET_CLASSES];
  uint32_t perm[64];
  wsk_rng rng;
  wsk_rng_seed(&rng, seed, 0);
  assert_int_equal(wsk_net_init_params(&net, WSK_INIT_KAIMING_UNIFORM, &rng, p), WSK_OK);
  tu_rng tr = {seed};
  tu_fill(&tr, x, (size_t)inputs * (size_t)net.in_size, 0, 1);
  wsk_ssl_tokenize(&tk, p, t);
  wsk_ssl_augment aug = {1, 0.0f, 0.0f, 0.0f, 0.0f}; /* permutation only */
  wsk_ssl_augment_view(&tk, &aug, &rng, t, tp, pp, perm);
  assert_memory_equal(tp, pp, np * sizeof(float)); /* no erasing, no noise */
  wsk_ssl_detokenize(&tk, tp, pp);
  assert_true(tu_bitdiff(pp, p, np) >= 0); /* the weights did move */
  wsk_net_ws *ws;
  assert_int_equal(wsk_net_ws_create(&net, inputs, &ws), WSK_OK);
  assert_int_equal(wsk_net_forward(&net, p, x, inputs, NULL, ws, y0), WSK_OK);
  assert_int_equal(wsk_net_forward(&net, pp, x, inputs, NULL, ws, y1), WSK_OK);
  for (int i = 0; i < inputs * WSK_NET_CLASSES; i++)
    if (fabsf(y0[i] - y1[i]) > 1e-5f * (1.0f + fabsf(y0[i]))) {
      print_error("%s logit %d: %.8g before, %.8g after the permutation\n", wsk_arch_name(arch), i,
                  (double)y0[i], (double)y1[i]);
      fail();
    }
  printf("  %s: permuted weights, the same function on %d inputs\n", wsk_arch_name(arch), inputs);
  wsk_net_ws_free(ws);
  free(p);
  free(t);
  free(tp);
  free(pp);
  free(x);
}

static void test_permutation_keeps_function(void **state) {
  (void)state;
  check_function_preserved(WSK_ARCH_MLP, 8, 21);
  check_function_preserved(WSK_ARCH_CNN, 3, 22);
}

static void test_erasing_and_noise(void **state) {
  (void)state;
  wsk_net net;
  wsk_ssl_tokens tk;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(wsk_ssl_tokens_from_net(&net, &tk), WSK_OK);
  const size_t n = tk.nvals;
  float clean[WSK_MLP_PARAMS], tgt[WSK_MLP_PARAMS], in[WSK_MLP_PARAMS];
  uint32_t perm[64];
  tu_rng tr = {31};
  tu_fill(&tr, clean, n, 1.0f, 2.0f); /* no zeros of its own */
  wsk_rng rng;
  wsk_rng_seed(&rng, 5, 0);
  const wsk_ssl_augment erase = {0, 1.0f, 0.1f, 0.2f, 0.0f};
  for (int rep = 0; rep < 20; rep++) {
    wsk_ssl_augment_view(&tk, &erase, &rng, clean, tgt, in, perm);
    assert_memory_equal(tgt, clean, n * sizeof(float)); /* no permutation */
    size_t first = n, last = 0, zeros = 0;
    for (size_t i = 0; i < n; i++)
      if (in[i] == 0.0f) {
        if (first == n) first = i;
        last = i;
        zeros++;
      } else {
        assert_true(in[i] == clean[i]);
      }
    assert_int_equal(zeros, last - first + 1); /* contiguous */
    assert_true(zeros >= (size_t)(0.1f * (float)n) && zeros <= (size_t)(0.2f * (float)n));
  }
  const wsk_ssl_augment noise = {0, 0.0f, 0.0f, 0.0f, 0.05f};
  wsk_ssl_augment_view(&tk, &noise, &rng, clean, tgt, in, perm);
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = (double)in[i] - (double)tgt[i];
    s += d;
    ss += d * d;
  }
  const double sd = sqrt(ss / (double)n - (s / (double)n) * (s / (double)n));
  assert_true(fabs(sd - 0.05) < 0.005);
}

/* ---- NT-Xent ---- */

static void test_ntxent(void **state) {
  (void)state;
  /* views 0, 2 = (1, 0) and 1, 3 = (0, 1): for every i the positive has
   * similarity 1, the two negatives 0: C = log(2 + e^(1/tau)) - 1/tau */
  const float p[8] = {1, 0, 0, 1, 1, 0, 0, 1};
  const float taus[2] = {1.0f, 0.1f};
  for (int k = 0; k < 2; k++) {
    double c;
    assert_int_equal(wsk_ssl_ntxent(4, 2, p, taus[k], 1.0f, &c, NULL), WSK_OK);
    const double it = 1.0 / (double)taus[k], want = log(2.0 + exp(it)) - it;
    printf("  NT-Xent tau %g: %.9g (hand: %.9g)\n", (double)taus[k], c, want);
    assert_true(fabs(c - want) <= 2e-6);
  }
  /* the gradient against central differences, scaled */
  enum { V = 6, P = 3 };
  float q[V * P], dq[V * P];
  double dd[V * P];
  tu_rng rng = {41};
  tu_fill(&rng, q, V * P, -1, 1);
  double c;
  assert_int_equal(wsk_ssl_ntxent(V, P, q, 0.5f, 2.0f, &c, dq), WSK_OK);
  for (int i = 0; i < V * P; i++) dd[i] = q[i];
  assert_true(fabs(c - ref_ntxent(V, P, dd, 0.5)) < 1e-5);
  for (int i = 0; i < V * P; i++) {
    const double h = 1e-6, x0 = dd[i];
    dd[i] = x0 + h;
    const double lp = ref_ntxent(V, P, dd, 0.5);
    dd[i] = x0 - h;
    const double lm = ref_ntxent(V, P, dd, 0.5);
    dd[i] = x0;
    const double fd = 2.0 * (lp - lm) / (2 * h);
    assert_true(fabs((double)dq[i] - fd) <= 1e-4 * (1 + fabs(fd)));
  }
}

/* ---- the whole loss ---- */

static void small_arch(wsk_ssl_arch *a) {
  a->dim = 8;
  a->heads = 2;
  a->enc_layers = 2;
  a->dec_layers = 1;
  a->ffn = 16;
  a->latent = 4;
  a->proj_hidden = 8;
  a->proj_out = 4;
}

static void test_loss_gradient(void **state) {
  (void)state;
  wsk_net net;
  wsk_ssl_tokens tk;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(wsk_ssl_tokens_from_net(&net, &tk), WSK_OK);
  wsk_ssl_arch a;
  small_arch(&a);
  wsk_ssl_model m;
  assert_int_equal(wsk_ssl_model_make(&m, &a, &tk), WSK_OK);
  const int V = 4;
  const size_t nb = (size_t)V * tk.nvals, np = m.n_params;
  float *p = malloc(np * sizeof(float)), *g = malloc(np * sizeof(float));
  float *in = malloc(nb * sizeof(float)), *tg = malloc(nb * sizeof(float));
  double *dp = malloc(np * sizeof(double)), *din = malloc(nb * sizeof(double));
  double *dtg = malloc(nb * sizeof(double));
  wsk_rng rng;
  wsk_rng_seed(&rng, 3, 0);
  wsk_ssl_model_init(&m, &rng, p);
  tu_rng tr = {51};
  /* layer norm parameters and the zero-initialized biases away from their
   * initial values, so that every term is exercised */
  for (size_t i = 0; i < np; i++) p[i] += tu_uniform(&tr, -0.05f, 0.05f);
  tu_fill(&tr, in, nb, -1, 1);
  for (size_t i = 0; i < nb; i++) tg[i] = in[i] + tu_uniform(&tr, -0.2f, 0.2f);
  for (size_t i = 0; i < np; i++) dp[i] = p[i];
  for (size_t i = 0; i < nb; i++) {
    din[i] = in[i];
    dtg[i] = tg[i];
  }
  wsk_ssl_ws *ws;
  assert_int_equal(wsk_ssl_ws_create(&m, V, &ws), WSK_OK);
  const float gammas[3] = {0.5f, 0.0f, 1.0f};
  for (int k = 0; k < 3; k++) {
    const wsk_ssl_loss_params lp = {gammas[k], 0.1f};
    wsk_ssl_loss l;
    assert_int_equal(wsk_ssl_loss_grad(&m, p, V, in, tg, &lp, ws, &l, k == 0 ? g : NULL), WSK_OK);
    double con, rec;
    const double ref = ref_model_loss(&m, dp, V, din, dtg, gammas[k], 0.1, &con, &rec);
    printf("  gamma %.1f: loss %.8f (contrastive %.6f, reconstruction %.6f), reference %.8f\n",
           (double)gammas[k], l.total, l.contrast, l.recon, ref);
    assert_true(fabs(l.total - ref) <= 1e-5 * fabs(ref) + 1e-7);
    if (gammas[k] > 0) assert_true(fabs(l.contrast - con) <= 1e-5 * fabs(con) + 1e-7);
    if (gammas[k] < 1) assert_true(fabs(l.recon - rec) <= 1e-5 * fabs(rec) + 1e-7);
  }
  /* the probes' embedding: z (as wsk_ssl_encode gives it), then the pooled
   * token outputs, finite; it leaves the loss's bits alone */
  {
    const int64_t W = wsk_ssl_embed_width(&m);
    assert_int_equal(W, a.latent + 2 * tk.layers * a.dim);
    float *emb = malloc((size_t)V * (size_t)W * sizeof(float));
    float *z = malloc((size_t)V * (size_t)a.latent * sizeof(float));
    assert_int_equal(wsk_ssl_encode(&m, p, V, in, ws, z), WSK_OK);
    assert_int_equal(wsk_ssl_embed(&m, p, V, in, ws, emb), WSK_OK);
    for (int v = 0; v < V; v++) {
      assert_memory_equal(emb + (size_t)v * (size_t)W, z + (size_t)v * (size_t)a.latent,
                          (size_t)a.latent * sizeof(float));
      for (int64_t j = 0; j < W; j++) assert_true(isfinite(emb[(size_t)v * (size_t)W + j]));
    }
    assert_int_equal(wsk_ssl_embed(&m, p, V, in, ws, NULL), WSK_ERR_NULL);
    free(emb);
    free(z);
  }
  int checked = 0;
  for (int t = 0; t < m.n_tensors; t++) {
    const wsk_ssl_tensor *T = &m.tensors[t];
    size_t amax = 0;
    double scale = 0;
    for (size_t i = 0; i < T->numel; i++)
      if (fabs((double)g[T->offset + i]) > scale) {
        scale = fabs((double)g[T->offset + i]);
        amax = i;
      }
    const size_t idx[4] = {0, T->numel / 2, T->numel - 1, amax};
    for (int k = 0; k < 4; k++) {
      const size_t j = T->offset + idx[k];
      const double h = 1e-6, x0 = dp[j];
      double c, r;
      dp[j] = x0 + h;
      const double lp = ref_model_loss(&m, dp, V, din, dtg, 0.5, 0.1, &c, &r);
      dp[j] = x0 - h;
      const double lm = ref_model_loss(&m, dp, V, din, dtg, 0.5, 0.1, &c, &r);
      dp[j] = x0;
      const double fd = (lp - lm) / (2 * h);
      if (fabs((double)g[j] - fd) > 1e-3 * scale + 1e-7) {
        print_error("%s[%zu]: analytic %.8g, central difference %.8g (tensor max %.3g)\n", T->name,
                    idx[k], (double)g[j], fd, scale);
        fail();
      }
      checked++;
    }
  }
  printf("  %d gradient entries of %d tensors match central differences\n", checked, m.n_tensors);
  wsk_ssl_ws_free(ws);
  wsk_ssl_model_free(&m);
  free(p);
  free(g);
  free(in);
  free(tg);
  free(dp);
  free(din);
  free(dtg);
}

/* ---- training ---- */

static void test_training_lowers_loss(void **state) {
  (void)state;
  wsk_net net;
  wsk_ssl_tokens tk;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(wsk_ssl_tokens_from_net(&net, &tk), WSK_OK);
  wsk_ssl_config c;
  wsk_ssl_config_smoke(&c);
  wsk_ssl_model m;
  assert_int_equal(wsk_ssl_model_make(&m, &c.arch, &tk), WSK_OK);
  const int B = 6, V = 2 * B;
  const size_t n = tk.nvals, np = m.n_params;
  float *p = malloc(np * sizeof(float)), *g = malloc(np * sizeof(float));
  float *am = calloc(np, sizeof(float)), *av = calloc(np, sizeof(float));
  float *in = malloc((size_t)V * n * sizeof(float)), *tg = malloc((size_t)V * n * sizeof(float));
  float *clean = malloc(n * sizeof(float)), *va = malloc(n * sizeof(float));
  float *vb = malloc(n * sizeof(float));
  uint32_t perm[64];
  wsk_rng rng;
  wsk_rng_seed(&rng, 9, WSK_SSL_RNG_STREAM);
  wsk_ssl_model_init(&m, &rng, p);
  tu_rng tr = {61};
  for (int b = 0; b < B; b++) {
    tu_fill(&tr, clean, n, -1, 1);
    for (int v = 0; v < 2; v++) {
      wsk_ssl_augment_view(&tk, &c.aug, &rng, clean, va, vb, perm);
      wsk_ssl_batch_put(&tk, V, v * B + b, vb, in);
      wsk_ssl_batch_put(&tk, V, v * B + b, va, tg);
    }
  }
  wsk_ssl_ws *ws;
  assert_int_equal(wsk_ssl_ws_create(&m, V, &ws), WSK_OK);
  const wsk_ssl_loss_params lp = {0.5f, 0.1f};
  double first = 0, last = 0;
  for (int s = 1; s <= 40; s++) {
    wsk_ssl_loss l;
    assert_int_equal(wsk_ssl_loss_grad(&m, p, V, in, tg, &lp, ws, &l, g), WSK_OK);
    if (s == 1) first = l.total;
    last = l.total;
    const wsk_adam_params ap = {3e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, s, 0};
    assert_int_equal(wsk_adam((int64_t)np, p, g, am, av, &ap), WSK_OK);
  }
  printf("  40 Adam steps on a fixed batch: loss %.4f -> %.4f\n", first, last);
  assert_true(last < 0.7 * first);
  wsk_ssl_ws_free(ws);
  wsk_ssl_model_free(&m);
  free(p);
  free(g);
  free(am);
  free(av);
  free(in);
  free(tg);
  free(clean);
  free(va);
  free(vb);
}

/* ---- wsk_ssl_run ---- */

static wsk_ssl_result run_zoo(const char *zoo, const char *out, int epochs, float gamma, int force,
                              wsk_status want) {
  wsk_ssl_config c;
  wsk_ssl_config_smoke(&c);
  c.zoo_dir = zoo;
  c.out_dir = out;
  c.epochs = epochs;
  c.gamma = gamma;
  c.force = force;
  c.progress = 0;
  wsk_ssl_result r;
  const wsk_status s = wsk_ssl_run(&c, &r);
  if (s != want) {
    print_error("wsk_ssl_run: %s (%s), expected %s\n", wsk_status_name(s), wsk_last_error(),
                wsk_status_name(want));
    fail();
  }
  return r;
}

static void test_run(void **state) {
  (void)state;
  char zoo[64], out[1024], path[1100];
  assert_non_null(ssl_test_tmpdir(zoo, sizeof zoo, "zoo"));
  assert_int_equal(ssl_test_write_zoo(zoo, 10, 2, 7), 0);

  /* the outputs */
  snprintf(out, sizeof out, "%s/out", zoo);
  wsk_ssl_result r = run_zoo(zoo, out, 3, 0.5f, 0, WSK_OK);
  assert_int_equal(r.rows, 20);
  assert_int_equal(r.train_rows, 12); /* 6 of 10 models train, 2 validate, 2 test */
  assert_int_equal(r.val_rows, 4);
  assert_int_equal(r.epochs_done, 3);
  assert_int_equal(r.epochs_resumed, 0);
  for (int e = 0; e < 3; e++) assert_true(isfinite(r.history[e].val_loss));
  wsk_safetensors st;
  snprintf(path, sizeof path, "%s/embeddings.safetensors", out);
  assert_int_equal(wsk_safetensors_read(path, &st), WSK_OK);
  const long k = wsk_safetensors_find(&st, "embeddings");
  assert_true(k >= 0);
  assert_int_equal(st.ranks[k], 2);
  assert_int_equal(st.shapes[k][0], 20);
  /* z (latent 8), then two pooled sets of d_model 16 per target layer (2) */
  assert_int_equal(st.shapes[k][1], 8 + 2 * 2 * 16);
  for (int i = 0; i < 20; i++)
    for (int j = 0; j < 8; j++) assert_true(fabsf(st.data[k][i * 72 + j]) <= 1.0f); /* tanh */
  for (int i = 0; i < 20 * 72; i++) assert_true(isfinite(st.data[k][i]));
  const uint64_t emb = wsk_ssl_fnv1a(WSK_SSL_FNV_INIT, st.data[k], 20 * 72 * sizeof(float));
  assert_true(emb == r.embedding_digest);
  wsk_safetensors_free(&st);
  snprintf(path, sizeof path, "%s/ssl.safetensors", out);
  assert_int_equal(wsk_safetensors_read(path, &st), WSK_OK);
  const long e0 = wsk_safetensors_find(&st, "embed.0.weight");
  assert_true(e0 >= 0 && st.shapes[e0][0] == 16 && st.shapes[e0][1] == 65);
  assert_true(wsk_safetensors_find(&st, "norm.std") >= 0);
  assert_true(wsk_safetensors_find(&st, "enc.0.attn.in_proj_weight") >= 0);
  wsk_safetensors_free(&st);
  snprintf(path, sizeof path, "%s/ssl_loss.csv", out);
  size_t nbytes;
  char *csv = ssl_test_slurp(path, &nbytes);
  assert_non_null(csv);
  assert_true(strncmp(csv, "epoch,train_loss,val_loss,train_contrast,train_recon,", 53) == 0);
  int lines = 0;
  for (size_t i = 0; i < nbytes; i++) lines += csv[i] == '\n';
  assert_int_equal(lines, 4);
  free(csv);

  /* a rerun finds it finished: no training, the same results */
  wsk_ssl_result r2 = run_zoo(zoo, out, 3, 0.5f, 0, WSK_OK);
  assert_int_equal(r2.epochs_resumed, 3);
  assert_true(r2.param_digest == r.param_digest && r2.embedding_digest == r.embedding_digest);
  wsk_ssl_result_free(&r2);
  /* other settings: refused, unless forced */
  run_zoo(zoo, out, 3, 0.25f, 0, WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "other settings"));
  r2 = run_zoo(zoo, out, 3, 0.25f, 1, WSK_OK);
  assert_int_equal(r2.epochs_resumed, 0);
  assert_true(r2.param_digest != r.param_digest);
  wsk_ssl_result_free(&r2);

  /* the same bits for every tier and 1 or 3 threads, and the recorded digest */
  const wsk_isa isas[] = {WSK_ISA_SCALAR, WSK_ISA_AVX2, WSK_ISA_AVX512, WSK_ISA_NEON};
  int runs = 0;
  for (size_t i = 0; i < 4; i++) {
    if (!(wsk_isas_available() & WSK_ISA_BIT(isas[i]))) continue;
    assert_int_equal(wsk_set_isa(isas[i]), WSK_OK);
    for (int threads = 1; threads <= 3; threads += 2) {
      assert_int_equal(wsk_threads_set_count(threads), WSK_OK);
      snprintf(out, sizeof out, "%s/out-%s-%d", zoo, wsk_isa_name(isas[i]), threads);
      wsk_ssl_result q = run_zoo(zoo, out, 3, 0.5f, 0, WSK_OK);
      if (q.param_digest != r.param_digest || q.embedding_digest != r.embedding_digest) {
        print_error("%s, %d threads: digests %016llx %016llx, expected %016llx %016llx\n",
                    wsk_isa_name(isas[i]), threads, (unsigned long long)q.param_digest,
                    (unsigned long long)q.embedding_digest, (unsigned long long)r.param_digest,
                    (unsigned long long)r.embedding_digest);
        fail();
      }
      wsk_ssl_result_free(&q);
      runs++;
    }
  }
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  printf("  %d runs (tiers x thread counts) gave the same bits\n", runs);
  tu_assert_digest("ssl training", r.param_digest ^ (r.embedding_digest * 31), SSL_RUN_DIGEST);
  wsk_ssl_result_free(&r);
  ssl_test_rm_rf(zoo);
}

/* ---- bad arguments ---- */

static void test_bad_arguments(void **state) {
  (void)state;
  wsk_net net;
  wsk_ssl_tokens tk;
  assert_int_equal(wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(wsk_ssl_tokens_from_net(&net, &tk), WSK_OK);
  wsk_ssl_arch a;
  small_arch(&a);
  wsk_ssl_model m;
  a.heads = 3; /* 3 does not divide 8 */
  assert_int_equal(wsk_ssl_model_make(&m, &a, &tk), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "heads"));
  small_arch(&a);
  a.enc_layers = 0;
  assert_int_equal(wsk_ssl_model_make(&m, &a, &tk), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "encoder layers"));
  small_arch(&a);
  assert_int_equal(wsk_ssl_model_make(&m, &a, &tk), WSK_OK);
  wsk_ssl_ws *ws;
  assert_int_equal(wsk_ssl_ws_create(&m, 0, &ws), WSK_ERR_SIZE);
  assert_int_equal(wsk_ssl_ws_create(&m, 4, &ws), WSK_OK);
  float *p = calloc(m.n_params, sizeof(float)), *x = calloc(8 * tk.nvals, sizeof(float));
  wsk_ssl_loss l;
  wsk_ssl_loss_params lp = {0.5f, 0.1f};
  assert_int_equal(wsk_ssl_loss_grad(&m, p, 3, x, x, &lp, ws, &l, NULL), WSK_ERR_SIZE);
  assert_int_equal(wsk_ssl_loss_grad(&m, p, 6, x, x, &lp, ws, &l, NULL), WSK_ERR_SIZE);
  lp.gamma = 2.0f;
  assert_int_equal(wsk_ssl_loss_grad(&m, p, 4, x, x, &lp, ws, &l, NULL), WSK_ERR_ARG);
  lp.gamma = 0.5f;
  assert_int_equal(wsk_ssl_loss_grad(&m, NULL, 4, x, x, &lp, ws, &l, NULL), WSK_ERR_NULL);
  double c;
  assert_int_equal(wsk_ssl_ntxent(3, 2, x, 0.1f, 1.0f, &c, NULL), WSK_ERR_SIZE);
  assert_int_equal(wsk_ssl_ntxent(4, 2, x, 0.0f, 1.0f, &c, NULL), WSK_ERR_ARG);
  free(p);
  free(x);
  wsk_ssl_ws_free(ws);
  wsk_ssl_model_free(&m);

  /* wsk_ssl_run */
  wsk_ssl_config cfg;
  wsk_ssl_config_smoke(&cfg);
  cfg.progress = 0;
  assert_int_equal(wsk_ssl_run(NULL, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_ssl_run(&cfg, NULL), WSK_ERR_ARG); /* no zoo */
  char zoo[64], path[1100];
  assert_non_null(ssl_test_tmpdir(zoo, sizeof zoo, "bad"));
  cfg.zoo_dir = zoo;
  assert_int_equal(wsk_ssl_run(&cfg, NULL), WSK_ERR_IO); /* no zoo.csv */
  assert_non_null(strstr(wsk_last_error(), "zoo.csv"));
  cfg.epochs = 0;
  assert_int_equal(wsk_ssl_run(&cfg, NULL), WSK_ERR_ARG);
  cfg.epochs = 1;
  cfg.gamma = -0.5f;
  assert_int_equal(wsk_ssl_run(&cfg, NULL), WSK_ERR_ARG);
  cfg.gamma = 0.5f;
  assert_int_equal(ssl_test_write_zoo(zoo, 6, 1, 1), 0);
  /* a checkpoint with a tensor of the wrong shape */
  const float w[4] = {0};
  const wsk_tensor_ref bad[1] = {{"0.weight", 2, {2, 2}, w}};
  snprintf(path, sizeof path, "%s/ckpt/m0003_e000.safetensors", zoo);
  assert_int_equal(wsk_safetensors_write(path, bad, 1, NULL), WSK_OK);
  assert_int_equal(wsk_ssl_run(&cfg, NULL), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), "m0003_e000"));
  /* zoo.csv without a file column */
  snprintf(path, sizeof path, "%s/zoo.csv", zoo);
  assert_int_equal(wsk_file_write_atomic(path, "model_id,arch\nm0,mlp\n", 21), WSK_OK);
  assert_int_equal(wsk_ssl_run(&cfg, NULL), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), "file"));
  /* an architecture wsk does not know */
  assert_int_equal(wsk_file_write_atomic(path, "model_id,arch,file\nm0,rnn,x\n", 28), WSK_OK);
  assert_int_equal(wsk_ssl_run(&cfg, NULL), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), "rnn"));
  ssl_test_rm_rf(zoo);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tokens),
      cmocka_unit_test(test_permutation_keeps_function),
      cmocka_unit_test(test_erasing_and_noise),
      cmocka_unit_test(test_ntxent),
      cmocka_unit_test(test_loss_gradient),
      cmocka_unit_test(test_training_lowers_loss),
      cmocka_unit_test(test_run),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
