/* tests/test_lopt.c — the optimizers of model/lopt.h.
 *
 * - names, meta-parameter counts on the "mlp" spec (printed);
 * - the SGDM optimizer is wsk_sgd_momentum and the Adam optimizer wsk_adam,
 *   bit for bit, over several steps;
 * - features on a tiny two-tensor space: the momenta, the clipping, the
 *   per-tensor RMS scaling and the time features against a double-precision
 *   oracle (relative 1e-6) and a few values computed by hand;
 * - with the network's last layer zeroed (f = 0) the UNF and Deep Set
 *   optimizers are SGDM with the same alpha and gamma0, bit for bit;
 * - equivariance: permuting w and every gradient by random permutations of
 *   every id (wsk_unf_permute) permutes the weights after each of 4 steps
 *   (momenta exercised): bit for bit for Deep Set (the exact RMS makes it
 *   order-free), within 1e-6 absolute for UNF (its means run in a canonical
 *   order, so a permuted input rounds differently; the update is
 *   alpha beta f ~ 1e-2 and f's rounding is ~1e-6 relative), on "mlp"
 *   (eqpool's fused path) and "rnn" (generic terms with diagonals);
 * - state save/load continues the same bits; 1 and 2 threads give the same
 *   bits; bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/lopt.h"
#include "model/unf.h"
#include "testutil.h"

/* SLEEF's scalar functions, as model/lopt.c uses them (sleef.h declares
 * them only for FMA targets). */
float Sleef_finz_logf1_u10purecfma(float);
float Sleef_finz_expf1_u10purecfma(float);

static void spec_of(const char *name, wsk_unf_spec *s) {
  assert_int_equal(wsk_unf_spec_builtin(name, s), WSK_OK);
}

/* [2][3] weight (ids o, i) and [2] bias (id o) */
static void tiny_spec(wsk_unf_spec *s) {
  wsk_unf_spec_init(s, "tiny");
  const int64_t ws[2] = {2, 3}, bs[1] = {2};
  const char *wi[2] = {"o", "i"}, *bi[1] = {"o"};
  assert_int_equal(wsk_unf_spec_add(s, "w", 2, ws, wi), WSK_OK);
  assert_int_equal(wsk_unf_spec_add(s, "b", 1, bs, bi), WSK_OK);
  assert_int_equal(wsk_unf_spec_finish(s), WSK_OK);
}

static float *falloc(size_t n) {
  float *p = malloc((n ? n : 1) * sizeof(float));
  assert_non_null(p);
  return p;
}

static void test_names(void **state) {
  (void)state;
  for (int k = 0; k < WSK_LOPT_COUNT; k++) {
    wsk_lopt_kind got;
    assert_int_equal(wsk_lopt_parse(wsk_lopt_name((wsk_lopt_kind)k), &got), WSK_OK);
    assert_int_equal(got, k);
  }
  wsk_lopt_kind got;
  assert_int_equal(wsk_lopt_parse("lion", &got), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "lion"));
  assert_string_equal(wsk_lopt_name(WSK_LOPT_COUNT), "?");
}

