/* model/ssl_layers.c — the transformer layers of model/ssl_layers.h on top of
 * wsk_gemm, wsk_attn_forward / wsk_attn_backward and the eltwise kernels.
 *
 * Backward formulas (row-major, y = x W^T + b):
 *   dx = dy W,  dW += dy^T x,  db += sum_rows dy
 * Attention (Vaswani et al. 2017, eq. 1, per head): the kernel's own
 * backward from the saved log-sum-exp (wsk/attn.h). GELU and layer norm:
 * their kernels' backwards (wsk/eltwise.h). A residual branch adds its
 * gradient to the one that flows around it. */
#include "model/ssl_layers.h"

#include <math.h>
#include <string.h>

#include "dispatch/error.h"
#include "wsk/attn.h"
#include "wsk/eltwise.h"

/* ---- linear ---- */

wsk_status wsk_ssl_linear_forward(int64_t rows, int64_t in, int64_t out, const float *x,
                                  const float *w, const float *b, float *y, wsk_activation act,
                                  int accumulate) {
  if (accumulate && act != WSK_ACT_NONE)
    return wsk__fail(WSK_ERR_ARG, "wsk_ssl_linear_forward: accumulate needs no activation");
  return wsk_gemm(WSK_NO_TRANS, WSK_TRANS, rows, out, in, 1.0f, x, in, w, in,
                  accumulate ? 1.0f : 0.0f, y, out, b, act);
}

/* db[j] += dy[r][j] for r = 0, 1, ... in order */
static void column_sums(int64_t rows, int64_t n, const float *dy, float *db) {
  for (int64_t r = 0; r < rows; r++) {
    const float *row = dy + r * n;
    for (int64_t j = 0; j < n; j++) db[j] += row[j];
  }
}

wsk_status wsk_ssl_linear_backward(int64_t rows, int64_t in, int64_t out, const float *x,
                                   const float *w, const float *dy, float *dx, float *dw,
                                   float *db) {
  if (dx)
    WSK_TRY(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, rows, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in,
                     NULL, WSK_ACT_NONE));
  WSK_TRY(wsk_gemm(WSK_TRANS, WSK_NO_TRANS, out, in, rows, 1.0f, dy, out, x, in, 1.0f, dw, in, NULL,
                   WSK_ACT_NONE));
  if (db) column_sums(rows, out, dy, db);
  return WSK_OK;
}

/* ---- attention ---- */

static wsk_status attn_desc(const wsk_ssl_attn_shape *s, wsk_attn_desc *d) {
  if (s->heads < 1 || s->dim % s->heads != 0)
    return wsk__fail(WSK_ERR_ARG, "ssl attention: %lld heads do not divide d_model %lld",
                     (long long)s->heads, (long long)s->dim);
  memset(d, 0, sizeof *d);
  d->batch = s->seqs;
  d->heads = s->heads;
  d->lq = d->lk = s->len;
  d->dh = s->dim / s->heads;
  d->scale = 1.0f / sqrtf((float)d->dh);
  return WSK_OK;
}

wsk_status wsk_ssl_attn_forward(const wsk_ssl_attn_shape *s, const wsk_ssl_attn_params *p,
                                const float *h, wsk_ssl_attn_cache *c, float *y) {
  wsk_attn_desc d;
  WSK_TRY(attn_desc(s, &d));
  const int64_t rows = s->seqs * s->len, D = s->dim;
  WSK_TRY(wsk_ssl_linear_forward(rows, D, 3 * D, h, p->wqkv, p->bqkv, c->qkv, WSK_ACT_NONE, 0));
  wsk_attn_cview q, k, v;
  wsk_attn_qkv_views(c->qkv, s->len, s->heads, d.dh, &q, &k, &v);
  WSK_TRY(wsk_attn_forward(&d, q, k, v, wsk_attn_dense_view(c->o, s->len, s->heads, d.dh), c->lse));
  return wsk_ssl_linear_forward(rows, D, D, c->o, p->wo, p->bo, y, WSK_ACT_NONE, 1);
}

