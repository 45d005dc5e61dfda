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
 *    into xt[F][16] on the stack (16 x 16 blocks by op_tr16, the last
 *    F mod 16 columns by a loop), and each layer maps a transposed input
 *    in[K][16] to a transposed output out[N][16] (also on the stack, at most
 *    64 x 16 floats): output c of the 16 rows is one v16 chain started at
 *    b[c], acc = fma(in[p], W[p][c] broadcast, acc) for p in order, then the
 *    ReLU. Blocks of OP_JB outputs run side by side (independent chains that
 *    share each loaded input vector). The last layer is the same with no
 *    ReLU, its 16 x O results transposed back to Y (op_tr16 for whole
 *    16 x 16 blocks). Missing rows of the last tile repeat its first row:
 *    computed, never stored.
 *  - lopt_features: 16 parameters per v16: the momenta updated and clipped
 *    lane-wise, the 2 + nmom clipped columns gathered in col[c][16] and
 *    transposed to row-major 16 x 16 on the stack, then each row's first
 *    2 + nmom floats copied out (plain stores of 8, 4, 2, 1 floats, never
 *    past the row's 2 + nmom); the tail by partial loads.
 *  - lopt_update: element-wise as sgd.
 *  - rowdot: tiles of 16 rows, vectorized across the rows like the MLP: the
 *    tile's 16 x k block is transposed into xt[k][16], and row r0 + t is lane
 *    t of one v16 chain acc = fma(xt[p], v[p] broadcast, acc), p in order.
 *    Two tiles run side by side (two independent chains hide the FMA
 *    latency).
 *
 * The 16 x 16 transposes (pure data movement) use the ISA file's
 * op_tr16(s, ls, d, ld), d[j*ld + i] = s[i*ls + j] for i, j < 16, when it
 * defines OP_HAVE_TR16 (shuffles in registers), else a plain loop.
 */
#include <string.h>

#include "kernels/simd/vec16-util.h"
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

/* ---- 16 x 16 transposes ---- */

#ifndef OP_HAVE_TR16
/* d[j*ld + i] = s[i*ls + j], i, j < 16 */
static inline void op_tr16(const float *s, size_t ls, float *d, size_t ld) {
  for (size_t i = 0; i < 16; i++)
    for (size_t j = 0; j < 16; j++) d[j * ld + i] = s[i * ls + j];
}
#endif

/* xt[p*16 + t] = x[(r0 + t)*k + p] for p < k and the tile's rows t < nr
 * (rows t >= nr repeat row r0: computed by the caller, never stored) */
static inline void OP_FN(load_tile)(const float *x, size_t k, size_t nr, float *xt) {
  size_t p0 = 0;
  if (nr == 16)
    for (; p0 + 16 <= k; p0 += 16) op_tr16(x + p0, k, xt + 16 * p0, 16);
  for (size_t t = 0; t < 16; t++) {
    const float *xr = x + (t < nr ? t : 0) * k;
    for (size_t p = p0; p < k; p++) xt[16 * p + t] = xr[p];
  }
}

/* ---- the fused MLP ---- */

/* relu(x) = (x <= 0) ? +0 : x (NaN passes) */
static inline v16 OP_FN(relu)(v16 x) {
  const v16 z = v16_set1(0.0f);
  return v16_sel_le(x, z, z, x);
}

/* Outputs [c0, c0 + NB) of a layer over the 16 lanes: NB chains side by side. */
#define OP_BLOCK(NB)                                                                            \
  static inline void OP_FN(block_##NB)(size_t kdim, size_t n, const float *in, const float *wt, \
                                       const float *b, int relu, float *out, size_t c0) {       \
    v16 acc[NB];                                                                                \
    for (int c = 0; c < NB; c++) acc[c] = v16_set1(b[c0 + c]);                                  \
    for (size_t p = 0; p < kdim; p++) {                                                         \
      const v16 xp = v16_loadu(in + 16 * p);                                                    \
      const float *wr = wt + p * n + c0;                                                        \
      for (int c = 0; c < NB; c++) acc[c] = v16_fma(xp, v16_set1(wr[c]), acc[c]);               \
    }                                                                                           \
    for (int c = 0; c < NB; c++)                                                                \
      v16_storeu(out + 16 * (c0 + (size_t)c), relu ? OP_FN(relu)(acc[c]) : acc[c]);             \
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
    OP_FN(load_tile)(x + r0 * f, f, nr, xt);
    OP_FN(layer)(f, h1, xt, net->w1, net->b1, 1, a1);
    OP_FN(layer)(h1, h2, a1, net->w2, net->b2, 1, a2);
    OP_FN(layer)(h2, o, a2, net->w3, net->b3, 0, yt);
    size_t c0 = 0;
    if (nr == 16)
      for (; c0 + 16 <= o; c0 += 16) op_tr16(yt + 16 * c0, 16, y + r0 * o + c0, o);
    for (size_t t = 0; t < nr; t++)
      for (size_t c = c0; c < o; c++) y[(r0 + t) * o + c] = yt[16 * c + t];
  }
}

/* ---- the learned optimizer's features ---- */

/* d[0 .. nc) = s[0 .. nc), nc < 16, as at most four plain stores of 8, 4, 2
 * and 1 floats (fixed-size copies the compiler turns into vector moves;
 * masked stores are slow on some CPUs) */