static void test_meta_counts(void **state) {
  (void)state;
  wsk_unf_spec s;
  spec_of("mlp", &s);
  const size_t body = 3 + 19 * 32 + 32 + 2 * (32 * 32 + 32);
  for (int k = 0; k < WSK_LOPT_COUNT; k++) {
    wsk_lopt o;
    assert_int_equal(wsk_lopt_make((wsk_lopt_kind)k, &s, &o), WSK_OK);
    switch (k) {
      case WSK_LOPT_UNF:
        assert_int_equal(o.n_meta, body + o.layer.n_params);
        assert_int_equal(o.off_head, body);
        break;
      case WSK_LOPT_DEEPSET: assert_int_equal(o.n_meta, body + 33); break;
      case WSK_LOPT_SGDM: assert_int_equal(o.n_meta, 2); break;
      default: assert_int_equal(o.n_meta, 1); break;
    }
    float *meta = falloc(o.n_meta);
    wsk_rng rng;
    wsk_rng_seed(&rng, 1, 0);
    assert_int_equal(wsk_lopt_init_meta(&o, &rng, meta), WSK_OK);
    wsk_strbuf d = WSK_STRBUF_INIT;
    assert_int_equal(wsk_lopt_meta_describe(&o, meta, &d), WSK_OK);
    print_message("%-8s n_meta %6zu  state floats %6zu  flops/step %.4g  %s\n",
                  wsk_lopt_name(o.kind), o.n_meta, wsk_lopt_state_floats(&o),
                  wsk_lopt_flops_per_step(&o), d.s);
    if (k != WSK_LOPT_ADAM) assert_non_null(strstr(d.s, "alpha=0.1 "));
    if (k <= WSK_LOPT_DEEPSET) assert_non_null(strstr(d.s, "beta=0.001 gamma0=0.9"));
    assert_true(wsk_lopt_flops_per_step(&o) > 0);
    wsk_strbuf_free(&d);
    free(meta);
    wsk_lopt_free(&o);
  }
}

/* ---- the baselines are the optim kernels ----------------------------------------------- */

/* SGDM = wsk_sgd_momentum and Adam = wsk_adam, with the constants the header
 * documents: lr = exp(meta[0]), momentum = 1 - exp(meta[1]) (SLEEF). */
static void test_sgdm_adam_bits(void **state) {
  (void)state;
  wsk_unf_spec s;
  spec_of("mlp", &s);
  const size_t n = s.numel;
  float *w = falloc(n), *w2 = falloc(n), *g = falloc(n), *m = falloc(n), *v = falloc(n);
  tu_rng r = {5};
  const float meta[2] = {Sleef_finz_logf1_u10purecfma(0.05f), Sleef_finz_logf1_u10purecfma(0.2f)};
  const float lr = Sleef_finz_expf1_u10purecfma(meta[0]);
  const float mu = 1.0f - Sleef_finz_expf1_u10purecfma(meta[1]);
  for (int kind = WSK_LOPT_SGDM; kind <= WSK_LOPT_ADAM; kind++) {
    wsk_lopt o;
    assert_int_equal(wsk_lopt_make((wsk_lopt_kind)kind, &s, &o), WSK_OK);
    wsk_lopt_state *st;
    assert_int_equal(wsk_lopt_state_create(&o, &st), WSK_OK);
    tu_fill(&r, w, n, -1, 1);
    memcpy(w2, w, n * 4);
    memset(m, 0, n * 4);
    memset(v, 0, n * 4);
    float *buf = falloc(wsk_lopt_state_floats(&o));
    for (int t = 0; t < 4; t++) {
      tu_fill(&r, g, n, -2, 2);
      assert_int_equal(wsk_lopt_step(&o, meta, st, w, g), WSK_OK);
      wsk_lopt_state_save(st, buf);
      if (kind == WSK_LOPT_SGDM) {
        const wsk_sgd_params p = {lr, mu, 0.0f};
        assert_int_equal(wsk_sgd_momentum((int64_t)n, w2, g, m, &p), WSK_OK);
        tu_assert_bits(w, w2, n, "SGDM w");
        tu_assert_bits(buf + 2, m, n, "SGDM momentum");
      } else {
        const wsk_adam_params p = {lr, 0.9f, 0.999f, 1e-8f, 0.0f, t + 1, 0};
        assert_int_equal(wsk_adam((int64_t)n, w2, g, m, v, &p), WSK_OK);
        tu_assert_bits(w, w2, n, "Adam w");
        tu_assert_bits(buf + 2, m, n, "Adam m");
        tu_assert_bits(buf + 2 + n, v, n, "Adam v");
      }
      assert_true(buf[0] == (float)(t + 1) && buf[1] == 0.0f);
      assert_int_equal(wsk_lopt_state_step(st), t + 1);
    }
    free(buf);
    wsk_lopt_state_free(st);
    wsk_lopt_free(&o);
  }
  free(w);
  free(w2);
  free(g);
  free(m);
  free(v);
}