wsk_status wsk_ssl_attn_backward(const wsk_ssl_attn_shape *s, const wsk_ssl_attn_params *p,
                                 const float *h, const wsk_ssl_attn_cache *c, const float *dy,
                                 float *dh, const wsk_ssl_attn_params *g, float *do_, float *dqkv) {
  wsk_attn_desc d;
  WSK_TRY(attn_desc(s, &d));
  const int64_t rows = s->seqs * s->len, D = s->dim;
  WSK_TRY(wsk_ssl_linear_backward(rows, D, D, c->o, p->wo, dy, do_, g->wo, g->bo));
  wsk_attn_cview q, k, v;
  wsk_attn_qkv_views(c->qkv, s->len, s->heads, d.dh, &q, &k, &v);
  wsk_attn_view dq, dk, dv;
  wsk_attn_qkv_grad_views(dqkv, s->len, s->heads, d.dh, &dq, &dk, &dv);
  WSK_TRY(wsk_attn_backward(&d, q, k, v, wsk_attn_dense_cview(c->o, s->len, s->heads, d.dh), c->lse,
                            wsk_attn_dense_cview(do_, s->len, s->heads, d.dh), dq, dk, dv));
  return wsk_ssl_linear_backward(rows, D, 3 * D, h, p->wqkv, dqkv, dh, g->wqkv, g->bqkv);
}

/* ---- feed-forward ---- */

wsk_status wsk_ssl_ffn_forward(int64_t rows, int64_t dim, int64_t ffn, const wsk_ssl_ffn_params *p,
                               const float *h, float *a1, float *g1, float *y) {
  WSK_TRY(wsk_ssl_linear_forward(rows, dim, ffn, h, p->w1, p->b1, a1, WSK_ACT_NONE, 0));
  WSK_TRY(wsk_gelu(a1, rows * ffn, g1));
  return wsk_ssl_linear_forward(rows, ffn, dim, g1, p->w2, p->b2, y, WSK_ACT_NONE, 1);
}

/* GELU'(a) = Phi(a) + a phi(a) from the forward's a and g = GELU(a), without
 * a second erfc: Phi(a) = g / a (g = (0.5 a) erfc(-a / sqrt 2) = a Phi(a) by
 * wsk/eltwise.h, so the quotient is Phi to within two roundings) and
 * phi(a) = exp(-a^2 / 2) / sqrt(2 pi) with exp(-q) = s / (1 - s) for
 * s = sigmoid(-q) = 1 / (1 + exp(q)) (accurate where exp(-q) is tiny, 0 once
 * exp(q) overflows). Near 0 and beyond +-64 Phi takes its limits.
 * da = da * GELU'(a); s is scratch for the sigmoids. */
static wsk_status gelu_backward_chunk(int64_t n, const float *a, const float *g, float *da,
                                      float *s) {
  for (int64_t i = 0; i < n; i++) {
    const float q = a[i] * a[i];
    s[i] = -0.5f * q;
  }
  WSK_TRY(wsk_sigmoid(s, n, s));
  /* the formula, then its limits where it does not hold, by integer masks
   * (no branch, so the compiler vectorizes the loop): |a| < 2^-101 gives 0.5
   * (0 / 0 at a = 0), a = +Inf 1 and -Inf 0 (Inf / Inf, Inf * 0); finite
   * |a| > 64 needs nothing (Phi is exactly 1 or 0 there, phi 0) */
  for (int64_t i = 0; i < n; i++) {
    const float x = a[i];
    const float e = s[i] / (1.0f - s[i]);
    const float cdf = g[i] / x;
    const float b = x * 0x1.988454p-2f; /* x / sqrt(2 pi) */
    const float be = b * e;
    float d = be + cdf;
    uint32_t xb, db;
    memcpy(&xb, &x, sizeof xb);
    memcpy(&db, &d, sizeof db);
    const uint32_t ab = xb & 0x7fffffffu;
    const uint32_t tiny = 0u - (uint32_t)(ab < 0x0d000000u);
    const uint32_t inf = 0u - (uint32_t)(ab == 0x7f800000u);
    const uint32_t lim = 0x3f800000u & ((xb >> 31) - 1u); /* 1.0f for +Inf, 0 for -Inf */
    db = (db & ~tiny) | (0x3f000000u & tiny);
    db = (db & ~inf) | (lim & inf);
    memcpy(&d, &db, sizeof d);
    da[i] = da[i] * d;
  }
  return WSK_OK;
}

/* In chunks that stay in the L1 cache across the passes. */
static wsk_status gelu_backward(int64_t n, const float *a, const float *g, float *da, float *s) {
  enum { CHUNK = 2048 };
  for (int64_t i = 0; i < n; i += CHUNK)
    WSK_TRY(gelu_backward_chunk(n - i < CHUNK ? n - i : CHUNK, a + i, g + i, da + i, s));
  return WSK_OK;
}

