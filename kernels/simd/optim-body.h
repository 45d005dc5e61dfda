/* kernels/simd/optim-body.h — the optim kernels written once over the
 * 16-float vector v16, included by optim-avx2.c, optim-avx512.c and
 * optim-neon.c after their vec16-<isa>.h. Scalar twin (the definition of
 * every result bit): kernels/optim/optim-scalar.c; definitions in
 * include/wsk/optim.h.
 *
 *  - sgd, adam: element-wise, 16 parameters per v16 (two v16 per step for
 *    more loads in flight), each lane the definition's fixed sequence of
 *    IEEE operations; the tail by a partial load (fill 0) and masked store.
 *  - mlp: tiles of 16 rows (parameters), vectorized across the rows: lane t
 *    of every vector belongs to row r0 + t. The tile's input is transposed
 *    into xt[F][16] on the stack, and each layer maps a transposed input
 *    in[K][16] to a transposed output out[N][16] (also on the stack, at most
 *    64 x 16 floats): output c of the 16 rows is one v16 chain started at
 *    b[c], acc = fma(in[p], W[p][c] broadcast, acc) for p in order, then the
 *    ReLU. Blocks of OP_JB outputs run side by side (independent chains that
 *    share each loaded input vector). The last layer is the same with no
 *    ReLU, its 16 x O results scattered to Y. Missing rows of the last tile
 *    repeat its first row: computed, never stored.
 */
#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including optim-body.h"
#endif

#define OP_CAT2(a, b) a##__##b
#define OP_CAT(a, b) OP_CAT2(a, b)
#define OP_FN(name) OP_CAT(name, WSK_BODY_ISA)
#define OP_TABLE OP_CAT(wsk_optim_ukernels, WSK_BODY_ISA)

/* outputs per block of a layer: chains in flight without spilling */
#if V16_REGS >= 32
#define OP_JB 8
#else
#define OP_JB 4
#endif

/* ---- SGD with momentum ---- */

static inline void OP_FN(sgd_v)(const float *g, float *w, float *m, const wsk_optim_sgd_k *k,
                                size_t len) {
  const v16 wv = len >= 16 ? v16_loadu(w) : v16_load_part(w, len, 0.0f);
  v16 gv = len >= 16 ? v16_loadu(g) : v16_load_part(g, len, 0.0f);
  const v16 mv = len >= 16 ? v16_loadu(m) : v16_load_part(m, len, 0.0f);
  if (k->use_wd) gv = v16_fma(v16_set1(k->wd), wv, gv);
  const v16 mn = v16_fma(v16_set1(k->mu), mv, gv);
  const v16 wn = v16_fma(v16_set1(k->neg_lr), mn, wv);
  if (len >= 16) {
    v16_storeu(m, mn);
    v16_storeu(w, wn);
  } else {
    v16_store_part(m, mn, len);
    v16_store_part(w, wn, len);
  }
}

static void OP_FN(sgd)(size_t n, float *w, const float *g, float *m, const wsk_optim_sgd_k *k) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    OP_FN(sgd_v)(g + i, w + i, m + i, k, 16);
    OP_FN(sgd_v)(g + i + 16, w + i + 16, m + i + 16, k, 16);
  }
  for (; i < n; i += 16) OP_FN(sgd_v)(g + i, w + i, m + i, k, n - i);
}

/* ---- Adam / AdamW ---- */

static inline void OP_FN(adam_v)(const float *g, float *w, float *m, float *v,
                                 const wsk_optim_adam_k *k, size_t len) {
  const int full = len >= 16;
  v16 wi = full ? v16_loadu(w) : v16_load_part(w, len, 0.0f);
  v16 gi = full ? v16_loadu(g) : v16_load_part(g, len, 0.0f);
  const v16 mv = full ? v16_loadu(m) : v16_load_part(m, len, 0.0f);
  const v16 vv = full ? v16_loadu(v) : v16_load_part(v, len, 0.0f);
  if (k->l2) gi = v16_fma(v16_set1(k->wd), wi, gi);
  if (k->decay) wi = v16_mul(wi, v16_set1(k->d));
  const v16 t = v16_mul(v16_set1(k->omb1), gi);
  const v16 mn = v16_fma(v16_set1(k->b1), mv, t);
  v16 q = v16_mul(gi, gi);
  q = v16_mul(v16_set1(k->omb2), q);
  const v16 vn = v16_fma(v16_set1(k->b2), vv, q);
  const v16 vh = v16_mul(vn, v16_set1(k->c2));
  const v16 s = v16_sqrt(vh);
  const v16 den = v16_add(s, v16_set1(k->eps));
  const v16 u = v16_div(mn, den);
  const v16 wn = v16_fma(v16_set1(k->neg_a), u, wi);
  if (full) {
    v16_storeu(m, mn);
    v16_storeu(v, vn);
    v16_storeu(w, wn);
  } else {
    v16_store_part(m, mn, len);
    v16_store_part(v, vn, len);
    v16_store_part(w, wn, len);
  }
}

