/* tests/test_ssl_ref.h — an independent double-precision reference of the
 * SSL hyper-representation's layers and of the whole model and loss
 * (model/ssl_layers.h, model/ssl_model.h), written straight from the
 * definitions with naive loops and libm, for the finite-difference and
 * forward checks of tests/test_ssl_layers.c and tests/test_ssl.c. */
#ifndef WSK_TEST_SSL_REF_H
#define WSK_TEST_SSL_REF_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/ssl_model.h"

/* y[r][o] = b[o] + sum_i x[r][i] w[o][i] (b may be NULL) */
static inline void ref_linear(int rows, int in, int out, const double *x, const double *w,
                              const double *b, double *y) {
  for (int r = 0; r < rows; r++)
    for (int o = 0; o < out; o++) {
      double s = b ? b[o] : 0.0;
      for (int i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
      y[r * out + o] = s;
    }
}

static inline void ref_ln(int rows, int n, const double *x, const double *g, const double *b,
                          double *y) {
  for (int r = 0; r < rows; r++) {
    double mu = 0, var = 0;
    for (int i = 0; i < n; i++) mu += x[r * n + i];
    mu /= n;
    for (int i = 0; i < n; i++) var += (x[r * n + i] - mu) * (x[r * n + i] - mu);
    var /= n;
    const double rs = 1.0 / sqrt(var + 1e-5);
    for (int i = 0; i < n; i++) y[r * n + i] = (x[r * n + i] - mu) * rs * g[i] + b[i];
  }
}

static inline double ref_gelu(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }

/* Parameters of a block in double, in wsk_ssl_block_params order. */
typedef struct ref_block_p {
  const double *ln1_g, *ln1_b, *wqkv, *bqkv, *wo, *bo, *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} ref_block_p;

static inline void ref_block_at(const double *base, int D, int F, ref_block_p *p) {
  const double **slot[12] = {&p->ln1_g, &p->ln1_b, &p->wqkv, &p->bqkv, &p->wo, &p->bo,
                             &p->ln2_g, &p->ln2_b, &p->w1,   &p->b1,   &p->w2, &p->b2};
  const int sizes[12] = {D, D, 3 * D * D, 3 * D, D * D, D, D, D, F * D, F, D * F, D};
  for (int i = 0; i < 12; i++) {
    *slot[i] = base;
    base += sizes[i];
  }
}

/* y[S][lq][D] += out-projection of multi-head attention of the first lq
 * queries of each sequence over all L keys, from h[S][L][D]. */
static inline void ref_attn(int S, int L, int lq, int D, int H, const double *h, const double *wqkv,
                            const double *bqkv, const double *wo, const double *bo, double *y) {
  const int dh = D / H;
  double *qkv = malloc(sizeof(double) * (size_t)(S * L * 3 * D));
  double *o = malloc(sizeof(double) * (size_t)(S * lq * D));
  double *p = malloc(sizeof(double) * (size_t)L);
  ref_linear(S * L, D, 3 * D, h, wqkv, bqkv, qkv);
  for (int s = 0; s < S; s++)
    for (int hd = 0; hd < H; hd++)
      for (int i = 0; i < lq; i++) {
        const double *q = qkv + (size_t)((s * L + i) * 3 * D + hd * dh);
        double m = -INFINITY, z = 0;
        for (int j = 0; j < L; j++) {
          const double *k = qkv + (size_t)((s * L + j) * 3 * D + D + hd * dh);
          double d = 0;
          for (int t = 0; t < dh; t++) d += q[t] * k[t];
          p[j] = d / sqrt((double)dh);
          if (p[j] > m) m = p[j];
        }
        for (int j = 0; j < L; j++) z += (p[j] = exp(p[j] - m));
        for (int t = 0; t < dh; t++) {
          double acc = 0;
          for (int j = 0; j < L; j++)
            acc += p[j] / z * qkv[(s * L + j) * 3 * D + 2 * D + hd * dh + t];
          o[(s * lq + i) * D + hd * dh + t] = acc;
        }
      }
  double *t = malloc(sizeof(double) * (size_t)(S * lq * D));
  ref_linear(S * lq, D, D, o, wo, bo, t);
  for (int i = 0; i < S * lq * D; i++) y[i] += t[i];
  free(t);
  free(qkv);
  free(o);
  free(p);
}

/* y[rows][D] += FFN(h) */
static inline void ref_ffn(int rows, int D, int F, const double *h, const double *w1,
                           const double *b1, const double *w2, const double *b2, double *y) {
  double *a = malloc(sizeof(double) * (size_t)(rows * F));
  double *t = malloc(sizeof(double) * (size_t)(rows * D));
  ref_linear(rows, D, F, h, w1, b1, a);
  for (int i = 0; i < rows * F; i++) a[i] = ref_gelu(a[i]);
  ref_linear(rows, F, D, a, w2, b2, t);
  for (int i = 0; i < rows * D; i++) y[i] += t[i];
  free(a);
  free(t);
}

/* The pre-norm block; first != 0: the output at token 0 only, y[S][D]. */
static inline void ref_block(int S, int L, int D, int H, int F, const ref_block_p *p,
                             const double *x, int first, double *y) {
  const int rows = S * L, lq = first ? 1 : L, orow = S * lq;
  double *h = malloc(sizeof(double) * (size_t)(rows * D));
  double *mid = malloc(sizeof(double) * (size_t)(orow * D));
  double *h2 = malloc(sizeof(double) * (size_t)(orow * D));
  ref_ln(rows, D, x, p->ln1_g, p->ln1_b, h);
  for (int s = 0; s < S; s++)
    memcpy(mid + (size_t)(s * lq * D), x + (size_t)(s * L * D), sizeof(double) * (size_t)(lq * D));
  ref_attn(S, L, lq, D, H, h, p->wqkv, p->bqkv, p->wo, p->bo, mid);
  ref_ln(orow, D, mid, p->ln2_g, p->ln2_b, h2);
  memcpy(y, mid, sizeof(double) * (size_t)(orow * D));
  ref_ffn(orow, D, F, h2, p->w1, p->b1, p->w2, p->b2, y);
  free(h);
  free(mid);
  free(h2);
}

/* NT-Xent of V views p[V][P] (i and i + V/2 positive), cosine similarity. */
static inline double ref_ntxent(int V, int P, const double *p, double tau) {
  double *u = malloc(sizeof(double) * (size_t)(V * P));
  for (int i = 0; i < V; i++) {
    double n = 0;
    for (int k = 0; k < P; k++) n += p[i * P + k] * p[i * P + k];
    n = sqrt(n);
    if (n < 1e-8) n = 1e-8;
    for (int k = 0; k < P; k++) u[i * P + k] = p[i * P + k] / n;
  }
  double total = 0;
  for (int i = 0; i < V; i++) {
    const int pos = (i + V / 2) % V;
    double z = 0, sp = 0;
    for (int j = 0; j < V; j++) {
      if (j == i) continue;
      double s = 0;
      for (int k = 0; k < P; k++) s += u[i * P + k] * u[j * P + k];
      s /= tau;
      z += exp(s);
      if (j == pos) sp = s;
    }
    total += log(z) - sp;
  }
  free(u);
  return total / V;
}

/* The whole loss in double: params laid out as the model m says, batch
 * (input, target) in its layer-major layout, V views. *con, *rec: parts. */
static inline double ref_model_loss(const wsk_ssl_model *m, const double *P, int V,
                                    const double *input, const double *target, double gamma,
                                    double tau, double *con, double *rec) {
  const wsk_ssl_tokens *tk = &m->tk;
  const int D = (int)m->a.dim, H = (int)m->a.heads, F = (int)m->a.ffn, Z = (int)m->a.latent;
  const int N = tk->ntok, T = N + 1, H1 = (int)m->a.proj_hidden, PO = (int)m->a.proj_out;
  const int Le = (int)m->a.enc_layers, Ld = (int)m->a.dec_layers;
  double *x = calloc((size_t)(V * T * D), sizeof(double));
  double *x2 = calloc((size_t)(V * T * D), sizeof(double));
  double *e = malloc(sizeof(double) * (size_t)(V * N * (D > tk->max_width ? D : tk->max_width)));
  for (int l = 0; l < tk->layers; l++) {
    ref_linear(V * tk->n[l], tk->width[l], D, input + (size_t)V * tk->off[l], P + m->embed_w[l],
               P + m->embed_b[l], e);
    for (int v = 0; v < V; v++)
      for (int i = 0; i < tk->n[l]; i++)
        for (int d = 0; d < D; d++)
          x[(v * T + 1 + tk->tok_off[l] + i) * D + d] = e[(v * tk->n[l] + i) * D + d];
  }
  for (int v = 0; v < V; v++)
    for (int t = 0; t < T; t++)
      for (int d = 0; d < D; d++)
        x[(v * T + t) * D + d] =
            (t == 0 ? P[m->comp + d] : x[(v * T + t) * D + d]) + P[m->enc_pos + t * D + d];
  double comp[4096];
  for (int b = 0; b < Le; b++) {
    ref_block_p bp;
    ref_block_at(P + m->enc_block[b], D, F, &bp);
    if (b < Le - 1) {
      ref_block(V, T, D, H, F, &bp, x, 0, x2);
      double *t = x;
      x = x2;
      x2 = t;
    } else {
      ref_block(V, T, D, H, F, &bp, x, 1, comp);
    }
  }
  double cl[4096], z[4096], h1[4096], p[4096];
  ref_ln(V, D, comp, P + m->enc_ln_g, P + m->enc_ln_b, cl);
  ref_linear(V, D, Z, cl, P + m->lat_w, P + m->lat_b, z);
  for (int i = 0; i < V * Z; i++) z[i] = tanh(z[i]);
  ref_linear(V, Z, H1, z, P + m->proj1_w, P + m->proj1_b, h1);
  for (int i = 0; i < V * H1; i++) h1[i] = h1[i] > 0 ? h1[i] : 0;
  ref_linear(V, H1, PO, h1, P + m->proj2_w, P + m->proj2_b, p);
  *con = ref_ntxent(V, PO, p, tau);
  double *y = malloc(sizeof(double) * (size_t)(V * N * D));
  double *y2 = malloc(sizeof(double) * (size_t)(V * N * D));
  ref_linear(V, Z, N * D, z, P + m->from_w, P + m->from_b, y);
  for (int v = 0; v < V; v++)
    for (int i = 0; i < N * D; i++) y[v * N * D + i] += P[m->dec_pos + i];
  for (int b = 0; b < Ld; b++) {
    ref_block_p bp;
    ref_block_at(P + m->dec_block[b], D, F, &bp);
    ref_block(V, N, D, H, F, &bp, y, 0, y2);
    double *t = y;
    y = y2;
    y2 = t;
  }
  ref_ln(V * N, D, y, P + m->dec_ln_g, P + m->dec_ln_b, y2);
  double sum = 0;
  for (int l = 0; l < tk->layers; l++) {
    const int n = tk->n[l], w = tk->width[l];
    double *g = malloc(sizeof(double) * (size_t)(V * n * D));
    double *o = malloc(sizeof(double) * (size_t)(V * n * w));
    for (int v = 0; v < V; v++)
      memcpy(g + (size_t)(v * n * D), y2 + (size_t)((v * N + tk->tok_off[l]) * D),
             sizeof(double) * (size_t)(n * D));
    ref_linear(V * n, D, w, g, P + m->unemb_w[l], P + m->unemb_b[l], o);
    const double *t = target + (size_t)V * tk->off[l];
    for (int i = 0; i < V * n * w; i++) sum += (o[i] - t[i]) * (o[i] - t[i]);
    free(g);
    free(o);
  }
  *rec = sum / ((double)V * (double)tk->nvals);
  free(x);
  free(x2);
  free(e);
  free(y);
  free(y2);
  return gamma * *con + (1 - gamma) * *rec;
}

#endif