wsk_status wsk_ssl_ffn_backward(int64_t rows, int64_t dim, int64_t ffn, const wsk_ssl_ffn_params *p,
                                const float *h, const float *a1, const float *g1, const float *dy,
                                float *dh, const wsk_ssl_ffn_params *g, float *da) {
  const int64_t n = rows * ffn;
  WSK_TRY(wsk_ssl_linear_backward(rows, ffn, dim, g1, p->w2, dy, da, g->w2, g->b2));
  WSK_TRY(gelu_backward(n, a1, g1, da, da + n));
  return wsk_ssl_linear_backward(rows, dim, ffn, h, p->w1, da, dh, g->w1, g->b1);
}

/* ---- layer norm ---- */

wsk_status wsk_ssl_ln_forward(int64_t rows, int64_t n, const float *x, const float *gamma,
                              const float *beta, float *y, float *mean, float *rstd) {
  return wsk_layernorm(x, rows, n, gamma, beta, WSK_SSL_LN_EPS, y, mean, rstd);
}

wsk_status wsk_ssl_ln_backward(int64_t rows, int64_t n, const float *x, const float *dy,
                               const float *gamma, const float *mean, const float *rstd, float *dx,
                               float *dgamma, float *dbeta) {
  return wsk_layernorm_backward(x, dy, rows, n, gamma, mean, rstd, dx, dgamma, dbeta);
}

/* ---- block ---- */

const char *const wsk_ssl_block_tensor_names[WSK_SSL_BLOCK_TENSORS] = {
    "ln1.weight",           "ln1.bias",           "attn.in_proj_weight", "attn.in_proj_bias",
    "attn.out_proj.weight", "attn.out_proj.bias", "ln2.weight",          "ln2.bias",
    "ffn.0.weight",         "ffn.0.bias",         "ffn.2.weight",        "ffn.2.bias"};

size_t wsk_ssl_block_param_count(int64_t dim, int64_t ffn, size_t sizes[WSK_SSL_BLOCK_TENSORS],
                                 int64_t shapes[WSK_SSL_BLOCK_TENSORS][2]) {
  const int64_t D = dim, F = ffn;
  const int64_t sh[WSK_SSL_BLOCK_TENSORS][2] = {{D, 0}, {D, 0}, {3 * D, D}, {3 * D, 0},
                                                {D, D}, {D, 0}, {D, 0},     {D, 0},
                                                {F, D}, {F, 0}, {D, F},     {D, 0}};
  size_t total = 0;
  for (int i = 0; i < WSK_SSL_BLOCK_TENSORS; i++) {
    const size_t n = (size_t)sh[i][0] * (size_t)(sh[i][1] ? sh[i][1] : 1);
    if (sizes) sizes[i] = n;
    if (shapes) {
      shapes[i][0] = sh[i][0];
      shapes[i][1] = sh[i][1];
    }
    total += n;
  }
  return total;
}

void wsk_ssl_block_params_at(float *base, int64_t dim, int64_t ffn, wsk_ssl_block_params *p) {
  size_t sizes[WSK_SSL_BLOCK_TENSORS];
  wsk_ssl_block_param_count(dim, ffn, sizes, NULL);
  float **slot[WSK_SSL_BLOCK_TENSORS] = {&p->ln1_g,   &p->ln1_b,   &p->attn.wqkv, &p->attn.bqkv,
                                         &p->attn.wo, &p->attn.bo, &p->ln2_g,     &p->ln2_b,
                                         &p->ffn.w1,  &p->ffn.b1,  &p->ffn.w2,    &p->ffn.b2};
  for (int i = 0; i < WSK_SSL_BLOCK_TENSORS; i++) {
    *slot[i] = base;
    base += sizes[i];
  }
}

size_t wsk_ssl_block_cache_floats(const wsk_ssl_block_shape *s) {
  const size_t rows = (size_t)(s->seqs * s->len), D = (size_t)s->dim, F = (size_t)s->ffn;
  /* ln1, mean1, rstd1, qkv, o, lse, x_mid, ln2, mean2, rstd2, a1, g1 */
  return rows * D + 2 * rows + rows * 3 * D + rows * D + (size_t)(s->seqs * s->heads * s->len) +
         rows * D + rows * D + 2 * rows + 2 * rows * F;
}

