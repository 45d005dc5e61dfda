/* kernels/attn/attn.c — the public entry points of the attn family: argument
 * checks and the tiled drivers of the forward and backward passes (the
 * order of operations that defines every bit is in wsk/attn.h).
 *
 * Built with baseline flags: it moves data and calls two tables of the same
 * tier — the gemm micro-kernel for every matrix product (scores q.k, dO.v,
 * P.V, P^T.dO, dS^T.q, dS.k) and the attn row operations for the online
 * softmax. The gemm micro-kernel keeps each output's fmaf chain over its k
 * loop in order and continues from stored partial sums, so a chain over keys
 * or queries that spans blocks is the same chain as an unblocked one.
 *
 * Packing, per block of WSK_ATTN_KEY_BLOCK (KB) keys: K^T (and V^T) into
 * panels of nr keys for the scores, K and V rows into panels of nr head
 * dimensions for the products over keys; keys removed by the key mask are
 * packed as zeros. Queries go in blocks of QB rows, read where they lie.
 *
 * Forward: one task per (batch, head, block of QB queries); the task keeps
 * its queries' output accumulators, maxima and partial sums in its scratch
 * and visits the key blocks in order. No Lq x Lk matrix exists: the extra
 * memory is a few blocks per thread.
 *
 * Backward: D_i = dO_i . o_i first, then either
 *  - fused (enough (batch, head) pairs for every thread): one task per
 *    (batch, head) visits the key blocks in order; for each, the query
 *    blocks in order give P and dS once, which feed dV and dK of the key
 *    block and dQ of the whole sequence (an Lq x Dh accumulator per thread);
 *  - split (few pairs, many threads): one task per (batch, head, key block)
 *    for dK and dV, then one per (batch, head, query block) for dQ,
 *    recomputing P and dS.
 * Both give the same bits: every gradient is the same chain in the same
 * order (wsk/attn.h).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "kernels/ukernels.h"
#include "wsk/threads.h"

enum { KB = WSK_ATTN_KEY_BLOCK, QB = 64 };

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* ---- views ------------------------------------------------------------------ */

void wsk_attn_qkv_views(const float *qkv, int64_t l, int64_t heads, int64_t dh,
                        wsk_attn_cview *q, wsk_attn_cview *k, wsk_attn_cview *v) {
  const int64_t sl = 3 * heads * dh, sb = l * sl;
  if (q) *q = (wsk_attn_cview){qkv, sb, sl, dh};
  if (k) *k = (wsk_attn_cview){qkv ? qkv + heads * dh : NULL, sb, sl, dh};
  if (v) *v = (wsk_attn_cview){qkv ? qkv + 2 * heads * dh : NULL, sb, sl, dh};
}

void wsk_attn_qkv_grad_views(float *dqkv, int64_t l, int64_t heads, int64_t dh, wsk_attn_view *dq,
                             wsk_attn_view *dk, wsk_attn_view *dv) {
  const int64_t sl = 3 * heads * dh, sb = l * sl;
  if (dq) *dq = (wsk_attn_view){dqkv, sb, sl, dh};
  if (dk) *dk = (wsk_attn_view){dqkv ? dqkv + heads * dh : NULL, sb, sl, dh};
  if (dv) *dv = (wsk_attn_view){dqkv ? dqkv + 2 * heads * dh : NULL, sb, sl, dh};
}

wsk_attn_view wsk_attn_dense_view(float *x, int64_t l, int64_t heads, int64_t dh) {
  return (wsk_attn_view){x, l * heads * dh, heads * dh, dh};
}

wsk_attn_cview wsk_attn_dense_cview(const float *x, int64_t l, int64_t heads, int64_t dh) {
  return (wsk_attn_cview){x, l * heads * dh, heads * dh, dh};
}

/* ---- shared state of one call -------------------------------------------------- */

typedef struct attn_ctx {
  const wsk_gemm_ukernels *gk;
  /* a micro-kernel 16 columns wide (the same bits, by the gemm contract) for
   * a last query panel of at most 16 queries when gk's panels are wider;
   * NULL when gk's are 16 wide */
  const wsk_gemm_ukernels *gkn;
  const wsk_attn_ukernels *ak;
  size_t B, H, lq, lk, dh, dpad, nr, mr;
  ptrdiff_t off; /* causal: key j is visible to query i when j <= i + off */
  int causal;
  float scale;
  const uint8_t *key_mask;
  wsk_attn_cview q, k, v, o, dout;
  wsk_attn_view out, dq, dk, dv;
  float *lse;       /* [B][H][lq] */
  float *dsum;      /* [B][H][lq]: D_i (backward) */
  float *scratch;   /* per thread: per_thread floats */
  size_t per_thread;
  size_t kv_keys;   /* backward: keys whose dK, dV one task accumulates */
  size_t kb_chunk;  /* split backward: key blocks per dK/dV task */
} attn_ctx;

