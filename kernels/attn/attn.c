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
  size_t qacc_floats; /* fused backward: lq x dpad per thread, after the rest */
} attn_ctx;

/* Scratch of one thread, carved from its slice. */
typedef struct attn_scratch {
  float *s, *dp;       /* QB x KB */
  float *kt, *vt;      /* K^T, V^T panels: KB x dh */
  float *kp, *vp;      /* K, V rows in panels over d: KB x dnr */
  float *qp, *dop;     /* Q, dO rows in panels over d: QB x dnr */
  float *acc0, *acc1;  /* KB x dpad (dK, dV) or QB x dpad (o, dq) */
  float *m, *l, *tmp;  /* QB, 16 QB, QB */
  float *kbias;        /* KB */
  size_t *lim;         /* QB */
  float *qacc;         /* fused backward: lq x dpad */
} attn_scratch;

static size_t scratch_floats(size_t dh, size_t nr, size_t dpad) {
  const size_t dnr = round_up(dh, nr);
  return 2 * QB * KB + 2 * KB * dh + 2 * KB * dnr + 2 * QB * dnr + 2 * KB * dpad + QB +
         16 * QB + QB + KB + QB /* lim, as floats' room */ + 64 /* alignment slack */;
}

static attn_scratch carve(const attn_ctx *c, int thread) {
  const size_t dnr = round_up(c->dh, c->nr);
  float *p = c->scratch + (size_t)thread * c->per_thread;
  attn_scratch s;
  s.s = p, p += QB * KB;
  s.dp = p, p += QB * KB;
  s.kt = p, p += KB * c->dh;
  s.vt = p, p += KB * c->dh;
  s.kp = p, p += KB * dnr;
  s.vp = p, p += KB * dnr;
  s.qp = p, p += QB * dnr;
  s.dop = p, p += QB * dnr;
  s.acc0 = p, p += KB * c->dpad;
  s.acc1 = p, p += KB * c->dpad;
  s.m = p, p += QB;
  s.l = p, p += 16 * QB;
  s.tmp = p, p += QB;
  s.kbias = p, p += KB;
  s.lim = (size_t *)(void *)p;
  s.qacc = c->qacc_floats
               ? c->scratch + c->per_thread * (size_t)wsk_threads_count() + (size_t)thread * c->qacc_floats
               : NULL;
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

/* The key mask of block [j0, j0 + n) as biases (0 kept, -1 removed);
 * returns NULL when no key mask is given, *none = 1 when every key of the
 * block is removed. */
static const float *block_bias(const attn_ctx *c, size_t b, size_t j0, size_t n, float *kbias,
                               int *none) {
  *none = 0;
  if (!c->key_mask) return NULL;
  const uint8_t *km = c->key_mask + b * c->lk + j0;
  int any = 0;
  for (size_t j = 0; j < KB; j++) {
    const int keep = j < n && km[j] != 0;
    kbias[j] = keep ? 0.0f : -1.0f;
    any |= keep;
  }
  *none = !any;
  return kbias;
}

/* K^T of the block into panels of nr keys: dst[pj][d][jj] = x[j0 + pj nr + jj][d]
 * (zero past n and for removed keys). */
static void pack_t(const attn_ctx *c, wsk_attn_cview x, size_t b, size_t h, size_t j0, size_t n,
                   const float *kbias, float *dst) {
  const size_t nr = c->nr, dh = c->dh;
  for (size_t pj = 0; pj * nr < n; pj++) {
    float *panel = dst + pj * dh * nr;
    for (size_t jj = 0; jj < nr; jj++) {
      const size_t j = pj * nr + jj;
      if (j >= n || (kbias && kbias[j] < 0.0f)) {
        for (size_t d = 0; d < dh; d++) panel[d * nr + jj] = 0.0f;
        continue;
      }
      const float *src = crow(x, b, h, j0 + j);
      for (size_t d = 0; d < dh; d++) panel[d * nr + jj] = src[d];
    }
  }
}

/* Rows [i0, i0 + n) of x into panels of nr head dimensions:
 * dst[pd][p][dd] = x[i0 + p][pd nr + dd] (zero past dh and for removed rows). */
static void pack_rows(const attn_ctx *c, wsk_attn_cview x, size_t b, size_t h, size_t i0,
                      size_t n, const float *kbias, float *dst) {
  const size_t nr = c->nr, dh = c->dh;
  for (size_t pd = 0; pd * nr < dh; pd++) {
    float *panel = dst + pd * n * nr;
    const size_t w = min_sz(nr, dh - pd * nr);
    for (size_t p = 0; p < n; p++) {
      float *d = panel + p * nr;
      if (kbias && kbias[p] < 0.0f) {
        memset(d, 0, nr * sizeof(float));
        continue;
      }
      memcpy(d, crow(x, b, h, i0 + p) + pd * nr, w * sizeof(float));
      for (size_t dd = w; dd < nr; dd++) d[dd] = 0.0f;
    }
  }
}

/* t[rows][ldt] (+)= A . B with A element (i, p) at a[i rsa + p csa] (i < rows,
 * p < kc) and B = cols columns in panels of nr (panel stride kc nr):
 * the gemm micro-kernel tile by tile; first: start from +0 (else continue
 * from t). */
static void mm(const attn_ctx *c, size_t rows, size_t cols, size_t kc, const float *a, size_t rsa,
               size_t csa, const float *bp, float *t, size_t ldt, int first) {
  static const wsk_gemm_epilogue ep = {1.0f, 0.0f, NULL, 0};
  const size_t mr = c->mr, nr = c->nr;
  for (size_t pj = 0; pj * nr < cols; pj++) {
    const size_t nre = min_sz(nr, cols - pj * nr);
    for (size_t ir = 0; ir < rows; ir += mr)
      c->gk->kernel(kc, a + ir * rsa, rsa, csa, bp + pj * kc * nr, min_sz(mr, rows - ir), nre,
                    t + ir * ldt + pj * nr, ldt, first, 0, &ep, t + ir * ldt + pj * nr, ldt, 0);
  }
}

/* ---- forward ------------------------------------------------------------------ */

static void fwd_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t nqb = (c->lq + QB - 1) / QB;
  const size_t bh = index / nqb, b = bh / c->H, h = bh % c->H;
  const size_t i0 = (index % nqb) * QB, rows = min_sz(QB, c->lq - i0);
  const wsk_attn_cview q = c->q;
  const ptrdiff_t ldq = (ptrdiff_t)q.sl;
  memset(s.acc0, 0, rows * c->dpad * sizeof(float));
  memset(s.l, 0, 16 * rows * sizeof(float));
  for (size_t r = 0; r < rows; r++) s.m[r] = -INFINITY;
  const size_t jend = key_end(c, i0, rows);
  for (size_t j0 = 0; j0 < jend; j0 += KB) {
    const size_t n = min_sz(KB, c->lk - j0);
    int none;
    const float *kb = block_bias(c, b, j0, n, s.kbias, &none);
    if (none) continue; /* nothing to add; skipping changes no bit */
    for (size_t r = 0; r < rows; r++) s.lim[r] = key_limit(c, i0 + r, j0, n);
    pack_t(c, c->k, b, h, j0, n, kb, s.kt);
    pack_rows(c, c->v, b, h, j0, n, kb, s.vp);
    mm(c, rows, n, c->dh, crow(q, b, h, i0), (size_t)ldq, 1, s.kt, s.s, KB, 1);
    c->ak->fwd_update(rows, s.lim, c->scale, kb, s.s, s.m, s.l, s.acc0, c->dpad, c->dpad, s.tmp);
    mm(c, rows, c->dh, n, s.s, KB, 1, s.vp, s.acc0, c->dpad, 0);
  }
  c->ak->fwd_finish(rows, s.l, s.m, s.acc0, c->dpad, c->dh, row(c->out, b, h, i0),
                    (size_t)c->out.sl, c->lse + (b * c->H + h) * c->lq + i0);
}