/* ---- features ------------------------------------------------------------------------ */

static const double gam[6] = {0.1, 0.5, 0.9, 0.99, 0.999, 0.9999};
static const double tscale[11] = {1, 3, 10, 30, 100, 300, 1000, 3000, 1e4, 3e4, 1e5};

static double clipd(double x) { return x > 1 ? 1 : (x < -1 ? -1 : x); }

/* The features of tensor [off, off + cnt) after `steps` steps with gradients
 * gs[step][n] from w (the w the last step saw), in double. */
static void feature_oracle(const float *w, const float *const *gs, int steps, size_t n, size_t off,
                           size_t cnt, double *out /* [cnt][19] */) {
  double *raw = calloc(cnt * 8, sizeof(double));
  assert_non_null(raw);
  for (size_t i = 0; i < cnt; i++) {
    double mom[6] = {0};
    for (int t = 0; t < steps; t++)
      for (int k = 0; k < 6; k++) mom[k] = gam[k] * mom[k] + (1 - gam[k]) * gs[t][off + i];
    raw[i * 8 + 0] = clipd(w[off + i]);
    raw[i * 8 + 1] = clipd(gs[steps - 1][off + i]);
    for (int k = 0; k < 6; k++) raw[i * 8 + 2 + k] = clipd(mom[k]);
  }
  for (int j = 0; j < 8; j++) {
    double ss = 0;
    for (size_t i = 0; i < cnt; i++) ss += raw[i * 8 + j] * raw[i * 8 + j];
    const double rms = sqrt(ss / (double)cnt) + 1e-8;
    for (size_t i = 0; i < cnt; i++) out[i * 19 + j] = raw[i * 8 + j] / rms;
  }
  for (size_t i = 0; i < cnt; i++)
    for (int k = 0; k < 11; k++) out[i * 19 + 8 + k] = tanh((double)(steps - 1) / tscale[k]);
  free(raw);
  (void)n;
}