/* Scratch of one thread, carved from its slice. */
typedef struct attn_scratch {
  float *st, *dpt;      /* scores / dP, transposed, in query panels: QB x KB */
  float *qt, *dot;      /* Q^T, dO^T in panels of nr queries: dh x QB */
  float *qp, *dop;      /* Q, dO rows in panels of nr head dimensions: QB x dnr */
  float *kp;            /* K rows of a key block in panels of nr head dimensions: KB x dnr */
  float *qacc;          /* dQ accumulators: QB x dpad */
  float *kbuf, *vbuf;   /* a key block with removed keys zeroed: KB x dh */
  float *ot;            /* o^T or dQ^T accumulators: dh x QB */
  float *m, *l, *alpha; /* QB each */
  float *lse, *dsum;    /* QB each (a padded copy) */
  float *limf;          /* QB */
  float *kbias;         /* KB */
  float *dkacc, *dvacc; /* backward: kv_keys x dpad each */
} attn_scratch;

static size_t scratch_floats(size_t dh, size_t nr, size_t dpad, size_t kv_keys) {
  const size_t dnr = round_up(dh, nr);
  return 2 * QB * KB + 2 * dh * QB + 2 * QB * dnr + KB * dnr + QB * dpad + 2 * KB * dh + dh * QB +
         6 * QB + QB + KB + 2 * kv_keys * dpad + 16;
}

static attn_scratch carve(const attn_ctx *c, int thread) {
  const size_t dnr = round_up(c->dh, c->nr);
  float *p = c->scratch + (size_t)thread * c->per_thread;
  attn_scratch s;
  s.st = p, p += QB * KB;
  s.dpt = p, p += QB * KB;
  s.qt = p, p += c->dh * QB;
  s.dot = p, p += c->dh * QB;
  s.qp = p, p += QB * dnr;
  s.dop = p, p += QB * dnr;
  s.kp = p, p += KB * dnr;
  s.qacc = p, p += QB * c->dpad;
  s.kbuf = p, p += KB * c->dh;
  s.vbuf = p, p += KB * c->dh;
  s.ot = p, p += c->dh * QB;
  s.m = p, p += QB;
  s.l = p, p += QB;
  s.alpha = p, p += QB;
  s.lse = p, p += QB;
  s.dsum = p, p += QB;
  s.limf = p, p += QB;
  s.kbias = p, p += KB;
  s.dkacc = p, p += c->kv_keys * c->dpad;
  s.dvacc = p;
  return s;
}

static const float *crow(wsk_attn_cview v, size_t b, size_t h, size_t i) {
  return v.data + (ptrdiff_t)b * v.sb + (ptrdiff_t)h * v.sh + (ptrdiff_t)i * v.sl;
}
static float *row(wsk_attn_view v, size_t b, size_t h, size_t i) {
  return v.data + (ptrdiff_t)b * v.sb + (ptrdiff_t)h * v.sh + (ptrdiff_t)i * v.sl;
}

/* Keys of block [j0, j0 + n) visible to query i: [0, lim). */
static size_t key_limit(const attn_ctx *c, size_t i, size_t j0, size_t n) {
  if (!c->causal) return n;
  const ptrdiff_t lim = (ptrdiff_t)i + c->off + 1 - (ptrdiff_t)j0;
  return lim <= 0 ? 0 : min_sz((size_t)lim, n);
}

/* End (exclusive) of the keys that queries [i0, i0 + rows) may see. */
static size_t key_end(const attn_ctx *c, size_t i0, size_t rows) {
  if (!c->causal) return c->lk;
  const ptrdiff_t e = (ptrdiff_t)(i0 + rows - 1) + c->off + 1;
  return e <= 0 ? 0 : min_sz((size_t)e, c->lk);
}

/* Per query of [i0, i0 + rows) (padded to QB with 0): keys visible in block
 * [j0, j0 + n), as floats. */
static void limits(const attn_ctx *c, size_t i0, size_t rows, size_t j0, size_t n, float *limf) {
  for (size_t r = 0; r < QB; r++) limf[r] = r < rows ? (float)key_limit(c, i0 + r, j0, n) : 0.0f;
}

/* The key block [j0, j0 + n) as the A operand of the products: K and V read
 * where they lie, unless the key mask removes some of its keys — then copied
 * with those rows zeroed (a removed key contributes nothing, even NaN).
 * kbias: NULL, or the block's mask as 0 / -1; *none: every key removed. */
typedef struct key_src {
  const float *k, *v;
  size_t ldk, ldv;
  const float *kbias;
  int none;
} key_src;

static key_src key_block(const attn_ctx *c, attn_scratch *s, size_t b, size_t h, size_t j0,
                         size_t n) {
  key_src ks = {crow(c->k, b, h, j0), crow(c->v, b, h, j0), (size_t)c->k.sl, (size_t)c->v.sl,
                NULL, 0};
  if (!c->key_mask) return ks;
  const uint8_t *km = c->key_mask + b * c->lk + j0;
  size_t kept = 0;
  for (size_t j = 0; j < n; j++) kept += km[j] != 0;
  if (kept == n) return ks;
  ks.none = kept == 0;
  for (size_t j = 0; j < n; j++) {
    s->kbias[j] = km[j] ? 0.0f : -1.0f;
    if (km[j]) {
      memcpy(s->kbuf + j * c->dh, ks.k + j * ks.ldk, c->dh * sizeof(float));
      memcpy(s->vbuf + j * c->dh, ks.v + j * ks.ldv, c->dh * sizeof(float));
    } else {
      memset(s->kbuf + j * c->dh, 0, c->dh * sizeof(float));
      memset(s->vbuf + j * c->dh, 0, c->dh * sizeof(float));
    }
  }
  ks.k = s->kbuf, ks.v = s->vbuf, ks.ldk = ks.ldv = c->dh, ks.kbias = s->kbias;
  return ks;
}