static inline void OP_FN(store_row)(float *d, const float *s, size_t nc) {
  size_t o = 0;
  if (nc & 8) {
    memcpy(d, s, 8 * sizeof(float));
    o = 8;
  }
  if (nc & 4) {
    memcpy(d + o, s + o, 4 * sizeof(float));
    o += 4;
  }
  if (nc & 2) {
    memcpy(d + o, s + o, 2 * sizeof(float));
    o += 2;
  }
  if (nc & 1) d[o] = s[o];
}

/* clip(v) = v > 1 ? 1 : (v < -1 ? -1 : v) (NaN and -0 pass) */
static inline v16 OP_FN(clip1)(v16 v) {
  const v16 one = v16_set1(1.0f), mone = v16_set1(-1.0f);
  return v16_sel_lt(one, v, one, v16_sel_lt(v, mone, mone, v));
}

static void OP_FN(lopt_features)(size_t n, const float *w, const float *g, size_t nmom,
                                 const float *gamma, const float *omg, float *mom, size_t ldm,
                                 float *x, size_t ldx) {
  /* col[c][16]: column c of 16 rows; rows of col past 2 + nmom are never
   * stored but are transposed: zero them once */
  _Alignas(64) float col[16 * 16] = {0};
  _Alignas(64) float row[16 * 16];
  const size_t nc = 2 + nmom;
  for (size_t i = 0; i < n; i += 16) {
    const size_t len = n - i < 16 ? n - i : 16;
    const v16 wv = v16_load_upto(w + i, len), gv = v16_load_upto(g + i, len);
    v16_storeu(col, OP_FN(clip1)(wv));
    v16_storeu(col + 16, OP_FN(clip1)(gv));
    for (size_t k = 0; k < nmom; k++) {
      float *m = mom + k * ldm + i;
      const v16 t = v16_mul(v16_set1(omg[k]), gv);
      const v16 mk = v16_fma(v16_set1(gamma[k]), v16_load_upto(m, len), t);
      v16_store_upto(m, mk, len);
      v16_storeu(col + 16 * (2 + k), OP_FN(clip1)(mk));
    }
    op_tr16(col, 16, row, 16);
    for (size_t t = 0; t < len; t++) OP_FN(store_row)(x + (i + t) * ldx, row + 16 * t, nc);
  }
}

/* ---- the learned optimizer's update ---- */

static inline void OP_FN(lupd_v)(const float *g, const float *f, float *w, float *m0,
                                 const wsk_optim_lopt_k *k, size_t len) {
  const v16 m = v16_fma(v16_set1(k->gamma0), v16_load_upto(m0, len), v16_load_upto(g, len));
  const v16 u = v16_fma(v16_set1(k->beta), v16_load_upto(f, len), m);
  const v16 wn = v16_fma(v16_set1(k->neg_alpha), u, v16_load_upto(w, len));
  v16_store_upto(m0, m, len);
  v16_store_upto(w, wn, len);
}

static void OP_FN(lopt_update)(size_t n, float *w, const float *g, const float *f, float *m0,
                               const wsk_optim_lopt_k *k) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    OP_FN(lupd_v)(g + i, f + i, w + i, m0 + i, k, 16);
    OP_FN(lupd_v)(g + i + 16, f + i + 16, w + i + 16, m0 + i + 16, k, 16);
  }
  for (; i < n; i += 16) OP_FN(lupd_v)(g + i, f + i, w + i, m0 + i, k, n - i);
}

/* ---- the row dot product ---- */

static void OP_FN(rowdot)(size_t n, size_t k, const float *x, const float *v, float b, float *y) {
  _Alignas(64) float xa[WSK_MLP_MAXW * 16], xb[WSK_MLP_MAXW * 16];
  size_t r0 = 0;
  for (; r0 + 32 <= n; r0 += 32) {
    OP_FN(load_tile)(x + r0 * k, k, 16, xa);
    OP_FN(load_tile)(x + (r0 + 16) * k, k, 16, xb);
    v16 a0 = v16_set1(b), a1 = a0;
    for (size_t p = 0; p < k; p++) {
      const v16 vp = v16_set1(v[p]);
      a0 = v16_fma(v16_loadu(xa + 16 * p), vp, a0);
      a1 = v16_fma(v16_loadu(xb + 16 * p), vp, a1);
    }
    v16_storeu(y + r0, a0);
    v16_storeu(y + r0 + 16, a1);
  }
  for (; r0 < n; r0 += 16) {
    const size_t nr = n - r0 < 16 ? n - r0 : 16;
    OP_FN(load_tile)(x + r0 * k, k, nr, xa);
    v16 acc = v16_set1(b);
    for (size_t p = 0; p < k; p++) acc = v16_fma(v16_loadu(xa + 16 * p), v16_set1(v[p]), acc);
    v16_store_upto(y + r0, acc, nr);
  }
}

const wsk_optim_ukernels OP_TABLE = {WSK_BODY_ISA_ENUM, OP_FN(sgd),           OP_FN(adam),
                                     OP_FN(mlp),        OP_FN(lopt_features), OP_FN(lopt_update),
                                     OP_FN(rowdot)};
