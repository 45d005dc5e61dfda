/* kernels/optim/optim-scalar.c — the reference kernels of the optim family
 * (definitions in include/wsk/optim.h): plain C with fmaf and sqrtf, always
 * built, the test oracle of optim-{avx2,avx512,neon}.c (which share
 * kernels/simd/optim-body.h). */
#include <math.h>

#include "kernels/ukernels.h"

static void sgd__scalar(size_t n, float *w, const float *g, float *m, const wsk_optim_sgd_k *k) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    if (k->use_wd) gi = fmaf(k->wd, w[i], gi);
    const float mi = fmaf(k->mu, m[i], gi);
    m[i] = mi;
    w[i] = fmaf(k->neg_lr, mi, w[i]);
  }
}

static void adam__scalar(size_t n, float *w, const float *g, float *m, float *v,
                         const wsk_optim_adam_k *k) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i], wi = w[i];
    if (k->l2) gi = fmaf(k->wd, wi, gi);
    if (k->decay) wi = wi * k->d;
    const float t = k->omb1 * gi;
    const float mi = fmaf(k->b1, m[i], t);
    float q = gi * gi;
    q = k->omb2 * q;
    const float vi = fmaf(k->b2, v[i], q);
    const float vh = vi * k->c2;
    const float s = sqrtf(vh);
    const float den = s + k->eps;
    const float u = mi / den;
    m[i] = mi;
    v[i] = vi;
    w[i] = fmaf(k->neg_a, u, wi);
  }
}

/* out[c] = (relu) chain b[c], fma(in[p], W[p][c], .) over p < kdim */
static void layer(size_t kdim, size_t n, const float *in, const float *wt, const float *b, int relu,
                  float *out) {
  for (size_t c = 0; c < n; c++) {
    float acc = b[c];
    for (size_t p = 0; p < kdim; p++) acc = fmaf(in[p], wt[p * n + c], acc);
    if (relu && acc <= 0.0f) acc = 0.0f;
    out[c] = acc;
  }
}

static void mlp__scalar(const wsk_mlp3 *net, size_t n, const float *x, float *y) {
  const size_t f = (size_t)net->f, h1 = (size_t)net->h1, h2 = (size_t)net->h2, o = (size_t)net->o;
  float a1[WSK_MLP_MAXW], a2[WSK_MLP_MAXW];
  for (size_t r = 0; r < n; r++) {
    layer(f, h1, x + r * f, net->w1, net->b1, 1, a1);
    layer(h1, h2, a1, net->w2, net->b2, 1, a2);
    layer(h2, o, a2, net->w3, net->b3, 0, y + r * o);
  }
}

/* clip(v) = v > 1 ? 1 : (v < -1 ? -1 : v): NaN and -0 pass */
static inline float clip1(float v) { return v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v); }

static void lopt_features__scalar(size_t n, const float *w, const float *g, size_t nmom,
                                  const float *gamma, const float *omg, float *mom, size_t ldm,
                                  float *x, size_t ldx) {
  for (size_t i = 0; i < n; i++) {
    float *xr = x + i * ldx;
    const float gi = g[i];
    xr[0] = clip1(w[i]);
    xr[1] = clip1(gi);
    for (size_t k = 0; k < nmom; k++) {
      float *m = mom + k * ldm + i;
      const float t = omg[k] * gi;
      const float mk = fmaf(gamma[k], *m, t);
      *m = mk;
      xr[2 + k] = clip1(mk);
    }
  }
}

static void lopt_update__scalar(size_t n, float *w, const float *g, const float *f, float *m0,
                                const wsk_optim_lopt_k *k) {
  for (size_t i = 0; i < n; i++) {
    const float m = fmaf(k->gamma0, m0[i], g[i]);
    m0[i] = m;
    const float u = fmaf(k->beta, f[i], m);
    w[i] = fmaf(k->neg_alpha, u, w[i]);
  }
}

static void rowdot__scalar(size_t n, size_t k, const float *x, const float *v, float b, float *y) {
  for (size_t r = 0; r < n; r++) {
    const float *xr = x + r * k;
    float acc = b;
    for (size_t p = 0; p < k; p++) acc = fmaf(xr[p], v[p], acc);
    y[r] = acc;
  }
}

const wsk_optim_ukernels wsk_optim_ukernels__scalar = {
    WSK_ISA_SCALAR,        sgd__scalar,         adam__scalar,  mlp__scalar,
    lopt_features__scalar, lopt_update__scalar, rowdot__scalar};