/* 4 x 4 transposes with the compiler's portable vector extension (SSE on
 * x86-64, NEON on aarch64; data movement only, no arithmetic). */
typedef float f4 __attribute__((vector_size(16)));
typedef int i4 __attribute__((vector_size(16)));

static inline f4 load4(const float *p) {
  f4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void store4(float *p, f4 v) { memcpy(p, &v, sizeof v); }

/* dst[j*ldd + i] = src[i*lds + j] for i, j < 4 */
static inline void transpose4(const float *src, size_t lds, float *dst, size_t ldd) {
  const f4 r0 = load4(src), r1 = load4(src + lds), r2 = load4(src + 2 * lds),
           r3 = load4(src + 3 * lds);
  const f4 t0 = __builtin_shuffle(r0, r1, (i4){0, 4, 1, 5});
  const f4 t1 = __builtin_shuffle(r0, r1, (i4){2, 6, 3, 7});
  const f4 t2 = __builtin_shuffle(r2, r3, (i4){0, 4, 1, 5});
  const f4 t3 = __builtin_shuffle(r2, r3, (i4){2, 6, 3, 7});
  store4(dst, __builtin_shuffle(t0, t2, (i4){0, 1, 4, 5}));
  store4(dst + ldd, __builtin_shuffle(t0, t2, (i4){2, 3, 6, 7}));
  store4(dst + 2 * ldd, __builtin_shuffle(t1, t3, (i4){0, 1, 4, 5}));
  store4(dst + 3 * ldd, __builtin_shuffle(t1, t3, (i4){2, 3, 6, 7}));
}

/* Query panel p of a block of `rows` queries: its width (the row stride of
 * its packed data) and the micro-kernel for products with it as B. Panels
 * are nr queries wide and start every nr queries; the last one is 16 wide
 * when it holds at most 16 queries and a 16-wide kernel exists. */
static size_t qpanel_w(const attn_ctx *c, size_t p, size_t rows) {
  return c->gkn && rows - p * c->nr <= 16 ? 16 : c->nr;
}
static const wsk_gemm_ukernels *qpanel_k(const attn_ctx *c, size_t p, size_t rows) {
  return qpanel_w(c, p, rows) == c->nr ? c->gk : c->gkn;
}

/* X^T of rows [i0, i0 + rows) into query panels:
 * dst[p][d][t] = x[i0 + p nr + t][d] (row stride qpanel_w), zero for t past
 * the rows. */
static void pack_t(const attn_ctx *c, wsk_attn_cview x, size_t b, size_t h, size_t i0, size_t rows,
                   float *dst) {
  const size_t nr = c->nr, dh = c->dh;
  for (size_t p = 0; p * nr < rows; p++) {
    const size_t pw = qpanel_w(c, p, rows);
    float *panel = dst + p * dh * nr;
    const size_t w = min_sz(pw, rows - p * nr);
    if (w < pw)
      for (size_t d = 0; d < dh; d++) memset(panel + d * pw + w, 0, (pw - w) * sizeof(float));
    size_t t = 0;
    for (; t + 4 <= w; t += 4) { /* 4 x 4 blocks */
      const float *src = crow(x, b, h, i0 + p * nr + t);
      size_t d = 0;
      for (; d + 4 <= dh; d += 4) transpose4(src + d, (size_t)x.sl, panel + d * pw + t, pw);
      for (; d < dh; d++)
        for (size_t u = 0; u < 4; u++) panel[d * pw + t + u] = src[u * (size_t)x.sl + d];
    }
    for (; t < w; t++) {
      const float *src = crow(x, b, h, i0 + p * nr + t);
      for (size_t d = 0; d < dh; d++) panel[d * pw + t] = src[d];
    }
  }
}

/* n rows of x (row stride ldx) into panels of nr head dimensions:
 * dst[pd][r][dd] = x[r][pd nr + dd], zero past dh. */
static void pack_rows(const attn_ctx *c, const float *x, size_t ldx, size_t n, float *dst) {
  const size_t nr = c->nr, dh = c->dh;
  for (size_t pd = 0; pd * nr < dh; pd++) {
    float *panel = dst + pd * n * nr;
    const size_t w = min_sz(nr, dh - pd * nr);
    for (size_t r = 0; r < n; r++) {
      float *d = panel + r * nr;
      memcpy(d, x + r * ldx + pd * nr, w * sizeof(float));
      for (size_t dd = w; dd < nr; dd++) d[dd] = 0.0f;
    }
  }
}

/* t[rows][..] (+)= A . B on the gemm micro-kernel, one register tile at a
 * time: A element (i, p) at a[i rsa + p csa] (i < rows, p < kc); B one panel
 * of nr columns (cols <= nr valid) with rows of nr floats; first: start from
 * +0, else continue from t. */
static void mmk(const wsk_gemm_ukernels *gk, size_t rows, size_t cols, size_t kc, const float *a,
                size_t rsa, size_t csa, const float *bp, float *t, size_t ldt, int first) {
  static const wsk_gemm_epilogue ep = {1.0f, 0.0f, NULL, 0};
  const size_t mr = gk->mr;
  for (size_t ir = 0; ir < rows; ir += mr)
    gk->kernel(kc, a + ir * rsa, rsa, csa, bp, gk->nr, min_sz(mr, rows - ir), cols, t + ir * ldt,
               ldt, first, 0, &ep, t + ir * ldt, ldt, 0);
}
static void mm(const attn_ctx *c, size_t rows, size_t cols, size_t kc, const float *a, size_t rsa,
               size_t csa, const float *bp, float *t, size_t ldt, int first) {
  mmk(c->gk, rows, cols, kc, a, rsa, csa, bp, t, ldt, first);
}

/* S^T[j][t] = k_j . x_t for the block's n keys and the query panels of
 * xt (packed X^T): st in panels [p][KB][nr] (the B operand of a product
 * over keys) when panels, else rows [KB][QB] (an A operand). */
static void scores_t(const attn_ctx *c, size_t rows, size_t n, const float *k, size_t ldk,
                     const float *xt, float *st, int panels) {
  const size_t nr = c->nr;
  for (size_t p = 0; p * nr < rows; p++) {
    const size_t pw = qpanel_w(c, p, rows);
    mmk(qpanel_k(c, p, rows), n, min_sz(pw, rows - p * nr), c->dh, k, ldk, 1, xt + p * c->dh * nr,
        panels ? st + p * KB * nr : st + p * nr, panels ? pw : QB, 1);
  }
}

/* ---- forward ------------------------------------------------------------------ */

static void fwd_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t nqb = (c->lq + QB - 1) / QB, nr = c->nr, dh = c->dh;
  const size_t bh = index / nqb, b = bh / c->H, h = bh % c->H;
  const size_t i0 = (index % nqb) * QB, rows = min_sz(QB, c->lq - i0);
  const size_t cols = round_up(rows, 16);
  pack_t(c, c->q, b, h, i0, rows, s.qt);
  memset(s.ot, 0, dh * QB * sizeof(float));
  memset(s.l, 0, QB * sizeof(float));
  for (size_t r = 0; r < QB; r++) s.m[r] = -INFINITY;
  const size_t jend = key_end(c, i0, rows);
  for (size_t j0 = 0; j0 < jend; j0 += KB) {
    const size_t n = min_sz(KB, c->lk - j0);
    const key_src ks = key_block(c, &s, b, h, j0, n);
    if (ks.none) continue; /* nothing to add: skipping changes no bit */
    limits(c, i0, rows, j0, n, s.limf);
    scores_t(c, rows, n, ks.k, ks.ldk, s.qt, s.st, 1);
    for (size_t t = 0; t < cols; t += 16)
      c->ak->fwd_update(n, s.limf + t, c->scale, ks.kbias, s.st + (t / nr) * KB * nr + t % nr,
                        qpanel_w(c, t / nr, rows), s.m + t, s.l + t, s.alpha + t);
    c->ak->mul_cols(dh, cols, s.alpha, s.ot, QB);
    /* o^T += V^T P^T: rows = head dimensions, V read in place */
    for (size_t p = 0; p * nr < rows; p++)
      mmk(qpanel_k(c, p, rows), dh, min_sz(qpanel_w(c, p, rows), rows - p * nr), n, ks.v, 1,
          ks.ldv, s.st + p * KB * nr, s.ot + p * nr, QB, 0);
  }
  c->ak->finish(dh, cols, s.l, s.m, s.ot, QB, s.lse);
  memcpy(c->lse + bh * c->lq + i0, s.lse, rows * sizeof(float));
  size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    float *dst = row(c->out, b, h, i0 + r);
    const size_t ld = (size_t)c->out.sl;
    size_t d = 0;
    for (; d + 4 <= dh; d += 4) transpose4(s.ot + d * QB + r, QB, dst + d, ld);
    for (; d < dh; d++)
      for (size_t u = 0; u < 4; u++) dst[u * ld + d] = s.ot[d * QB + r + u];
  }
  for (; r < rows; r++) {
    float *dst = row(c->out, b, h, i0 + r);
    for (size_t d = 0; d < dh; d++) dst[d] = s.ot[d * QB + r];
  }
}