/* ---- backward ------------------------------------------------------------------ */

static void dsum_task(void *ctx, size_t index, int thread) {
  (void)thread;
  const attn_ctx *c = ctx;
  const size_t b = index / c->H, h = index % c->H;
  c->ak->rowdot(c->lq, c->dh, crow(c->dout, b, h, 0), (size_t)c->dout.sl, crow(c->o, b, h, 0),
                (size_t)c->o.sl, c->dsum + index * c->lq);
}

/* P and dS of queries [i0, i0 + rows) against key block [j0, j0 + n) into
 * s.s and s.dp (rows of KB). */
static void probs(const attn_ctx *c, attn_scratch *s, size_t b, size_t h, size_t i0, size_t rows,
                  size_t j0, size_t n, const float *kb) {
  const size_t bh = b * c->H + h;
  for (size_t r = 0; r < rows; r++) s->lim[r] = key_limit(c, i0 + r, j0, n);
  mm(c, rows, n, c->dh, crow(c->q, b, h, i0), (size_t)c->q.sl, 1, s->kt, s->s, KB, 1);
  mm(c, rows, n, c->dh, crow(c->dout, b, h, i0), (size_t)c->dout.sl, 1, s->vt, s->dp, KB, 1);
  c->ak->bwd_ds(rows, s->lim, c->scale, kb, c->lse + bh * c->lq + i0, c->dsum + bh * c->lq + i0,
                s->s, s->dp);
}