static void test_features(void **state) {
  (void)state;
  wsk_unf_spec s;
  tiny_spec(&s);
  const size_t n = s.numel; /* 8: w [2][3] then b [2] */
  assert_int_equal(n, 8);
  wsk_lopt o;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_DEEPSET, &s, &o), WSK_OK);
  float *meta = falloc(o.n_meta);
  wsk_rng rng;
  wsk_rng_seed(&rng, 2, 0);
  assert_int_equal(wsk_lopt_init_meta(&o, &rng, meta), WSK_OK);
  wsk_lopt_state *st;
  assert_int_equal(wsk_lopt_state_create(&o, &st), WSK_OK);
  float w[8] = {0.3f, -0.2f, 1.5f, 0.0f, -0.7f, 0.1f, 2.0f, -0.5f};
  float g1[8] = {0.2f, -0.1f, 0.05f, 3.0f, -0.4f, 0.0f, 0.5f, -3.0f};
  float g2[8] = {-0.3f, 0.6f, 0.0f, -2.0f, 0.1f, 0.25f, 1.5f, 0.5f};
  const float *gs[2] = {g1, g2};
  float wseen[8];
  double want[8 * 19];
  for (int steps = 1; steps <= 2; steps++) {
    memcpy(wseen, w, sizeof w);
    assert_int_equal(wsk_lopt_step(&o, meta, st, w, gs[steps - 1]), WSK_OK);
    const float *x = wsk_lopt_state_features(st);
    assert_non_null(x);
    feature_oracle(wseen, gs, steps, n, 0, 6, want);
    feature_oracle(wseen, gs, steps, n, 6, 2, want + 6 * 19);
    for (size_t i = 0; i < n * 19; i++) {
      const double tol = 1e-6 * fabs(want[i]) + 1e-7;
      if (!(fabs((double)x[i] - want[i]) <= tol)) {
        print_error("step %d feature [%zu][%zu] = %.9g, oracle %.9g\n", steps, i / 19, i % 19,
                    (double)x[i], want[i]);
        fail();
      }
    }
    if (steps == 1) {
      /* by hand, tensor b = [2.0, -0.5], g = [0.5, -3.0]: clipped w = [1, -0.5],
       * rms sqrt(0.625); clipped g = [0.5, -1], rms sqrt(0.625); m_0.1 = 0.9 g
       * = [0.45, -2.7] -> [0.45, -1], rms sqrt(0.60125); m_0.9999 = 1e-4 g,
       * rms sqrt(4.625e-8) + 1e-8 = 2.1507e-4; time features tanh(0) = 0 */
      const float *b0 = x + 6 * 19, *b1 = x + 7 * 19;
      assert_float_equal(b0[0], 1.2649111, 1e-6);
      assert_float_equal(b1[0], -0.6324555, 1e-6);
      assert_float_equal(b0[1], 0.6324555, 1e-6);
      assert_float_equal(b1[1], -1.2649111, 1e-6);
      assert_float_equal(b0[2], 0.5803433, 1e-6);
      assert_float_equal(b1[2], -1.2896518, 1e-6);
      assert_float_equal(b0[7], 0.2324845, 1e-5);
      assert_float_equal(b1[7], -1.3949067, 1e-5);
      for (int k = 8; k < 19; k++) assert_true(b0[k] == 0.0f);
    } else {
      /* t = 1: tanh(1) and tanh(1/3) */
      assert_float_equal(x[8], 0.7615942, 1e-6);
      assert_float_equal(x[9], 0.3215127, 1e-6);
    }
  }
  /* a NaN gradient makes its tensor's features NaN (and stays out of the others) */
  g1[7] = NAN;
  assert_int_equal(wsk_lopt_step(&o, meta, st, w, g1), WSK_OK);
  const float *x = wsk_lopt_state_features(st);
  assert_true(isnan(x[6 * 19 + 1]));
  assert_true(isfinite(x[0 * 19 + 1]));
  wsk_lopt_state_free(st);
  free(meta);
  wsk_lopt_free(&o);
}

/* ---- the learned optimizers reduce to SGDM when f = 0 ------------------------------------ */

static void test_zero_head_is_sgdm(void **state) {
  (void)state;
  wsk_unf_spec s;
  spec_of("mlp", &s);
  const size_t n = s.numel;
  wsk_lopt sg;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_SGDM, &s, &sg), WSK_OK);
  float *w0 = falloc(n), *wa = falloc(n), *wb = falloc(n), *g = falloc(n);
  tu_rng r = {9};
  tu_fill(&r, w0, n, -1, 1);
  for (int kind = WSK_LOPT_UNF; kind <= WSK_LOPT_DEEPSET; kind++) {
    wsk_lopt o;
    assert_int_equal(wsk_lopt_make((wsk_lopt_kind)kind, &s, &o), WSK_OK);
    float *meta = falloc(o.n_meta);
    wsk_rng rng;
    wsk_rng_seed(&rng, 3, 0);
    assert_int_equal(wsk_lopt_init_meta(&o, &rng, meta), WSK_OK);
    meta[0] = Sleef_finz_logf1_u10purecfma(0.03f);
    meta[2] = Sleef_finz_logf1_u10purecfma(0.25f);
    memset(meta + o.off_head, 0, o.n_head * sizeof(float));
    const float msg[2] = {meta[0], meta[2]};
    wsk_lopt_state *sa, *sb;
    assert_int_equal(wsk_lopt_state_create(&o, &sa), WSK_OK);
    assert_int_equal(wsk_lopt_state_create(&sg, &sb), WSK_OK);
    memcpy(wa, w0, n * 4);
    memcpy(wb, w0, n * 4);
    for (int t = 0; t < 3; t++) {
      tu_fill(&r, g, n, -0.5f, 0.5f);
      assert_int_equal(wsk_lopt_step(&o, meta, sa, wa, g), WSK_OK);
      assert_int_equal(wsk_lopt_step(&sg, msg, sb, wb, g), WSK_OK);
      tu_assert_bits(
          wa, wb, n,
          kind == WSK_LOPT_UNF ? "UNF with f = 0 vs SGDM" : "Deep Set with f = 0 vs SGDM");
    }
    wsk_lopt_state_free(sa);
    wsk_lopt_state_free(sb);
    free(meta);
    wsk_lopt_free(&o);
  }
  wsk_lopt_free(&sg);
  free(w0);
  free(wa);
  free(wb);
  free(g);
}