/* ---- backward ------------------------------------------------------------------ */

static void dsum_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const attn_ctx *c = ctx;
  const size_t b = index / c->H, h = index % c->H;
  c->ak->rowdot(c->lq, c->dh, crow(c->dout, b, h, 0), (size_t)c->dout.sl, crow(c->o, b, h, 0),
                (size_t)c->o.sl, c->dsum + index * c->lq);
}

/* Query block [i0, i0 + rows) against key blocks [kb0, kb1): adds to dK and
 * dV of those keys (s->dkacc / dvacc rows from key kv0) when kv, and
 * computes the block's dQ when dq (written out, scaled). The block's P and
 * dS are kept transposed, [KB][QB]: an A operand of every product. */
static void bwd_block(const attn_ctx *c, attn_scratch *s, size_t b, size_t h, size_t i0,
                      size_t rows, size_t kb0, size_t kb1, size_t kv0, int kv, int dq) {
  const size_t nr = c->nr, dh = c->dh, dpad = c->dpad, bh = b * c->H + h;
  const size_t cols = round_up(rows, 16);
  pack_t(c, c->q, b, h, i0, rows, s->qt);
  pack_t(c, c->dout, b, h, i0, rows, s->dot);
  if (kv) {
    pack_rows(c, crow(c->q, b, h, i0), (size_t)c->q.sl, rows, s->qp);
    pack_rows(c, crow(c->dout, b, h, i0), (size_t)c->dout.sl, rows, s->dop);
  }
  for (size_t r = 0; r < QB; r++) {
    s->lse[r] = r < rows ? c->lse[bh * c->lq + i0 + r] : INFINITY;
    s->dsum[r] = r < rows ? c->dsum[bh * c->lq + i0 + r] : 0.0f;
  }
  if (dq) memset(s->qacc, 0, rows * dpad * sizeof(float));
  const size_t jend = key_end(c, i0, rows);
  for (size_t kb = kb0; kb < kb1 && kb * KB < jend; kb++) {
    const size_t j0 = kb * KB, n = min_sz(KB, c->lk - j0);
    const key_src ks = key_block(c, s, b, h, j0, n);
    if (ks.none) continue;
    limits(c, i0, rows, j0, n, s->limf);
    scores_t(c, rows, n, ks.k, ks.ldk, s->qt, s->st, 0);
    scores_t(c, rows, n, ks.v, ks.ldv, s->dot, s->dpt, 0);
    for (size_t t = 0; t < cols; t += 16)
      c->ak->bwd_ds(n, s->limf + t, c->scale, ks.kbias, s->lse + t, s->dsum + t, s->st + t,
                    s->dpt + t, QB);
    if (kv) /* dV += P^T dO, dK += dS^T Q: rows = keys, k loop = the queries */
      for (size_t pd = 0; pd * nr < dh; pd++) {
        const size_t dw = min_sz(nr, dh - pd * nr);
        mm(c, n, dw, rows, s->st, QB, 1, s->dop + pd * rows * nr,
           s->dvacc + (j0 - kv0) * dpad + pd * nr, dpad, 0);
        mm(c, n, dw, rows, s->dpt, QB, 1, s->qp + pd * rows * nr,
           s->dkacc + (j0 - kv0) * dpad + pd * nr, dpad, 0);
      }
    if (dq) { /* dQ += dS K: rows = queries, k loop = the block's keys */
      pack_rows(c, ks.k, ks.ldk, n, s->kp);
      for (size_t pd = 0; pd * nr < dh; pd++)
        mm(c, rows, min_sz(nr, dh - pd * nr), n, s->dpt, 1, QB, s->kp + pd * n * nr,
           s->qacc + pd * nr, dpad, 0);
    }
  }
  if (dq)
    c->ak->scale_rows(rows, dh, c->scale, s->qacc, dpad, row(c->dq, b, h, i0), (size_t)c->dq.sl);
}