static void OP_FN(adam)(size_t n, float *w, const float *g, float *m, float *v,
                        const wsk_optim_adam_k *k) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    OP_FN(adam_v)(g + i, w + i, m + i, v + i, k, 16);
    OP_FN(adam_v)(g + i + 16, w + i + 16, m + i + 16, v + i + 16, k, 16);
  }
  for (; i < n; i += 16) OP_FN(adam_v)(g + i, w + i, m + i, v + i, k, n - i);
}

/* ---- the fused MLP ---- */

/* relu(x) = (x <= 0) ? +0 : x (NaN passes) */
static inline v16 OP_FN(relu)(v16 x) {
  const v16 z = v16_set1(0.0f);
  return v16_sel_le(x, z, z, x);
}

/* Outputs [c0, c0 + NB) of a layer over the 16 lanes: NB chains side by side. */
#define OP_BLOCK(NB)                                                                        \
  static inline void OP_FN(block_##NB)(size_t kdim, size_t n, const float *in,              \
                                       const float *wt, const float *b, int relu,           \
                                       float *out, size_t c0) {                             \
    v16 acc[NB];                                                                            \
    for (int c = 0; c < NB; c++) acc[c] = v16_set1(b[c0 + c]);                              \
    for (size_t p = 0; p < kdim; p++) {                                                     \
      const v16 xp = v16_loadu(in + 16 * p);                                                \
      const float *wr = wt + p * n + c0;                                                    \
      for (int c = 0; c < NB; c++) acc[c] = v16_fma(xp, v16_set1(wr[c]), acc[c]);           \
    }                                                                                       \
    for (int c = 0; c < NB; c++)                                                            \
      v16_storeu(out + 16 * (c0 + (size_t)c), relu ? OP_FN(relu)(acc[c]) : acc[c]);         \
  }
OP_BLOCK(1)
OP_BLOCK(2)
OP_BLOCK(3)
OP_BLOCK(4)
#if OP_JB > 4
OP_BLOCK(5)
OP_BLOCK(6)
OP_BLOCK(7)
OP_BLOCK(8)
#endif

/* out[N][16] from in[K][16]: every output's chain over p in order */
static void OP_FN(layer)(size_t kdim, size_t n, const float *in, const float *wt, const float *b,
                         int relu, float *out) {
  size_t c0 = 0;
  for (; c0 + OP_JB <= n; c0 += OP_JB) {
#if OP_JB > 4
    OP_FN(block_8)(kdim, n, in, wt, b, relu, out, c0);
#else
    OP_FN(block_4)(kdim, n, in, wt, b, relu, out, c0);
#endif
  }
  switch (n - c0) {
    case 0: break;
    case 1: OP_FN(block_1)(kdim, n, in, wt, b, relu, out, c0); break;
    case 2: OP_FN(block_2)(kdim, n, in, wt, b, relu, out, c0); break;
    case 3: OP_FN(block_3)(kdim, n, in, wt, b, relu, out, c0); break;
#if OP_JB > 4
    case 4: OP_FN(block_4)(kdim, n, in, wt, b, relu, out, c0); break;
    case 5: OP_FN(block_5)(kdim, n, in, wt, b, relu, out, c0); break;
    case 6: OP_FN(block_6)(kdim, n, in, wt, b, relu, out, c0); break;
    default: OP_FN(block_7)(kdim, n, in, wt, b, relu, out, c0); break;
#else
    default: break;
#endif
  }
}

static void OP_FN(mlp)(const wsk_mlp3 *net, size_t n, const float *x, float *y) {
  const size_t f = (size_t)net->f, h1 = (size_t)net->h1, h2 = (size_t)net->h2, o = (size_t)net->o;
  _Alignas(64) float xt[WSK_MLP_MAXW * 16], a1[WSK_MLP_MAXW * 16], a2[WSK_MLP_MAXW * 16];
  _Alignas(64) float yt[WSK_MLP_MAXW * 16];
  for (size_t r0 = 0; r0 < n; r0 += 16) {
    const size_t nr = n - r0 < 16 ? n - r0 : 16;
    for (size_t t = 0; t < 16; t++) {
      const float *xr = x + (r0 + (t < nr ? t : 0)) * f;
      for (size_t i = 0; i < f; i++) xt[16 * i + t] = xr[i];
    }
    OP_FN(layer)(f, h1, xt, net->w1, net->b1, 1, a1);
    OP_FN(layer)(h1, h2, a1, net->w2, net->b2, 1, a2);
    OP_FN(layer)(h2, o, a2, net->w3, net->b3, 0, yt);
    for (size_t t = 0; t < nr; t++)
      for (size_t c = 0; c < o; c++) y[(r0 + t) * o + c] = yt[16 * c + t];
  }
}

const wsk_optim_ukernels OP_TABLE = {WSK_BODY_ISA_ENUM, OP_FN(sgd), OP_FN(adam), OP_FN(mlp)};