/* dK and dV of key block [j0, j0 + n); with qacc (fused), also adds the
 * block's share of dQ to qacc[lq][dpad]. */
static void key_block(const attn_ctx *c, attn_scratch *s, size_t b, size_t h, size_t j0,
                      float *qacc) {
  const size_t n = min_sz(KB, c->lk - j0), dpad = c->dpad;
  int none;
  const float *kb = block_bias(c, b, j0, n, s->kbias, &none);
  if (!none) {
    pack_t(c, c->k, b, h, j0, n, kb, s->kt);
    pack_t(c, c->v, b, h, j0, n, kb, s->vt);
    if (qacc) pack_rows(c, c->k, b, h, j0, n, kb, s->kp);
    memset(s->acc0, 0, n * dpad * sizeof(float));
    memset(s->acc1, 0, n * dpad * sizeof(float));
    /* the first query that sees key j0 */
    size_t istart = 0;
    if (c->causal && (ptrdiff_t)j0 - c->off > 0) istart = (size_t)((ptrdiff_t)j0 - c->off);
    for (size_t i0 = istart; i0 < c->lq; i0 += QB) {
      const size_t rows = min_sz(QB, c->lq - i0);
      probs(c, s, b, h, i0, rows, j0, n, kb);
      pack_rows(c, c->dout, b, h, i0, rows, NULL, s->dop);
      pack_rows(c, c->q, b, h, i0, rows, NULL, s->qp);
      /* dV += P^T dO, dK += dS^T Q: rows = keys, k loop over the queries */
      mm(c, n, c->dh, rows, s->s, 1, KB, s->dop, s->acc1, dpad, 0);
      mm(c, n, c->dh, rows, s->dp, 1, KB, s->qp, s->acc0, dpad, 0);
      if (qacc) mm(c, rows, c->dh, n, s->dp, KB, 1, s->kp, qacc + i0 * dpad, dpad, 0);
    }
  } else {
    memset(s->acc0, 0, n * dpad * sizeof(float));
    memset(s->acc1, 0, n * dpad * sizeof(float));
  }
  c->ak->scale_rows(n, c->dh, c->scale, s->acc0, dpad, row(c->dk, b, h, j0), (size_t)c->dk.sl);
  c->ak->scale_rows(n, c->dh, 1.0f, s->acc1, dpad, row(c->dv, b, h, j0), (size_t)c->dv.sl);
  if (kb && !none)
    for (size_t j = 0; j < n; j++)
      if (kb[j] < 0.0f) {
        memset(row(c->dk, b, h, j0 + j), 0, c->dh * sizeof(float));
        memset(row(c->dv, b, h, j0 + j), 0, c->dh * sizeof(float));
      }
}

static void fused_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t b = index / c->H, h = index % c->H;
  memset(s.qacc, 0, c->lq * c->dpad * sizeof(float));
  for (size_t j0 = 0; j0 < c->lk; j0 += KB) key_block(c, &s, b, h, j0, s.qacc);
  c->ak->scale_rows(c->lq, c->dh, c->scale, s.qacc, c->dpad, row(c->dq, b, h, 0),
                    (size_t)c->dq.sl);
}

static void kv_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t nkb = (c->lk + KB - 1) / KB;
  const size_t bh = index / nkb, b = bh / c->H, h = bh % c->H;
  key_block(c, &s, b, h, (index % nkb) * KB, NULL);
}

static void q_task(void *ctx, size_t index, int thread) {
  const attn_ctx *c = ctx;
  attn_scratch s = carve(c, thread);
  const size_t nqb = (c->lq + QB - 1) / QB;
  const size_t bh = index / nqb, b = bh / c->H, h = bh % c->H;
  const size_t i0 = (index % nqb) * QB, rows = min_sz(QB, c->lq - i0);
  memset(s.acc0, 0, rows * c->dpad * sizeof(float));
  const size_t jend = key_end(c, i0, rows);
  for (size_t j0 = 0; j0 < jend; j0 += KB) {
    const size_t n = min_sz(KB, c->lk - j0);
    int none;
    const float *kb = block_bias(c, b, j0, n, s.kbias, &none);
    if (none) continue;
    pack_t(c, c->k, b, h, j0, n, kb, s.kt);
    pack_t(c, c->v, b, h, j0, n, kb, s.vt);
    pack_rows(c, c->k, b, h, j0, n, kb, s.kp);
    probs(c, &s, b, h, i0, rows, j0, n, kb);
    mm(c, rows, c->dh, n, s.dp, KB, 1, s.kp, s.acc0, c->dpad, 0);
  }
  c->ak->scale_rows(rows, c->dh, c->scale, s.acc0, c->dpad, row(c->dq, b, h, i0),
                    (size_t)c->dq.sl);
}