/* Writes dK and dV of keys [j0, j0 + n) from the accumulators (rows from
 * kv0); keys the key mask removes get 0. */
static void kv_write(const attn_ctx *c, attn_scratch *s, size_t b, size_t h, size_t j0, size_t n,
                     size_t kv0) {
  const size_t dpad = c->dpad;
  c->ak->scale_rows(n, c->dh, c->scale, s->dkacc + (j0 - kv0) * dpad, dpad, row(c->dk, b, h, j0),
                    (size_t)c->dk.sl);
  for (size_t j = 0; j < n; j++) /* 1 * x = x: a copy */
    memcpy(row(c->dv, b, h, j0 + j), s->dvacc + (j0 - kv0 + j) * dpad, c->dh * sizeof(float));
  if (c->key_mask)
    for (size_t j = 0; j < n; j++)
      if (!c->key_mask[b * c->lk + j0 + j]) {
        memset(row(c->dk, b, h, j0 + j), 0, c->dh * sizeof(float));
        memset(row(c->dv, b, h, j0 + j), 0, c->dh * sizeof(float));
      }
}

/* One (batch, head): query blocks in order, each against every key block;
 * dK and dV accumulate over the whole sequence. */
static void fused_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t b = index / c->H, h = index % c->H, nkb = (c->lk + KB - 1) / KB;
  memset(s.dkacc, 0, c->lk * c->dpad * sizeof(float));
  memset(s.dvacc, 0, c->lk * c->dpad * sizeof(float));
  for (size_t i0 = 0; i0 < c->lq; i0 += QB)
    bwd_block(c, &s, b, h, i0, min_sz(QB, c->lq - i0), 0, nkb, 0, 1, 1);
  kv_write(c, &s, b, h, 0, c->lk, 0);
}