/* The UNF head starts as the Deep Set's head: from one seed both learned
 * optimizers take the same steps (the pointwise terms carry the Deep Set's
 * v, every other term and bias is 0; the products are the same chains), and
 * the equivariant terms of the UNF head are exactly 0. */
static void test_unf_init_is_deepset(void **state) {
  (void)state;
  wsk_unf_spec s;
  spec_of("mlp", &s);
  const size_t n = s.numel;
  wsk_lopt u, d;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_UNF, &s, &u), WSK_OK);
  assert_int_equal(wsk_lopt_make(WSK_LOPT_DEEPSET, &s, &d), WSK_OK);
  float *mu = falloc(u.n_meta), *md = falloc(d.n_meta);
  wsk_rng ru, rd;
  wsk_rng_seed(&ru, 5, 1);
  wsk_rng_seed(&rd, 5, 1);
  assert_int_equal(wsk_lopt_init_meta(&u, &ru, mu), WSK_OK);
  assert_int_equal(wsk_lopt_init_meta(&d, &rd, md), WSK_OK);
  /* the shared part is the same; the head: 4 pointwise terms of 32 non-zero
   * weights each, equal to the Deep Set's v, and nothing else */
  assert_memory_equal(mu, md, u.off_head * sizeof(float));
  size_t nonzero = 0;
  for (size_t i = 0; i < u.n_head; i++) nonzero += mu[u.off_head + i] != 0.0f;
  assert_int_equal(nonzero, 4 * 32);
  for (int t = 0; t < s.n_tensors; t++) {
    size_t row, bias;
    assert_int_equal(wsk_unf_layer_param_offset(&u.layer, t, &row, &bias), WSK_OK);
    assert_true(mu[u.off_head + bias] == 0.0f);
  }
  float *wa = falloc(n), *wb = falloc(n), *g = falloc(n);
  tu_rng r = {12};
  tu_fill(&r, wa, n, -1, 1);
  memcpy(wb, wa, n * 4);
  wsk_lopt_state *sa, *sb;
  assert_int_equal(wsk_lopt_state_create(&u, &sa), WSK_OK);
  assert_int_equal(wsk_lopt_state_create(&d, &sb), WSK_OK);
  for (int t = 0; t < 3; t++) {
    tu_fill(&r, g, n, -0.5f, 0.5f);
    assert_int_equal(wsk_lopt_step(&u, mu, sa, wa, g), WSK_OK);
    assert_int_equal(wsk_lopt_step(&d, md, sb, wb, g), WSK_OK);
    tu_assert_bits(wa, wb, n, "the initial UNF vs the initial Deep Set");
  }
  wsk_lopt_state_free(sa);
  wsk_lopt_state_free(sb);
  wsk_lopt_free(&u);
  wsk_lopt_free(&d);
  free(mu);
  free(md);
  free(wa);
  free(wb);
  free(g);
}

/* ---- equivariance ------------------------------------------------------------------------ */