void wsk_ssl_block_cache_at(const wsk_ssl_block_shape *s, float *base, wsk_ssl_block_cache *c) {
  const size_t rows = (size_t)(s->seqs * s->len), D = (size_t)s->dim, F = (size_t)s->ffn;
  c->ln1 = base, base += rows * D;
  c->mean1 = base, base += rows;
  c->rstd1 = base, base += rows;
  c->attn.qkv = base, base += rows * 3 * D;
  c->attn.o = base, base += rows * D;
  c->attn.lse = base, base += (size_t)(s->seqs * s->heads * s->len);
  c->x_mid = base, base += rows * D;
  c->ln2 = base, base += rows * D;
  c->mean2 = base, base += rows;
  c->rstd2 = base, base += rows;
  c->a1 = base, base += rows * F;
  c->g1 = base;
}

size_t wsk_ssl_block_scratch_floats(const wsk_ssl_block_shape *s) {
  const size_t rows = (size_t)(s->seqs * s->len), D = (size_t)s->dim, F = (size_t)s->ffn;
  /* dln, dtmp, do, dqkv, da (2 rows F); d x_mid of the first-token block */
  return rows * (3 * D + 3 * D + 2 * F) + (size_t)s->seqs * D;
}

wsk_status wsk_ssl_block_forward(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                 const float *x, wsk_ssl_block_cache *c, float *y) {
  const int64_t rows = s->seqs * s->len, D = s->dim;
  const wsk_ssl_attn_shape as = {s->seqs, s->len, s->dim, s->heads};
  WSK_TRY(wsk_ssl_ln_forward(rows, D, x, p->ln1_g, p->ln1_b, c->ln1, c->mean1, c->rstd1));
  memcpy(c->x_mid, x, (size_t)(rows * D) * sizeof(float));
  WSK_TRY(wsk_ssl_attn_forward(&as, &p->attn, c->ln1, &c->attn, c->x_mid));
  WSK_TRY(wsk_ssl_ln_forward(rows, D, c->x_mid, p->ln2_g, p->ln2_b, c->ln2, c->mean2, c->rstd2));
  memcpy(y, c->x_mid, (size_t)(rows * D) * sizeof(float));
  return wsk_ssl_ffn_forward(rows, D, s->ffn, &p->ffn, c->ln2, c->a1, c->g1, y);
}

wsk_status wsk_ssl_block_backward(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                  const float *x, const wsk_ssl_block_cache *c, const float *dy,
                                  float *dx, const wsk_ssl_block_params *g, float *scratch) {
  const int64_t rows = s->seqs * s->len, D = s->dim;
  const size_t n = (size_t)(rows * D);
  const wsk_ssl_attn_shape as = {s->seqs, s->len, s->dim, s->heads};
  float *dln = scratch, *dtmp = dln + n, *do_ = dtmp + n, *dqkv = do_ + n, *da = dqkv + 3 * n;
  /* y = x_mid + FFN(LN2(x_mid)) */
  WSK_TRY(
      wsk_ssl_ffn_backward(rows, D, s->ffn, &p->ffn, c->ln2, c->a1, c->g1, dy, dln, &g->ffn, da));
  WSK_TRY(wsk_ssl_ln_backward(rows, D, c->x_mid, dln, p->ln2_g, c->mean2, c->rstd2, dtmp, g->ln2_g,
                              g->ln2_b));
  for (size_t i = 0; i < n; i++) dx[i] = dy[i] + dtmp[i]; /* dx holds d x_mid */
  /* x_mid = x + MHA(LN1(x)) */
  WSK_TRY(wsk_ssl_attn_backward(&as, &p->attn, c->ln1, &c->attn, dx, dln, &g->attn, do_, dqkv));
  WSK_TRY(
      wsk_ssl_ln_backward(rows, D, x, dln, p->ln1_g, c->mean1, c->rstd1, dtmp, g->ln1_g, g->ln1_b));
  for (size_t i = 0; i < n; i++) dx[i] += dtmp[i];
  return WSK_OK;
}

/* ---- the block at the first token only ---- */