/* dK and dV of a chunk of key blocks of one (batch, head). */
static void kv_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t nkb = (c->lk + KB - 1) / KB, nch = (nkb + c->kb_chunk - 1) / c->kb_chunk;
  const size_t bh = index / nch, b = bh / c->H, h = bh % c->H;
  const size_t kb0 = (index % nch) * c->kb_chunk, kb1 = min_sz(kb0 + c->kb_chunk, nkb);
  const size_t j0 = kb0 * KB, n = min_sz(kb1 * KB, c->lk) - j0;
  memset(s.dkacc, 0, n * c->dpad * sizeof(float));
  memset(s.dvacc, 0, n * c->dpad * sizeof(float));
  /* the first query that sees key j0 */
  size_t i0 = 0;
  if (c->causal && (ptrdiff_t)j0 - c->off > 0) i0 = (size_t)((ptrdiff_t)j0 - c->off) / QB * QB;
  for (; i0 < c->lq; i0 += QB) bwd_block(c, &s, b, h, i0, min_sz(QB, c->lq - i0), kb0, kb1, j0, 1, 0);
  kv_write(c, &s, b, h, j0, n, j0);
}

/* dQ of one query block of one (batch, head). */
static void q_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t nqb = (c->lq + QB - 1) / QB, nkb = (c->lk + KB - 1) / KB;
  const size_t bh = index / nqb, b = bh / c->H, h = bh % c->H;
  const size_t i0 = (index % nqb) * QB;
  bwd_block(c, &s, b, h, i0, min_sz(QB, c->lq - i0), 0, nkb, 0, 0, 1);
}

/* ---- set-up ------------------------------------------------------------------- */

/* Key blocks per dK/dV task of the split backward. */
enum { KB_CHUNK = 4 };

static int fused_backward(size_t pairs, int threads) {
  return threads == 1 || pairs >= 2 * (size_t)threads;
}

static size_t kv_keys(size_t pairs, size_t lk, int threads, int backward) {
  if (!backward) return 0;
  return fused_backward(pairs, threads) ? lk : KB_CHUNK * KB;
}

/* The scratch of the calls made by one thread: kept between calls (grown when
 * a call needs more), so that the many small calls of a training loop do not
 * allocate and fault in fresh pages each time; freed when the thread ends. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

typedef struct scratch_cache {
  float *p;
  size_t floats;
} scratch_cache;

static void scratch_free(void *v) {
  scratch_cache *c = v;
  free(c->p);
  free(c);
}

static void scratch_key_make(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

static float *scratch_get(size_t floats) {
  pthread_once(&scratch_once, scratch_key_make);
  scratch_cache *c = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
  if (scratch_key_ok && !c) {
    if (!(c = calloc(1, sizeof *c)) || pthread_setspecific(scratch_key, c) != 0) {
      free(c);
      return NULL;
    }
  }
  if (!c) return NULL;
  if (c->floats < floats) {
    free(c->p);
    c->p = NULL;
    c->floats = 0;
    if (posix_memalign((void **)&c->p, 64, floats * sizeof(float)) != 0) {
      c->p = NULL;
      return NULL;
    }
    c->floats = floats;
  }
  return c->p;
}

static wsk_status ctx_make(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                           const wsk_attn_desc *d, int backward, attn_ctx *c) {
  memset(c, 0, sizeof *c);
  c->gk = gk;
  c->ak = ak;
  c->B = (size_t)d->batch;
  c->H = (size_t)d->heads;
  c->lq = (size_t)d->lq;
  c->lk = (size_t)d->lk;
  c->dh = (size_t)d->dh;
  c->dpad = round_up(c->dh, 16);
  c->nr = gk->nr;
  c->mr = gk->mr;
  c->gkn = NULL;
#if WSK_HAVE_AVX2
  /* every AVX-512 CPU has AVX2: its 16-wide kernel for narrow panels */
  if (gk->nr > 16 && gk->isa == WSK_ISA_AVX512 && (wsk_isas_supported() & WSK_ISA_BIT(WSK_ISA_AVX2)))
    c->gkn = &wsk_gemm_ukernels__avx2;
#endif
  c->off = (ptrdiff_t)d->lk - (ptrdiff_t)d->lq;
  c->causal = d->causal != 0;
  c->scale = d->scale;
  c->key_mask = d->key_mask;
  const int threads = wsk_threads_count();
  const size_t pairs = c->B * c->H;
  c->kv_keys = kv_keys(pairs, c->lk, threads, backward);
  c->kb_chunk = KB_CHUNK;
  c->per_thread = round_up(scratch_floats(c->dh, c->nr, c->dpad, c->kv_keys), 16);
  const size_t extra = backward ? 2 * pairs * c->lq : pairs * c->lq; /* dsum (+ lse) */
  const size_t total = (size_t)threads * c->per_thread + extra;
  float *p = scratch_get(total);
  if (!p)
    return wsk__fail(WSK_ERR_NOMEM, "wsk_attn: out of memory for %zu bytes of scratch",
                     total * sizeof(float));
  c->scratch = p;
  c->dsum = p + (size_t)threads * c->per_thread;
  return WSK_OK;
}

int64_t wsk_attn_workspace_bytes(const wsk_attn_desc *d, int backward) {
  return wsk__attn_workspace_bytes_for(d, backward, wsk_threads_count());
}