/* ---- set-up ------------------------------------------------------------------- */

static int fused_backward(size_t pairs, int threads) {
  return threads == 1 || pairs >= 2 * (size_t)threads;
}

static wsk_status ctx_make(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                           const wsk_attn_desc *d, int backward, attn_ctx *c, float **mem) {
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
  c->off = (ptrdiff_t)d->lk - (ptrdiff_t)d->lq;
  c->causal = d->causal != 0;
  c->scale = d->scale;
  c->key_mask = d->key_mask;
  const int threads = wsk_threads_count();
  c->per_thread = round_up(scratch_floats(c->dh, c->nr, c->dpad), 16);
  const size_t pairs = c->B * c->H;
  c->qacc_floats = backward && fused_backward(pairs, threads) ? c->lq * c->dpad : 0;
  const size_t extra = backward ? 2 * pairs * c->lq : pairs * c->lq; /* dsum (+ lse) */
  const size_t total = (size_t)threads * (c->per_thread + c->qacc_floats) + extra;
  float *p = NULL;
  if (posix_memalign((void **)&p, 64, total * sizeof(float)) != 0 || !p)
    return wsk__fail(WSK_ERR_NOMEM, "wsk_attn: out of memory for %zu bytes of scratch",
                     total * sizeof(float));
  c->scratch = p;
  c->dsum = p + (size_t)threads * (c->per_thread + c->qacc_floats);
  *mem = p;
  return WSK_OK;
}

int64_t wsk_attn_workspace_bytes(const wsk_attn_desc *d, int backward) {
  if (!d || d->batch < 1 || d->heads < 1 || d->lq < 1 || d->lk < 1 || d->dh < 1) return 0;
  const wsk_gemm_ukernels *gk = wsk__dispatch_ready() == WSK_OK ? wsk__gemm_table() : NULL;
  const size_t nr = gk ? gk->nr : 32, dh = (size_t)d->dh, dpad = round_up(dh, 16);
  const int threads = wsk_threads_count();
  const size_t pairs = (size_t)d->batch * (size_t)d->heads, lq = (size_t)d->lq;
  const size_t per = round_up(scratch_floats(dh, nr, dpad), 16);
  const size_t qacc = backward && fused_backward(pairs, threads) ? lq * dpad : 0;
  const size_t extra = backward ? 2 * pairs * lq : pairs * lq;
  return (int64_t)(((size_t)threads * (per + qacc) + extra) * sizeof(float));
}

wsk_status wsk__attn_forward_with(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                                  const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                                  wsk_attn_cview v, wsk_attn_view o, float *lse) {
  attn_ctx c;
  float *mem = NULL;
  WSK_TRY(ctx_make(gk, ak, d, 0, &c, &mem));
  c.q = q, c.k = k, c.v = v, c.out = o;
  c.lse = lse ? lse : c.dsum; /* the scratch's row of lq per pair */
  const size_t nqb = (c.lq + QB - 1) / QB;
  const wsk_status rc = wsk_parallel_for(c.B * c.H * nqb, fwd_task, &c);
  free(mem);
  return rc;
}

wsk_status wsk__attn_backward_with(const wsk_gemm_ukernels *gk, const wsk_attn_ukernels *ak,
                                   const wsk_attn_desc *d, wsk_attn_cview q, wsk_attn_cview k,
                                   wsk_attn_cview v, wsk_attn_cview o, const float *lse,
                                   wsk_attn_cview do_, wsk_attn_view dq, wsk_attn_view dk,
                                   wsk_attn_view dv) {
  attn_ctx c;
  float *mem = NULL;
  WSK_TRY(ctx_make(gk, ak, d, 1, &c, &mem));
  c.q = q, c.k = k, c.v = v, c.o = o, c.dout = do_, c.dq = dq, c.dk = dk, c.dv = dv;
  c.lse = (float *)lse;
  const size_t pairs = c.B * c.H;
  wsk_status rc = wsk_parallel_for(pairs, dsum_task, &c);
  if (rc == WSK_OK) {
    if (c.qacc_floats) {
      rc = wsk_parallel_for(pairs, fused_task, &c);
    } else {
      const size_t nkb = (c.lk + KB - 1) / KB, nqb = (c.lq + QB - 1) / QB;
      rc = wsk_parallel_for(pairs * nkb, kv_task, &c);
      if (rc == WSK_OK) rc = wsk_parallel_for(pairs * nqb, q_task, &c);
    }
  }
  free(mem);
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