wsk_status wsk_ssl_block_forward_first(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                       const float *x, wsk_ssl_block_cache *c, float *y) {
  const int64_t S = s->seqs, L = s->len, D = s->dim, rows = S * L;
  const wsk_ssl_attn_shape as = {S, L, D, s->heads};
  wsk_attn_desc d;
  WSK_TRY(attn_desc(&as, &d));
  d.lq = 1;
  WSK_TRY(wsk_ssl_ln_forward(rows, D, x, p->ln1_g, p->ln1_b, c->ln1, c->mean1, c->rstd1));
  WSK_TRY(wsk_ssl_linear_forward(rows, D, 3 * D, c->ln1, p->attn.wqkv, p->attn.bqkv, c->attn.qkv,
                                 WSK_ACT_NONE, 0));
  wsk_attn_cview q, k, v;
  wsk_attn_qkv_views(c->attn.qkv, L, s->heads, d.dh, &q, &k, &v);
  WSK_TRY(wsk_attn_forward(&d, q, k, v, wsk_attn_dense_view(c->attn.o, 1, s->heads, d.dh),
                           c->attn.lse));
  for (int64_t i = 0; i < S; i++)
    memcpy(c->x_mid + i * D, x + i * L * D, (size_t)D * sizeof(float));
  WSK_TRY(wsk_ssl_linear_forward(S, D, D, c->attn.o, p->attn.wo, p->attn.bo, c->x_mid, WSK_ACT_NONE,
                                 1));
  WSK_TRY(wsk_ssl_ln_forward(S, D, c->x_mid, p->ln2_g, p->ln2_b, c->ln2, c->mean2, c->rstd2));
  memcpy(y, c->x_mid, (size_t)(S * D) * sizeof(float));
  return wsk_ssl_ffn_forward(S, D, s->ffn, &p->ffn, c->ln2, c->a1, c->g1, y);
}

wsk_status wsk_ssl_block_backward_first(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                        const float *x, const wsk_ssl_block_cache *c,
                                        const float *dy, float *dx, const wsk_ssl_block_params *g,
                                        float *scratch) {
  const int64_t S = s->seqs, L = s->len, D = s->dim, rows = S * L;
  const size_t n = (size_t)(rows * D);
  const wsk_ssl_attn_shape as = {S, L, D, s->heads};
  wsk_attn_desc d;
  WSK_TRY(attn_desc(&as, &d));
  d.lq = 1;
  float *dln = scratch, *dtmp = dln + n, *do_ = dtmp + n, *dqkv = do_ + n, *da = dqkv + 3 * n;
  float *dmid = da + 2 * (size_t)(rows * s->ffn); /* [S][D] */
  /* y = x_mid + FFN(LN2(x_mid)) on the first tokens */
  WSK_TRY(wsk_ssl_ffn_backward(S, D, s->ffn, &p->ffn, c->ln2, c->a1, c->g1, dy, dln, &g->ffn, da));
  WSK_TRY(wsk_ssl_ln_backward(S, D, c->x_mid, dln, p->ln2_g, c->mean2, c->rstd2, dtmp, g->ln2_g,
                              g->ln2_b));
  for (int64_t i = 0; i < S * D; i++) dmid[i] = dy[i] + dtmp[i];
  /* x_mid = x_0 + Wo Attn(q_0, K, V) + bo */
  WSK_TRY(
      wsk_ssl_linear_backward(S, D, D, c->attn.o, p->attn.wo, dmid, do_, g->attn.wo, g->attn.bo));
  memset(dqkv, 0, 3 * n * sizeof(float)); /* the queries of the other tokens get no gradient */
  wsk_attn_cview q, k, v;
  wsk_attn_qkv_views(c->attn.qkv, L, s->heads, d.dh, &q, &k, &v);
  wsk_attn_view dq, dk, dv;
  wsk_attn_qkv_grad_views(dqkv, L, s->heads, d.dh, &dq, &dk, &dv);
  WSK_TRY(wsk_attn_backward(&d, q, k, v, wsk_attn_dense_cview(c->attn.o, 1, s->heads, d.dh),
                            c->attn.lse, wsk_attn_dense_cview(do_, 1, s->heads, d.dh), dq, dk, dv));
  WSK_TRY(wsk_ssl_linear_backward(rows, D, 3 * D, c->ln1, p->attn.wqkv, dqkv, dln, g->attn.wqkv,
                                  g->attn.bqkv));
  WSK_TRY(
      wsk_ssl_ln_backward(rows, D, x, dln, p->ln1_g, c->mean1, c->rstd1, dx, g->ln1_g, g->ln1_b));
  for (int64_t i = 0; i < S; i++) {
    float *r = dx + i * L * D;
    const float *m = dmid + i * D;
    for (int64_t j = 0; j < D; j++) r[j] += m[j];
  }
  return WSK_OK;
}