int64_t wsk__attn_workspace_bytes_for(const wsk_attn_desc *d, int backward, int threads) {
  if (!d || d->batch < 1 || d->heads < 1 || d->lq < 1 || d->lk < 1 || d->dh < 1 || threads < 1)
    return 0;
  const wsk_gemm_ukernels *gk = wsk__dispatch_ready() == WSK_OK ? wsk__gemm_table() : NULL;
  const size_t nr = gk ? gk->nr : 32, dh = (size_t)d->dh, dpad = round_up(dh, 16);
  const size_t pairs = (size_t)d->batch * (size_t)d->heads, lq = (size_t)d->lq;
  const size_t kv = kv_keys(pairs, (size_t)d->lk, threads, backward);
  const size_t per = round_up(scratch_floats(dh, nr, dpad, kv), 16);
  const size_t extra = backward ? 2 * pairs * lq : pairs * lq;
  return (int64_t)(((size_t)threads * per + extra) * sizeof(float));
}

wsk_status wsk__attn_forward_with(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                                  const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                                  wsk_attn_cview v, wsk_attn_view o, float *lse) {
  attn_ctx c;
  WSK_TRY(ctx_make(gk, ak, d, 0, &c));
  c.q = q, c.k = k, c.v = v, c.out = o;
  c.lse = lse ? lse : c.dsum; /* the scratch's row of lq per pair */
  const size_t nqb = (c.lq + QB - 1) / QB;
  const wsk_status rc = wsk_parallel_for(c.B * c.H * nqb, fwd_task, &c);
  return rc;
}

wsk_status wsk__attn_backward_with(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                                   const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                                   wsk_attn_cview v, wsk_attn_cview o, const float *lse,
                                   wsk_attn_cview do_, wsk_attn_view dq, wsk_attn_view dk,
                                   wsk_attn_view dv) {
  attn_ctx c;
  WSK_TRY(ctx_make(gk, ak, d, 1, &c));
  c.q = q, c.k = k, c.v = v, c.o = o, c.dout = do_, c.dq = dq, c.dk = dk, c.dv = dv;
  c.lse = (float *)lse;
  const size_t pairs = c.B * c.H;
  wsk_status rc = wsk_parallel_for(pairs, dsum_task, &c);
  if (rc == WSK_OK) {
    if (c.kv_keys == c.lk && fused_backward(pairs, wsk_threads_count())) {
      rc = wsk_parallel_for(pairs, fused_task, &c);
    } else {
      const size_t nkb = (c.lk + KB - 1) / KB, nqb = (c.lq + QB - 1) / QB;
      rc = wsk_parallel_for(pairs * ((nkb + c.kb_chunk - 1) / c.kb_chunk), kv_task, &c);
      if (rc == WSK_OK) rc = wsk_parallel_for(pairs * nqb, q_task, &c);
    }
  }
  return rc;
}

/* ---- checks ------------------------------------------------------------------- */

/* The bytes a view spans from its first to its last element. */
static wsk_status span(const char *fn, const char *name, int64_t sb, int64_t sl, int64_t sh,
                       size_t B, size_t L, size_t H, size_t dh, size_t *bytes) {
  if (sb < 0 || sl < 0 || sh < 0)
    return wsk__fail(WSK_ERR_ARG, "%s: %s has a negative stride", fn, name);
  size_t t, u, w, x;
  if (__builtin_mul_overflow((size_t)sb, B - 1, &t) || __builtin_mul_overflow((size_t)sl, L - 1, &u) ||
      __builtin_mul_overflow((size_t)sh, H - 1, &w) || __builtin_add_overflow(t, u, &x) ||
      __builtin_add_overflow(x, w, &x) || __builtin_add_overflow(x, dh, &x) ||
      __builtin_mul_overflow(x, sizeof(float), bytes))
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: the extent of %s overflows size_t", fn, name);
  return WSK_OK;
}

static int overlaps(const void *a, size_t abytes, const void *b, size_t bbytes) {
  const uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
  return a0 < b0 + bbytes && b0 < a0 + abytes;
}

static wsk_status check_desc(const char *fn, const wsk_attn_desc *d) {
  if (!d) return wsk__fail(WSK_ERR_NULL, "%s: desc is NULL", fn);
  if (d->batch < 1 || d->heads < 1 || d->lq < 1 || d->lk < 1 || d->dh < 1)
    return wsk__fail(WSK_ERR_SIZE,
                     "%s: batch = %lld, heads = %lld, lq = %lld, lk = %lld, dh = %lld; each "
                     "must be >= 1",
                     fn, (long long)d->batch, (long long)d->heads, (long long)d->lq,
                     (long long)d->lk, (long long)d->dh);
  if (!isfinite(d->scale))
    return wsk__fail(WSK_ERR_ARG, "%s: scale = %g is not finite", fn, (double)d->scale);
  size_t t;
  if (__builtin_mul_overflow((size_t)d->batch, (size_t)d->heads, &t) ||
      __builtin_mul_overflow(t, (size_t)(d->lq > d->lk ? d->lq : d->lk), &t) ||
      __builtin_mul_overflow(t, (size_t)d->dh + 16, &t) || t > SIZE_MAX / 64)
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: the problem's size overflows size_t", fn);
  return WSK_OK;
}

typedef struct span_of {
  const void *p;
  size_t bytes;
  const char *name;
} span_of;

static wsk_status check_view(const char *fn, const char *name, const void *p, int64_t sb,
                             int64_t sl, int64_t sh, const wsk_attn_desc *d, size_t L,
                             span_of *out) {
  if (!p) return wsk__fail(WSK_ERR_NULL, "%s: %s is NULL", fn, name);
  size_t bytes = 0;
  WSK_TRY(span(fn, name, sb, sl, sh, (size_t)d->batch, L, (size_t)d->heads, (size_t)d->dh, &bytes));
  *out = (span_of){p, bytes, name};
  return WSK_OK;
}