static void check_equivariance(const char *spec_name, wsk_lopt_kind kind, double tol) {
  wsk_unf_spec s;
  spec_of(spec_name, &s);
  const size_t n = s.numel;
  wsk_lopt o;
  assert_int_equal(wsk_lopt_make(kind, &s, &o), WSK_OK);
  float *meta = falloc(o.n_meta);
  wsk_rng rng;
  wsk_rng_seed(&rng, 4, 0);
  assert_int_equal(wsk_lopt_init_meta(&o, &rng, meta), WSK_OK);
  meta[0] = Sleef_finz_logf1_u10purecfma(0.01f); /* alpha */
  meta[1] = 0.0f;                                /* beta = 1: f matters */

  tu_rng r = {17 + (uint64_t)kind};
  int64_t *perm[WSK_UNF_MAX_IDS];
  for (int k = 0; k < s.n_ids; k++) {
    const size_t m = (size_t)s.id_size[k];
    size_t *p = malloc(m * sizeof(size_t));
    perm[k] = malloc(m * sizeof(int64_t));
    assert_true(p && perm[k]);
    tu_perm(&r, p, m);
    for (size_t i = 0; i < m; i++) perm[k][i] = (int64_t)p[i];
    free(p);
  }
  const int64_t *const *pc = (const int64_t *const *)perm;
  float *wa = falloc(n), *wb = falloc(n), *g = falloc(n), *gp = falloc(n), *pa = falloc(n);
  float *w0 = falloc(n);
  tu_fill(&r, wa, n, -0.5f, 0.5f);
  wa[3] = 1.7f; /* clipped */
  memcpy(w0, wa, n * 4);
  assert_int_equal(wsk_unf_permute(&s, 1, pc, wa, wb), WSK_OK);
  wsk_lopt_state *sa, *sb;
  assert_int_equal(wsk_lopt_state_create(&o, &sa), WSK_OK);
  assert_int_equal(wsk_lopt_state_create(&o, &sb), WSK_OK);
  double worst = 0, moved = 0;
  for (int t = 0; t < 4; t++) {
    tu_fill(&r, g, n, -1.5f, 1.5f);
    assert_int_equal(wsk_unf_permute(&s, 1, pc, g, gp), WSK_OK);
    assert_int_equal(wsk_lopt_step(&o, meta, sa, wa, g), WSK_OK);
    assert_int_equal(wsk_lopt_step(&o, meta, sb, wb, gp), WSK_OK);
    assert_int_equal(wsk_unf_permute(&s, 1, pc, wa, pa), WSK_OK);
    if (tol == 0) {
      tu_assert_bits(pa, wb, n, spec_name);
    } else {
      for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)pa[i] - (double)wb[i]);
        if (d > worst) worst = d;
        if (!(d <= tol)) {
          print_error("%s %s step %d: permuted w[%zu] = %.9g, w of the permuted run %.9g\n",
                      wsk_lopt_name(kind), spec_name, t, i, (double)pa[i], (double)wb[i]);
          fail();
        }
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    /* (not fmax: gcc 12's aarch64 vectorizer crashes on that reduction) */
    const double d = fabs((double)wa[i] - (double)w0[i]);
    if (d > moved) moved = d;
  }
  print_message("%s on %s: equivariance error %.3g (weights moved up to %.3g)\n",
                wsk_lopt_name(kind), spec_name, worst, moved);
  assert_true(moved > 0.01);
  wsk_lopt_state_free(sa);
  wsk_lopt_state_free(sb);
  for (int k = 0; k < s.n_ids; k++) free(perm[k]);
  free(wa);
  free(wb);
  free(g);
  free(gp);
  free(pa);
  free(w0);
  free(meta);
  wsk_lopt_free(&o);
}

static void test_equivariance_deepset(void **state) {
  (void)state;
  check_equivariance("mlp", WSK_LOPT_DEEPSET, 0);
  check_equivariance("rnn", WSK_LOPT_DEEPSET, 0);
}

static void test_equivariance_unf(void **state) {
  (void)state;
  check_equivariance("mlp", WSK_LOPT_UNF, 1e-6);
  check_equivariance("rnn", WSK_LOPT_UNF, 1e-6);
}

/* ---- state, threads, bad input ------------------------------------------------------------ */

static void test_state_and_threads(void **state) {
  (void)state;
  wsk_unf_spec s;
  spec_of("mlp", &s);
  const size_t n = s.numel;
  wsk_lopt o;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_UNF, &s, &o), WSK_OK);
  float *meta = falloc(o.n_meta);
  wsk_rng rng;
  wsk_rng_seed(&rng, 6, 0);
  assert_int_equal(wsk_lopt_init_meta(&o, &rng, meta), WSK_OK);
  meta[1] = 0.0f;
  float *w[3], *g = falloc(n), *buf = falloc(wsk_lopt_state_floats(&o));
  wsk_lopt_state *st[3];
  tu_rng r = {23};
  for (int k = 0; k < 3; k++) {
    w[k] = falloc(n);
    assert_int_equal(wsk_lopt_state_create(&o, &st[k]), WSK_OK);
  }
  tu_fill(&r, w[0], n, -0.5f, 0.5f);
  memcpy(w[1], w[0], n * 4);
  /* run 0 on one thread, run 1 on two; run 2 is loaded from run 0 at step 2 */
  for (int t = 0; t < 5; t++) {
    tu_fill(&r, g, n, -1, 1);
    assert_int_equal(wsk_threads_set_count(1), WSK_OK);
    assert_int_equal(wsk_lopt_step(&o, meta, st[0], w[0], g), WSK_OK);
    if (t >= 2) assert_int_equal(wsk_lopt_step(&o, meta, st[2], w[2], g), WSK_OK);
    assert_int_equal(wsk_threads_set_count(2), WSK_OK);
    assert_int_equal(wsk_lopt_step(&o, meta, st[1], w[1], g), WSK_OK);
    tu_assert_bits(w[0], w[1], n, "w, 1 vs 2 threads");
    if (t == 1) {
      wsk_lopt_state_save(st[0], buf);
      wsk_lopt_state_reset(st[2]);
      wsk_lopt_state_load(st[2], buf);
      assert_int_equal(wsk_lopt_state_step(st[2]), 2);
      memcpy(w[2], w[0], n * 4);
    }
    if (t >= 2) tu_assert_bits(w[0], w[2], n, "w after a state save/load");
  }
  /* bad input: NULLs, a state of another optimizer */
  wsk_lopt o2;
  assert_int_equal(wsk_lopt_make(WSK_LOPT_DEEPSET, &s, &o2), WSK_OK);
  assert_int_equal(wsk_lopt_step(&o2, meta, st[0], w[0], g), WSK_ERR_ARG);
  assert_int_equal(wsk_lopt_step(&o, NULL, st[0], w[0], g), WSK_ERR_NULL);
  assert_int_equal(wsk_lopt_step(&o, meta, st[0], w[0], NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_lopt_make(WSK_LOPT_COUNT, &s, &o2), WSK_ERR_ARG);
  wsk_lopt_free(&o2);
  for (int k = 0; k < 3; k++) {
    wsk_lopt_state_free(st[k]);
    free(w[k]);
  }
  free(g);
  free(buf);
  free(meta);
  wsk_lopt_free(&o);
}

/* ---- every tier, the same bits ------------------------------------------------------------ */

/* 3 steps of each learned optimizer from the same start, on "mlp" (eqpool's
 * fused path) and "rnn" (generic terms), on every tier this CPU has and for
 * 1 and 3 threads: one digest (Deep Set's head bias b is set to 0.03, so
 * the order of its fma chain, started at b, shows). The Deep Set part alone
 * is also compared with the digest recorded on x86-64 (the aarch64 leg
 * proves NEON gives it); the UNF head's cross-machine bits are the UNF
 * layer's own digest test's. */