/* Outputs must not overlap inputs or other outputs (views of one fused
 * dqkv may interleave: they are checked element-free by their strides). */
static wsk_status check_overlaps(const char *fn, const span_of *in, size_t nin,
                                 const span_of *out, size_t nout, int fused_out) {
  for (size_t i = 0; i < nout; i++) {
    for (size_t j = 0; j < nin; j++)
      if (overlaps(out[i].p, out[i].bytes, in[j].p, in[j].bytes))
        return wsk__fail(WSK_ERR_ARG, "%s: output %s overlaps input %s", fn, out[i].name,
                         in[j].name);
    if (!fused_out)
      for (size_t j = i + 1; j < nout; j++)
        if (overlaps(out[i].p, out[i].bytes, out[j].p, out[j].bytes))
          return wsk__fail(WSK_ERR_ARG, "%s: outputs %s and %s overlap", fn, out[i].name,
                           out[j].name);
  }
  return WSK_OK;
}

wsk_status wsk_attn_forward(const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                            wsk_attn_cview v, wsk_attn_view o, float *lse) {
  const char *fn = "wsk_attn_forward";
  WSK_TRY(check_desc(fn, d));
  span_of in[5], out[2];
  WSK_TRY(check_view(fn, "q", q.data, q.sb, q.sl, q.sh, d, (size_t)d->lq, &in[0]));
  WSK_TRY(check_view(fn, "k", k.data, k.sb, k.sl, k.sh, d, (size_t)d->lk, &in[1]));
  WSK_TRY(check_view(fn, "v", v.data, v.sb, v.sl, v.sh, d, (size_t)d->lk, &in[2]));
  WSK_TRY(check_view(fn, "o", o.data, o.sb, o.sl, o.sh, d, (size_t)d->lq, &out[0]));
  size_t nin = 3, nout = 1;
  if (d->key_mask) in[nin++] = (span_of){d->key_mask, (size_t)(d->batch * d->lk), "key_mask"};
  if (lse) out[nout++] = (span_of){lse, (size_t)(d->batch * d->heads * d->lq) * 4, "lse"};
  WSK_TRY(check_overlaps(fn, in, nin, out, nout, 0));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__attn_forward_with(wsk__gemm_table(), wsk__attn_table(), d, q, k, v, o, lse);
}

wsk_status wsk_attn_backward(const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                             wsk_attn_cview v, wsk_attn_cview o, const float *lse,
                             wsk_attn_cview do_, wsk_attn_view dq, wsk_attn_view dk,
                             wsk_attn_view dv) {
  const char *fn = "wsk_attn_backward";
  WSK_TRY(check_desc(fn, d));
  if (!lse) return wsk__fail(WSK_ERR_NULL, "%s: lse is NULL (save it in the forward)", fn);
  span_of in[7], out[3];
  WSK_TRY(check_view(fn, "q", q.data, q.sb, q.sl, q.sh, d, (size_t)d->lq, &in[0]));
  WSK_TRY(check_view(fn, "k", k.data, k.sb, k.sl, k.sh, d, (size_t)d->lk, &in[1]));
  WSK_TRY(check_view(fn, "v", v.data, v.sb, v.sl, v.sh, d, (size_t)d->lk, &in[2]));
  WSK_TRY(check_view(fn, "o", o.data, o.sb, o.sl, o.sh, d, (size_t)d->lq, &in[3]));
  WSK_TRY(check_view(fn, "do", do_.data, do_.sb, do_.sl, do_.sh, d, (size_t)d->lq, &in[4]));
  WSK_TRY(check_view(fn, "dq", dq.data, dq.sb, dq.sl, dq.sh, d, (size_t)d->lq, &out[0]));
  WSK_TRY(check_view(fn, "dk", dk.data, dk.sb, dk.sl, dk.sh, d, (size_t)d->lk, &out[1]));
  WSK_TRY(check_view(fn, "dv", dv.data, dv.sb, dv.sl, dv.sh, d, (size_t)d->lk, &out[2]));
  in[5] = (span_of){lse, (size_t)(d->batch * d->heads * d->lq) * 4, "lse"};
  size_t nin = 6;
  if (d->key_mask) in[nin++] = (span_of){d->key_mask, (size_t)(d->batch * d->lk), "key_mask"};
  /* dq, dk, dv may be interleaved views of one dqkv: then they share one
   * extent, and distinct elements are the caller's promise (the views made
   * by wsk_attn_qkv_grad_views are) */
  const int fused = dq.sl == dk.sl && dk.sl == dv.sl && dq.sb == dk.sb && dk.sb == dv.sb &&
                    dq.sl >= 3 * d->heads * d->dh;
  WSK_TRY(check_overlaps(fn, in, nin, out, 3, fused));
  WSK_TRY(wsk__dispatch_ready());
  return wsk__attn_backward_with(wsk__gemm_table(), wsk__attn_table(), d, q, k, v, o, lse, do_,
                                 dq, dk, dv);
}