#define DEEPSET_DIGEST 0xf5a35eebcc6501dfull

static uint64_t tier_run(wsk_lopt_kind kind, const char *spec_name) {
  wsk_unf_spec s;
  spec_of(spec_name, &s);
  const size_t n = s.numel;
  wsk_lopt o;
  assert_int_equal(wsk_lopt_make(kind, &s, &o), WSK_OK);
  float *meta = falloc(o.n_meta), *w = falloc(n), *g = falloc(n);
  wsk_rng rng;
  wsk_rng_seed(&rng, 10, 0);
  assert_int_equal(wsk_lopt_init_meta(&o, &rng, meta), WSK_OK);
  meta[1] = 0.0f;
  if (kind == WSK_LOPT_DEEPSET)
    meta[o.off_head + WSK_LOPT_HIDDEN] = 0.03f; /* b, where f's chain starts */
  tu_rng r = {31};
  tu_fill(&r, w, n, -1, 1);
  wsk_lopt_state *st;
  assert_int_equal(wsk_lopt_state_create(&o, &st), WSK_OK);
  for (int t = 0; t < 3; t++) {
    tu_fill(&r, g, n, -1.2f, 1.2f);
    assert_int_equal(wsk_lopt_step(&o, meta, st, w, g), WSK_OK);
  }
  const uint64_t h = tu_digest(TU_DIGEST_INIT, w, n);
  wsk_lopt_state_free(st);
  free(meta);
  free(w);
  free(g);
  wsk_lopt_free(&o);
  return h;
}

static void test_tiers(void **state) {
  (void)state;
  const wsk_isa isas[] = {WSK_ISA_SCALAR, WSK_ISA_AVX2, WSK_ISA_AVX512, WSK_ISA_NEON};
  uint64_t ref_ds = 0, ref_unf = 0;
  int runs = 0;
  for (size_t k = 0; k < 4; k++) {
    if (!(wsk_isas_available() & WSK_ISA_BIT(isas[k]))) continue;
    assert_int_equal(wsk_set_isa(isas[k]), WSK_OK);
    for (int threads = 1; threads <= 3; threads += 2) {
      assert_int_equal(wsk_threads_set_count(threads), WSK_OK);
      const uint64_t ds = tier_run(WSK_LOPT_DEEPSET, "mlp") ^ tier_run(WSK_LOPT_DEEPSET, "rnn");
      const uint64_t unf = tier_run(WSK_LOPT_UNF, "mlp") ^ tier_run(WSK_LOPT_UNF, "rnn");
      if (runs == 0) {
        ref_ds = ds;
        ref_unf = unf;
      }
      if (ds != ref_ds || unf != ref_unf) {
        print_error("%s, %d threads: digests %016llx %016llx, scalar 1 thread %016llx %016llx\n",
                    wsk_isa_name(isas[k]), threads, (unsigned long long)ds, (unsigned long long)unf,
                    (unsigned long long)ref_ds, (unsigned long long)ref_unf);
        fail();
      }
      runs++;
    }
  }
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  printf("  %d runs (tiers x thread counts): Deep Set %016llx, UNF %016llx\n", runs,
         (unsigned long long)ref_ds, (unsigned long long)ref_unf);
  tu_assert_digest("Deep Set steps", ref_ds, DEEPSET_DIGEST);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_meta_counts),
      cmocka_unit_test(test_sgdm_adam_bits),
      cmocka_unit_test(test_features),
      cmocka_unit_test(test_zero_head_is_sgdm),
      cmocka_unit_test(test_unf_init_is_deepset),
      cmocka_unit_test(test_equivariance_deepset),
      cmocka_unit_test(test_equivariance_unf),
      cmocka_unit_test(test_state_and_threads),
      cmocka_unit_test(test_tiers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
