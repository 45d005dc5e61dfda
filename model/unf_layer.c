/* model/unf_layer.c — the UNF layer (Zhou, Finn, Harrison 2024, eq. 4 and
 * §3): y_o = bias_o + sum over the basis terms T of o of
 * broadcast_T(reduce_T(x_t) theta_T), forward and backward, over the basis of
 * model/unf_basis.c; the eqpool fast path for MLP specs; the invariant pool.
 *
 * How a term runs (the plan is made once, in wsk_unf_ws_create):
 *   reduce: the term's partition restricted to the input axes gives the
 *     input blocks; a block of several axes is read on its diagonal
 *     (wsk_permsum_diag, once per extra axis), a block that no output axis
 *     shares is averaged (wsk_permsum_reduce MEAN). The reduced tensor keeps
 *     one axis per carried block, in the order of the blocks' first input
 *     axes. Terms with the same reduction (same input tensor, same input
 *     blocks, same carried ones) share it: it is computed once per call,
 *     and from the result of a reduction that averages a subset of its axes
 *     when there is one (a mean of means: a smaller tensor is read).
 *   fuse: the reduced inputs of a fusion group's terms are reordered into the
 *     group's fed-block order (output block order) and laid side by side,
 *     A[P][n_terms * C_in], P = the product of the fed blocks' sizes; then
 *     G = A theta_group (wsk_gemm).
 *   broadcast: y_o += G along the output blocks no input axis feeds, written
 *     on the diagonal of output blocks of several axes. When every group of
 *     o has one axis per output block, one pass over y_o adds all groups'
 *     G in group order (fused_sum); else group by group
 *     (wsk_permsum_broadcast_add, or a loop for diagonal writes).
 * Backward runs the adjoints in reverse: dG = the sum of dy over the
 * broadcast axes (diagonal reads first), dtheta = A^T dG, dA = dG theta^T,
 * whose slices are reordered back and summed per reduction in term order,
 * then, children before parents, the mean's adjoint (broadcast of
 * dR / count onto the parent's adjoint, or onto dx) and the diagonal's
 * (wsk_permsum_diag_add) into dx. Every sum runs in one fixed order, so the
 * bits do not depend on the ISA tier or the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "model/unf.h"
#include "wsk/eqpool.h"
#include "wsk/gemm.h"
#include "wsk/permsum.h"

/* A chain of diagonal reads: step k takes the diagonal of axes (a[k], b[k])
 * of a tensor of shape dims[k] (rank[k] axes); dims[n] is the result's. */
typedef struct diag_chain {
  int n;
  int a[WSK_UNF_MAX_RANK], b[WSK_UNF_MAX_RANK];
  int rank[WSK_UNF_MAX_RANK + 1];
  int64_t dims[WSK_UNF_MAX_RANK + 1][WSK_UNF_MAX_RANK];
} diag_chain;

/* One distinct reduced input. */
typedef struct red_plan {
  int t;                       /* input tensor */
  int label[WSK_UNF_MAX_RANK]; /* input block of each input axis (by first appearance) */
  unsigned carried;            /* bit: input block carried to the output */
  int identity;                /* no diagonal, no mean: the input itself */
  diag_chain dc;
  unsigned mean; /* axes averaged, after the diagonals */
  int rank;      /* the reduced tensor: one axis per carried block */
  int64_t dims[WSK_UNF_MAX_RANK];
  size_t numel, count; /* its elements; elements averaged into each */
  size_t off;          /* in the reduction buffers (floats) */
  int parent;          /* -1: from the input tensor (diagonals, then the mean);
                          else the mean over pmask of reduction parent's result */
  unsigned pmask;
  size_t pcount; /* elements averaged in that step */
} red_plan;

/* A term: its reduction and where its fed blocks lie in it. */
typedef struct term_plan {
  int red;
  int64_t st[WSK_UNF_MAX_RANK]; /* stride (floats) of fed block f in the reduced tensor */
  int in_order;                 /* fed block f is reduced axis f */
} term_plan;

typedef struct group_plan {
  int o;
  size_t theta; /* params offset of the group's stacked theta */
  size_t k;     /* n_terms * C_in */
  int n_fed;
  int64_t fed[WSK_UNF_MAX_RANK]; /* sizes of the fed blocks, in order */
  size_t P;
  int direct;     /* A is the one term's reduced input itself (lda = C_in) */
  int simple;     /* every output block has one axis */
  unsigned bmask; /* (simple) axes broadcast along */
  int nob;
  int64_t bsize[WSK_UNF_MAX_RANK], ystride[WSK_UNF_MAX_RANK], gstride[WSK_UNF_MAX_RANK];
  size_t goff;    /* (fused outputs) offset of G in ws->gbuf */
  size_t ridx;    /* (fused outputs) offset in ws->ridx of G's offsets along a row */
  diag_chain gdc; /* backward: diagonal reads of dy_o */
  unsigned gsum;  /* then the sum over these axes */
} group_plan;

struct wsk_unf_ws {
  const wsk_unf_basis *basis;
  int64_t c_in, c_out;
  int fast;
  /* eqpool fast path */
  int64_t eq_n[WSK_UNF_MAX_TENSORS / 2 + 1];
  wsk_eqpool_shape eq;
  size_t n_rows, *map; /* generic row r (C_out floats) -> eqpool row */
  float *packed, *dpacked;
  /* generic path */
  int n_red;
  red_plan *red;
  int *order;                       /* reductions by number of averaged axes: parents first */
  int fused[WSK_UNF_MAX_TENSORS];   /* output tensor whose groups are all simple */
  int split[WSK_UNF_MAX_TENSORS];   /* (fused) rows of y_o: axes split.. merged */
  size_t rlen[WSK_UNF_MAX_TENSORS]; /* (fused) positions per row */
  int64_t *ridx; /* per fused group, rlen offsets (floats) into G of a row's positions */
  term_plan *tp;
  group_plan *gp;
  size_t red_floats;
  float *rbuf, *drbuf; /* reduced inputs and their adjoints */
  float *abuf, *gbuf, *dgbuf, *dabuf, *tmp0, *tmp1;
};

/* ---- small exact loops ----------------------------------------------------------- */

/* dst[p][0..C) (row stride ld) = src[sum_f idx_f st[f]][0..C) for the
 * positions p of dims[0..n) in row-major order. */
static void rows_gather(const float *src, int n, const int64_t *dims, const int64_t *st, size_t C,
                        float *dst, size_t ld) {
  if (n == 0) {
    memcpy(dst, src, C * sizeof(float));
    return;
  }
  int64_t idx[WSK_UNF_MAX_RANK] = {0};
  const int64_t last = dims[n - 1], ls = st[n - 1];
  for (;;) {
    int64_t off = 0;
    for (int f = 0; f < n - 1; f++) off += idx[f] * st[f];
    for (int64_t i = 0; i < last; i++, dst += ld)
      memcpy(dst, src + off + i * ls, C * sizeof(float));
    int f = n - 2;
    while (f >= 0 && ++idx[f] == dims[f]) idx[f--] = 0;
    if (f < 0) return;
  }
}

/* The adjoint of rows_gather, accumulating: dst[sum idx st][c] += src[p][c]. */
static void rows_scatter_add(const float *src, size_t ld, int n, const int64_t *dims,
                             const int64_t *st, size_t C, float *dst) {
  int64_t idx[WSK_UNF_MAX_RANK] = {0};
  const int64_t last = n ? dims[n - 1] : 1, ls = n ? st[n - 1] : 0;
  for (;;) {
    int64_t off = 0;
    for (int f = 0; f < n - 1; f++) off += idx[f] * st[f];
    for (int64_t i = 0; i < last; i++, src += ld) {
      float *d = dst + off + i * ls;
      for (size_t c = 0; c < C; c++) d[c] += src[c];
    }
    int f = n - 2;
    while (f >= 0 && ++idx[f] == dims[f]) idx[f--] = 0;
    if (f < 0) return;
  }
}

/* y[sum_b idx_b ystride[b]][c] += G[sum_b idx_b gstride[b]][c] over every
 * index tuple of the output blocks: broadcast (gstride 0) and diagonal
 * writes (ystride the sum of the block's axes' strides); each element of y
 * gets at most one addition. */
static void block_scatter_add(const group_plan *g, const float *G, size_t C, float *y) {
  int64_t idx[WSK_UNF_MAX_RANK] = {0};
  const int n = g->nob;
  const int64_t last = g->bsize[n - 1], lys = g->ystride[n - 1], lgs = g->gstride[n - 1];
  for (;;) {
    int64_t yo = 0, go = 0;
    for (int b = 0; b < n - 1; b++) yo += idx[b] * g->ystride[b], go += idx[b] * g->gstride[b];
    for (int64_t i = 0; i < last; i++) {
      float *d = y + yo + i * lys;
      const float *s = G + go + i * lgs;
      for (size_t c = 0; c < C; c++) d[c] += s[c];
    }
    int b = n - 2;
    while (b >= 0 && ++idx[b] == g->bsize[b]) idx[b--] = 0;
    if (b < 0) return;
  }
}

static int bits(unsigned m) {
  int n = 0;
  for (; m; m &= m - 1) n++;
  return n;
}

static size_t dims_numel(int rank, const int64_t *dims) {
  size_t n = 1;
  for (int a = 0; a < rank; a++) n *= (size_t)dims[a];
  return n;
}

/* Diagonal chain of the axis blocks label[0..rank) (labels by first
 * appearance) of a tensor of shape dims: each block's later axes are folded
 * onto its first. *first gets, for each remaining axis, its block. */
static void chain_make(int rank, const int64_t *dims, const int *label, diag_chain *dc,
                       int *blk_of_axis) {
  int cur[WSK_UNF_MAX_RANK], nc = rank;
  int64_t cd[WSK_UNF_MAX_RANK];
  for (int a = 0; a < rank; a++) cur[a] = a, cd[a] = dims[a];
  dc->n = 0;
  dc->rank[0] = rank;
  memcpy(dc->dims[0], dims, (size_t)rank * sizeof(int64_t));
  for (int a = 0; a < rank; a++) {
    int pa = -1;
    for (int p = 0; p < nc; p++)
      if (label[cur[p]] == label[a]) {
        pa = p;
        break;
      }
    if (cur[pa] == a) continue; /* a is its block's first axis */
    int pb = 0;
    while (cur[pb] != a) pb++;
    const int k = dc->n++;
    dc->a[k] = pa, dc->b[k] = pb;
    for (int p = pb; p + 1 < nc; p++) cur[p] = cur[p + 1], cd[p] = cd[p + 1];
    nc--;
    dc->rank[k + 1] = nc;
    memcpy(dc->dims[k + 1], cd, (size_t)nc * sizeof(int64_t));
  }
  for (int p = 0; p < nc; p++) blk_of_axis[p] = label[cur[p]];
}

/* Runs a diagonal chain from src (shape dc->dims[0]) and then the reduction
 * `mask` with op into dst; t0/t1 are scratch. src itself when there is
 * nothing to do (returned). */
static wsk_status chain_reduce(const diag_chain *dc, unsigned mask, wsk_reduce_op op,
                               const float *src, size_t C, float *dst, float *t0, float *t1) {
  const float *s = src;
  for (int k = 0; k < dc->n; k++) {
    float *d = (k == dc->n - 1 && !mask) ? dst : (s == t0 ? t1 : t0);
    WSK_TRY(wsk_permsum_diag(s, dc->rank[k], dc->dims[k], (int64_t)C, dc->a[k], dc->b[k], d));
    s = d;
  }
  if (mask)
    WSK_TRY(wsk_permsum_reduce(s, dc->rank[dc->n], dc->dims[dc->n], (int64_t)C, mask, op, dst));
  return WSK_OK;
}

/* ---- parameters -------------------------------------------------------------------- */

static size_t theta_offset(const wsk_unf_basis *b, int64_t c_in, int64_t c_out, int o) {
  size_t off = 0;
  for (int q = 0; q < o; q++) off += ((size_t)b->terms_of[q] * (size_t)c_in + 1) * (size_t)c_out;
  return off;
}

wsk_status wsk_unf_layer_make(const wsk_unf_basis *b, int64_t c_in, int64_t c_out, int generic,
                              wsk_unf_layer *out) {
  if (!b || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_layer_make: %s is NULL", !b ? "b" : "out");
  if (!b->terms || !b->groups || b->n_terms < 1)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_layer_make: the basis is not built");
  if (c_in < 1 || c_out < 1)
    return wsk__fail(WSK_ERR_SIZE,
                     "wsk_unf_layer_make: c_in = %lld, c_out = %lld (both must be >= 1)",
                     (long long)c_in, (long long)c_out);
  const uint64_t lim = (uint64_t)1 << 40;
  if ((uint64_t)c_in > lim / ((uint64_t)b->n_terms + 1) ||
      (uint64_t)c_out > lim / (((uint64_t)b->n_terms + 1) * (uint64_t)c_in) ||
      (uint64_t)(c_in > c_out ? c_in : c_out) > lim / ((uint64_t)b->spec.numel + 1))
    return wsk__fail(WSK_ERR_OVERFLOW, "wsk_unf_layer_make: c_in = %lld, c_out = %lld: too large",
                     (long long)c_in, (long long)c_out);
  memset(out, 0, sizeof *out);
  out->basis = b;
  out->c_in = c_in;
  out->c_out = c_out;
  out->n_params = theta_offset(b, c_in, c_out, b->spec.n_tensors);
  out->fast = !generic && wsk_unf_spec_is_mlp(&b->spec, NULL, NULL);
  return WSK_OK;
}

wsk_status wsk_unf_layer_param_offset(const wsk_unf_layer *l, int out_tensor, size_t *theta,
                                      size_t *bias) {
  if (!l || !l->basis)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_layer_param_offset: the layer is NULL");
  if (out_tensor < 0 || out_tensor >= l->basis->spec.n_tensors)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_layer_param_offset: tensor %d of %d", out_tensor,
                     l->basis->spec.n_tensors);
  const size_t th = theta_offset(l->basis, l->c_in, l->c_out, out_tensor);
  if (theta) *theta = th;
  if (bias)
    *bias = th + (size_t)l->basis->terms_of[out_tensor] * (size_t)l->c_in * (size_t)l->c_out;
  return WSK_OK;
}

wsk_status wsk_unf_layer_init(const wsk_unf_layer *l, wsk_rng *rng, float *params) {
  if (!l || !l->basis || !rng || !params)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_layer_init: %s is NULL",
                     !l || !l->basis ? "the layer"
                     : !rng          ? "rng"
                                     : "params");
  const wsk_unf_basis *b = l->basis;
  float *p = params;
  for (int o = 0; o < b->spec.n_tensors; o++) {
    /* theta ~ N(0, 1 / (C_in * terms of o)) */
    const float var = 1.0f / ((float)l->c_in * (float)b->terms_of[o]);
    const float sd = sqrtf(var);
    const size_t n = (size_t)b->terms_of[o] * (size_t)l->c_in * (size_t)l->c_out;
    for (size_t i = 0; i < n; i++) {
      const float z = wsk_rng_normal(rng);
      p[i] = z * sd;
    }
    p += n;
    for (int64_t c = 0; c < l->c_out; c++) p[c] = 0.0f;
    p += l->c_out;
  }
  return WSK_OK;
}

/* ---- the plan ------------------------------------------------------------------------- */

void wsk_unf_ws_free(wsk_unf_ws *ws) {
  if (!ws) return;
  free(ws->map);
  free(ws->packed);
  free(ws->dpacked);
  free(ws->red);
  free(ws->order);
  free(ws->ridx);
  free(ws->tp);
  free(ws->gp);
  free(ws->rbuf);
  free(ws->drbuf);
  free(ws->abuf);
  free(ws->gbuf);
  free(ws->dgbuf);
  free(ws->dabuf);
  free(ws->tmp0);
  free(ws->tmp1);
  free(ws);
}

/* The eqpool term and row (in rows of C_out floats) where generic term tm's
 * first theta row lies. */
static wsk_status fast_row(const wsk_unf_ws *ws, const wsk_unf_term *tm, size_t *row) {
  const wsk_unf_spec *s = &ws->basis->spec;
  const int o = tm->out, t = tm->in, ro = s->t[o].rank, ri = s->t[t].rank;
  int cin[2] = {-1, -1};
  for (int a = 0; a < ro; a++)
    for (int q = 0; q < ri; q++)
      if (tm->block[ro + q] == tm->block[a]) cin[a] = q;
  const int layer = o / 2 + 1;
  int term = -1;
  size_t base = 0;
  if (cin[0] < 0 && cin[1] < 0) {
    term = o % 2 ? WSK_EQ_BGLOB : WSK_EQ_WGLOB;
    base = (size_t)t * (size_t)ws->c_in;
  } else if (o % 2 == 0) {
    if (t == o && cin[0] == 0 && cin[1] == 1)
      term = WSK_EQ_WPT;
    else if (t == o && cin[0] == 0 && cin[1] < 0)
      term = WSK_EQ_WROW;
    else if (t == o && cin[0] < 0 && cin[1] == 1)
      term = WSK_EQ_WCOL;
    else if (t == o + 1 && cin[0] == 0 && cin[1] < 0)
      term = WSK_EQ_WB;
    else if (t == o + 2 && cin[0] == 1 && cin[1] < 0)
      term = WSK_EQ_WNEXT;
    else if (t == o - 2 && cin[0] < 0 && cin[1] == 0)
      term = WSK_EQ_WPREV;
    else if (t == o - 1 && cin[0] < 0 && cin[1] == 0)
      term = WSK_EQ_WBPREV;
  } else {
    if (t == o && cin[0] == 0)
      term = WSK_EQ_BPT;
    else if (t == o - 1 && cin[0] == 0)
      term = WSK_EQ_BROW;
    else if (t == o + 1 && cin[0] == 1)
      term = WSK_EQ_BNEXT;
  }
  if (term < 0)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_ws_create: internal: no eqpool term for %s <- %s",
                     s->t[o].name, s->t[t].name);
  size_t off, rows;
  WSK_TRY(wsk_eqpool_param_offset(&ws->eq, layer, (wsk_eqpool_term)term, &off, &rows));
  if (rows < base + (size_t)ws->c_in)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_ws_create: internal: eqpool term %s has %zu rows",
                     wsk_eqpool_term_name((wsk_eqpool_term)term), rows);
  *row = off / (size_t)ws->c_out + base;
  return WSK_OK;
}

static wsk_status fast_plan(const wsk_unf_layer *l, wsk_unf_ws *ws) {
  const wsk_unf_basis *b = l->basis;
  int L = 0;
  wsk_unf_spec_is_mlp(&b->spec, &L, ws->eq_n);
  ws->eq = (wsk_eqpool_shape){L, ws->eq_n, l->c_in, l->c_out};
  size_t np;
  WSK_TRY(wsk_eqpool_param_count(&ws->eq, &np));
  if (np != l->n_params)
    return wsk__fail(WSK_ERR_ARG,
                     "wsk_unf_ws_create: internal: eqpool has %zu parameters, the basis %zu", np,
                     l->n_params);
  ws->n_rows = np / (size_t)l->c_out;
  ws->map = malloc(ws->n_rows * sizeof *ws->map);
  ws->packed = malloc(np * sizeof(float));
  ws->dpacked = malloc(np * sizeof(float));
  unsigned char *hit = calloc(ws->n_rows, 1);
  if (!ws->map || !ws->packed || !ws->dpacked || !hit) {
    free(hit);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_ws_create: out of memory");
  }
  size_t r = 0;
  wsk_status st = WSK_OK;
  for (int o = 0; o < b->spec.n_tensors && st == WSK_OK; o++) {
    for (int g = b->first_group[o]; g < b->first_group[o + 1] && st == WSK_OK; g++)
      for (int i = 0; i < b->groups[g].n_terms && st == WSK_OK; i++) {
        size_t row = 0;
        st = fast_row(ws, &b->terms[b->groups[g].first_term + i], &row);
        for (int64_t q = 0; q < l->c_in && st == WSK_OK; q++) ws->map[r++] = row + (size_t)q;
      }
    if (st != WSK_OK) break;
    size_t off, rows;
    st = wsk_eqpool_param_offset(&ws->eq, o / 2 + 1, o % 2 ? WSK_EQ_BBIAS : WSK_EQ_WBIAS, &off,
                                 &rows);
    if (st == WSK_OK) ws->map[r++] = off / (size_t)l->c_out;
  }
  for (size_t q = 0; q < r && st == WSK_OK; q++) {
    if (ws->map[q] >= ws->n_rows || hit[ws->map[q]])
      st = wsk__fail(WSK_ERR_ARG, "wsk_unf_ws_create: internal: eqpool row %zu mapped twice",
                     ws->map[q]);
    else
      hit[ws->map[q]] = 1;
  }
  if (st == WSK_OK && r != ws->n_rows)
    st = wsk__fail(WSK_ERR_ARG, "wsk_unf_ws_create: internal: %zu of %zu eqpool rows mapped", r,
                   ws->n_rows);
  free(hit);
  return st;
}

static wsk_status generic_plan(const wsk_unf_layer *l, wsk_unf_ws *ws) {
  const wsk_unf_basis *b = l->basis;
  const wsk_unf_spec *s = &b->spec;
  const size_t Ci = (size_t)l->c_in, Co = (size_t)l->c_out;
  ws->red = malloc((size_t)b->n_terms * sizeof *ws->red);
  ws->tp = malloc((size_t)b->n_terms * sizeof *ws->tp);
  ws->gp = malloc((size_t)b->n_groups * sizeof *ws->gp);
  if (!ws->red || !ws->tp || !ws->gp)
    return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_ws_create: out of memory");
  size_t max_numel = 1, max_a = 1, max_g = 1, max_da = 1;
  for (int i = 0; i < s->n_tensors; i++)
    max_numel = s->t[i].numel > max_numel ? s->t[i].numel : max_numel;
  /* reductions and terms */
  ws->n_red = 0;
  ws->red_floats = 0;
  for (int i = 0; i < b->n_terms; i++) {
    const wsk_unf_term *tm = &b->terms[i];
    const wsk_unf_tensor *to = &s->t[tm->out], *ti = &s->t[tm->in];
    const int ro = to->rank, ri = ti->rank;
    const wsk_unf_group *G = &b->groups[tm->group];
    red_plan r;
    memset(&r, 0, sizeof r);
    r.t = tm->in;
    int map[WSK_UNF_MAX_AXES], nl = 0;
    for (int q = 0; q < ri; q++) {
      const int blk = tm->block[ro + q];
      int k = 0;
      while (k < nl && map[k] != blk) k++;
      if (k == nl) map[nl++] = blk;
      r.label[q] = k;
      if (blk < G->n_out_blocks) r.carried |= 1u << k;
    }
    int k = 0;
    while (k < ws->n_red && !(ws->red[k].t == r.t && ws->red[k].carried == r.carried &&
                              memcmp(ws->red[k].label, r.label, sizeof r.label) == 0))
      k++;
    if (k == ws->n_red) {
      int blk_of[WSK_UNF_MAX_RANK];
      chain_make(ri, ti->shape, r.label, &r.dc, blk_of);
      const int nr = r.dc.rank[r.dc.n];
      r.count = 1;
      for (int p = 0; p < nr; p++) {
        if (r.carried >> blk_of[p] & 1u) {
          r.dims[r.rank++] = r.dc.dims[r.dc.n][p];
        } else {
          r.mean |= 1u << p;
          r.count *= (size_t)r.dc.dims[r.dc.n][p];
        }
      }
      r.numel = dims_numel(r.rank, r.dims);
      r.identity = r.dc.n == 0 && r.mean == 0;
      r.off = ws->red_floats;
      if (!r.identity) ws->red_floats += r.numel * Ci;
      ws->red[ws->n_red++] = r;
    }
    /* fed block f (output block order) <- reduced axis: the carried input
     * blocks are the reduced axes in label order */
    term_plan *tp = &ws->tp[i];
    memset(tp, 0, sizeof *tp);
    tp->red = k;
    const red_plan *R = &ws->red[k];
    int64_t rst[WSK_UNF_MAX_RANK];
    int64_t st = (int64_t)Ci;
    for (int p = R->rank - 1; p >= 0; p--) rst[p] = st, st *= R->dims[p];
    tp->in_order = 1;
    int f = 0;
    for (int ob = 0; ob < G->n_out_blocks; ob++) {
      if (!(G->fed >> ob & 1u)) continue;
      /* the input block holding block ob: its rank among carried blocks */
      int lab = -1;
      for (int q = 0; q < ri; q++)
        if (tm->block[ro + q] == ob) lab = r.label[q];
      int ax = 0;
      for (int c = 0; c < lab; c++) ax += R->carried >> c & 1u;
      tp->st[f] = rst[ax];
      tp->in_order &= ax == f;
      f++;
    }
  }
  /* a reduction that averages a superset of another's axes (same input, same
   * diagonals) averages that one's result over the rest: the mean over
   * S u T is the mean over T of the mean over S, and the smaller tensor is
   * read instead of the input. The parent averages the most axes. */
  ws->order = malloc((size_t)ws->n_red * sizeof *ws->order);
  if (!ws->order) return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_ws_create: out of memory");
  for (int k = 0; k < ws->n_red; k++) {
    red_plan *r = &ws->red[k];
    r->parent = -1;
    r->pmask = r->mean;
    r->pcount = r->count;
    int best = -1, best_n = -1;
    for (int j = 0; j < ws->n_red && !r->identity; j++) {
      const red_plan *q = &ws->red[j];
      if (j == k || q->identity || q->t != r->t ||
          memcmp(q->label, r->label, sizeof r->label) != 0 || (q->mean & ~r->mean) ||
          q->mean == r->mean)
        continue;
      if (bits(q->mean) > best_n) best = j, best_n = bits(q->mean);
    }
    if (best < 0) continue;
    const red_plan *q = &ws->red[best];
    const diag_chain *dc = &r->dc;
    r->parent = best;
    r->pmask = 0;
    r->pcount = 1;
    for (int p = 0, pos = 0; p < dc->rank[dc->n]; p++) {
      if (q->mean >> p & 1u) continue;
      if (r->mean >> p & 1u) r->pmask |= 1u << pos, r->pcount *= (size_t)dc->dims[dc->n][p];
      pos++;
    }
  }
  for (int k = 0, n = 0; k < ws->n_red; k++) {
    int at = n++;
    while (at > 0 && bits(ws->red[ws->order[at - 1]].mean) > bits(ws->red[k].mean)) {
      ws->order[at] = ws->order[at - 1];
      at--;
    }
    ws->order[at] = k;
  }
  /* groups */
  size_t fused_g = 0;
  for (int o = 0; o < s->n_tensors; o++) {
    ws->fused[o] = 1;
    size_t sum = 0;
    for (int g = b->first_group[o]; g < b->first_group[o + 1]; g++) {
      ws->fused[o] &= b->groups[g].n_out_blocks == s->t[o].rank;
      size_t P = 1;
      for (int a = 0; a < s->t[o].rank; a++)
        if (b->groups[g].fed >> b->groups[g].out_block[a] & 1u) P *= (size_t)s->t[o].shape[a];
      sum += P * Co;
    }
    if (ws->fused[o]) fused_g = sum > fused_g ? sum : fused_g;
  }
  for (int g = 0; g < b->n_groups; g++) {
    const wsk_unf_group *G = &b->groups[g];
    const wsk_unf_tensor *to = &s->t[G->out];
    group_plan *gp = &ws->gp[g];
    memset(gp, 0, sizeof *gp);
    gp->o = G->out;
    gp->theta = theta_offset(b, l->c_in, l->c_out, G->out) +
                (size_t)(G->first_term - b->groups[b->first_group[G->out]].first_term) * Ci * Co;
    gp->k = (size_t)G->n_terms * Ci;
    gp->nob = G->n_out_blocks;
    int64_t yst[WSK_UNF_MAX_RANK];
    int64_t st = (int64_t)Co;
    for (int a = to->rank - 1; a >= 0; a--) yst[a] = st, st *= to->shape[a];
    gp->P = 1;
    for (int a = 0; a < to->rank; a++) {
      const int ob = G->out_block[a];
      gp->bsize[ob] = to->shape[a];
      gp->ystride[ob] += yst[a];
    }
    for (int ob = 0; ob < gp->nob; ob++)
      if (G->fed >> ob & 1u) gp->fed[gp->n_fed++] = gp->bsize[ob], gp->P *= (size_t)gp->bsize[ob];
    int64_t gs = (int64_t)Co;
    for (int ob = gp->nob - 1; ob >= 0; ob--)
      if (G->fed >> ob & 1u) gp->gstride[ob] = gs, gs *= gp->bsize[ob];
    gp->simple = gp->nob == to->rank;
    for (int a = 0; a < to->rank; a++)
      if (!(G->fed >> G->out_block[a] & 1u)) gp->bmask |= 1u << a;
    gp->direct = G->n_terms == 1 && ws->tp[G->first_term].in_order;
    gp->goff = g == b->first_group[G->out] ? 0 : ws->gp[g - 1].goff + ws->gp[g - 1].P * Co;
    /* backward: diagonal reads of dy_o, then the sum over unfed blocks */
    int blk_of[WSK_UNF_MAX_RANK];
    chain_make(to->rank, to->shape, G->out_block, &gp->gdc, blk_of);
    for (int p = 0; p < gp->gdc.rank[gp->gdc.n]; p++)
      if (!(G->fed >> blk_of[p] & 1u)) gp->gsum |= 1u << p;
    if (!gp->direct) max_a = gp->P * gp->k > max_a ? gp->P * gp->k : max_a;
    max_g = gp->P * Co > max_g ? gp->P * Co : max_g;
    max_da = gp->P * Ci > max_da ? gp->P * Ci : max_da;
  }
  /* rows of fused outputs: the trailing axes of at most ~256 positions (at
   * least the last axis); each group's offsets along a row */
  size_t n_ridx = 0;
  for (int o = 0; o < s->n_tensors; o++) {
    if (!ws->fused[o]) continue;
    const wsk_unf_tensor *to = &s->t[o];
    int a = to->rank - 1;
    size_t len = (size_t)to->shape[a];
    while (a > 0 && len * (size_t)to->shape[a - 1] <= 256) len *= (size_t)to->shape[--a];
    ws->split[o] = a;
    ws->rlen[o] = len;
    for (int g = b->first_group[o]; g < b->first_group[o + 1]; g++)
      ws->gp[g].ridx = n_ridx, n_ridx += len;
  }
  ws->ridx = malloc((n_ridx ? n_ridx : 1) * sizeof *ws->ridx);
  if (!ws->ridx) return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_ws_create: out of memory");
  for (int o = 0; o < s->n_tensors; o++) {
    if (!ws->fused[o]) continue;
    const wsk_unf_tensor *to = &s->t[o];
    for (int g = b->first_group[o]; g < b->first_group[o + 1]; g++) {
      const group_plan *gp = &ws->gp[g];
      int64_t idx[WSK_UNF_MAX_RANK] = {0};
      for (size_t i = 0; i < ws->rlen[o]; i++) {
        int64_t off = 0;
        for (int a = ws->split[o]; a < to->rank; a++) off += idx[a] * gp->gstride[a];
        ws->ridx[gp->ridx + i] = off;
        for (int a = to->rank - 1; a >= ws->split[o]; a--) {
          if (++idx[a] < to->shape[a]) break;
          idx[a] = 0;
        }
      }
    }
  }
  const size_t cmax = Ci > Co ? Ci : Co;
  ws->rbuf = malloc((ws->red_floats ? ws->red_floats : 1) * sizeof(float));
  ws->drbuf = malloc((ws->red_floats ? ws->red_floats : 1) * sizeof(float));
  ws->abuf = malloc(max_a * sizeof(float));
  ws->gbuf = malloc((max_g > fused_g ? max_g : fused_g) * sizeof(float));
  ws->dgbuf = malloc(max_g * sizeof(float));
  ws->dabuf = malloc(max_da * sizeof(float));
  ws->tmp0 = malloc(max_numel * cmax * sizeof(float));
  ws->tmp1 = malloc(max_numel * cmax * sizeof(float));
  if (!ws->rbuf || !ws->drbuf || !ws->abuf || !ws->gbuf || !ws->dgbuf || !ws->dabuf || !ws->tmp0 ||
      !ws->tmp1)
    return wsk__fail(WSK_ERR_NOMEM,
                     "wsk_unf_ws_create: out of memory (%zu floats of reduced inputs)",
                     ws->red_floats);
  return WSK_OK;
}

wsk_status wsk_unf_ws_create(const wsk_unf_layer *l, wsk_unf_ws **out) {
  if (!l || !l->basis || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_ws_create: %s is NULL", !out ? "out" : "the layer");
  *out = NULL;
  if (l->c_in < 1 || l->c_out < 1 || !l->basis->terms)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_ws_create: the layer is not made (wsk_unf_layer_make)");
  wsk_unf_ws *ws = calloc(1, sizeof *ws);
  if (!ws) return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_ws_create: out of memory");
  ws->basis = l->basis;
  ws->c_in = l->c_in;
  ws->c_out = l->c_out;
  ws->fast = l->fast;
  wsk_status st = l->fast ? fast_plan(l, ws) : generic_plan(l, ws);
  if (st != WSK_OK) {
    wsk_unf_ws_free(ws);
    return st;
  }
  *out = ws;
  return WSK_OK;
}

static wsk_status check_call(const char *fn, const wsk_unf_layer *l, const wsk_unf_ws *ws) {
  if (ws->basis != l->basis || ws->c_in != l->c_in || ws->c_out != l->c_out || ws->fast != l->fast)
    return wsk__fail(WSK_ERR_ARG, "%s: the workspace was made for another layer", fn);
  return WSK_OK;
}

/* ---- forward ------------------------------------------------------------------------ */

/* out[P][C_out] (row stride C_out) = A[P][k] theta[k][C_out] + beta out.
 * With one output channel the product runs as out^T = theta^T A^T (m = 1,
 * n = P): gemm's register tiles are wide in n, and each element's chain of
 * fmaf over k is the same (fmaf(a, b, c) = fmaf(b, a, c)), so the bits are
 * too. */
static wsk_status product(size_t P, size_t k, size_t Co, const float *A, size_t lda,
                          const float *th, float beta, float *out) {
  if (Co == 1)
    return wsk_gemm(WSK_TRANS, WSK_TRANS, 1, (int64_t)P, (int64_t)k, 1.0f, th, 1, A, (int64_t)lda,
                    beta, out, (int64_t)P, NULL, WSK_ACT_NONE);
  return wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, (int64_t)P, (int64_t)Co, (int64_t)k, 1.0f, A,
                  (int64_t)lda, th, (int64_t)Co, beta, out, (int64_t)Co, NULL, WSK_ACT_NONE);
}

/* dtheta[k][C_out] = A^T dG (A: P x k, row stride lda; dG: P x C_out); with
 * one output channel as dtheta^T = dG^T A (the same chains, as above). */
static wsk_status product_dtheta(size_t P, size_t k, size_t Co, const float *A, size_t lda,
                                 const float *dG, float *dth) {
  if (Co == 1)
    return wsk_gemm(WSK_TRANS, WSK_NO_TRANS, 1, (int64_t)k, (int64_t)P, 1.0f, dG, 1, A,
                    (int64_t)lda, 0.0f, dth, (int64_t)k, NULL, WSK_ACT_NONE);
  return wsk_gemm(WSK_TRANS, WSK_NO_TRANS, (int64_t)k, (int64_t)Co, (int64_t)P, 1.0f, A,
                  (int64_t)lda, dG, (int64_t)Co, 0.0f, dth, (int64_t)Co, NULL, WSK_ACT_NONE);
}

/* Every distinct reduced input of x, into ws->rbuf. */
static wsk_status reduce_all(const wsk_unf_ws *ws, const float *x) {
  const wsk_unf_spec *s = &ws->basis->spec;
  const size_t Ci = (size_t)ws->c_in;
  for (int i = 0; i < ws->n_red; i++) {
    const red_plan *r = &ws->red[ws->order[i]];
    if (r->identity) continue;
    if (r->parent >= 0) {
      const red_plan *q = &ws->red[r->parent];
      WSK_TRY(wsk_permsum_reduce(ws->rbuf + q->off, q->rank, q->dims, (int64_t)Ci, r->pmask,
                                 WSK_REDUCE_MEAN, ws->rbuf + r->off));
    } else {
      WSK_TRY(chain_reduce(&r->dc, r->mean, WSK_REDUCE_MEAN, x + s->t[r->t].offset * Ci, Ci,
                           ws->rbuf + r->off, ws->tmp0, ws->tmp1));
    }
  }
  return WSK_OK;
}

static const float *red_ptr(const wsk_unf_ws *ws, int k, const float *x) {
  const red_plan *r = &ws->red[k];
  return r->identity ? x + ws->basis->spec.t[r->t].offset * (size_t)ws->c_in : ws->rbuf + r->off;
}

/* The group's A and its row stride. */
static const float *group_a(const wsk_unf_ws *ws, int g, const float *x, size_t *lda) {
  const wsk_unf_basis *b = ws->basis;
  const group_plan *gp = &ws->gp[g];
  const wsk_unf_group *G = &b->groups[g];
  const size_t Ci = (size_t)ws->c_in;
  if (gp->direct) {
    *lda = Ci;
    return red_ptr(ws, ws->tp[G->first_term].red, x);
  }
  for (int j = 0; j < G->n_terms; j++) {
    const term_plan *tp = &ws->tp[G->first_term + j];
    rows_gather(red_ptr(ws, tp->red, x), gp->n_fed, gp->fed, tp->st, Ci, ws->abuf + (size_t)j * Ci,
                gp->k);
  }
  *lda = gp->k;
  return ws->abuf;
}

static wsk_status fast_pack(const wsk_unf_ws *ws, const float *params, float *packed) {
  const size_t Co = (size_t)ws->c_out;
  for (size_t r = 0; r < ws->n_rows; r++)
    memcpy(packed + ws->map[r] * Co, params + r * Co, Co * sizeof(float));
  return WSK_OK;
}

/* y_o = bias_o + G_1 + G_2 + ... in group order, each G broadcast along the
 * axes its group does not feed (an output tensor whose groups are all
 * simple: one axis per output block, no diagonal). Row by row of y_o (its
 * trailing axes): the row starts at the bias and adds each group's values in
 * group order, so every element gets the same additions in the same order as
 * adding one group at a time, while the additions to different elements are
 * independent (no chain of latencies). */
static void fused_sum(const wsk_unf_ws *ws, int o, const float *bias, float *yo) {
  const wsk_unf_basis *b = ws->basis;
  const wsk_unf_tensor *to = &b->spec.t[o];
  const size_t Co = (size_t)ws->c_out, len = ws->rlen[o];
  const int g0 = b->first_group[o], g1 = b->first_group[o + 1], split = ws->split[o];
  int64_t idx[WSK_UNF_MAX_RANK] = {0};
  float *y = yo;
  for (;;) {
    for (size_t i = 0; i < len; i++) memcpy(y + i * Co, bias, Co * sizeof(float));
    for (int g = g0; g < g1; g++) {
      const group_plan *gp = &ws->gp[g];
      int64_t off = (int64_t)gp->goff;
      for (int a = 0; a < split; a++) off += idx[a] * gp->gstride[a];
      const float *G = ws->gbuf + off;
      const int64_t *ix = ws->ridx + gp->ridx;
      if (Co == 1) {
        for (size_t i = 0; i < len; i++) y[i] += G[ix[i]];
      } else {
        for (size_t i = 0; i < len; i++)
          for (size_t c = 0; c < Co; c++) y[i * Co + c] += G[ix[i] + (int64_t)c];
      }
    }
    y += len * Co;
    int a = split - 1;
    while (a >= 0 && ++idx[a] == to->shape[a]) idx[a--] = 0;
    if (a < 0) return;
  }
}

wsk_status wsk_unf_layer_forward(const wsk_unf_layer *l, const float *params, const float *x,
                                 float *y, wsk_unf_ws *ws) {
  if (!l || !l->basis || !params || !x || !y || !ws)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_layer_forward: %s is NULL",
                     !l || !l->basis ? "the layer"
                     : !params       ? "params"
                     : !x            ? "x"
                     : !y            ? "y"
                                     : "ws");
  WSK_TRY(check_call("wsk_unf_layer_forward", l, ws));
  if (ws->fast) {
    fast_pack(ws, params, ws->packed);
    return wsk_eqpool_forward(&ws->eq, ws->packed, x, y);
  }
  const wsk_unf_basis *b = l->basis;
  const wsk_unf_spec *s = &b->spec;
  const size_t Co = (size_t)l->c_out;
  WSK_TRY(reduce_all(ws, x));
  for (int o = 0; o < s->n_tensors; o++) {
    const wsk_unf_tensor *to = &s->t[o];
    float *yo = y + to->offset * Co;
    size_t bias;
    WSK_TRY(wsk_unf_layer_param_offset(l, o, NULL, &bias));
    if (ws->fused[o]) {
      for (int g = b->first_group[o]; g < b->first_group[o + 1]; g++) {
        const group_plan *gp = &ws->gp[g];
        size_t lda;
        const float *A = group_a(ws, g, x, &lda);
        WSK_TRY(product(gp->P, gp->k, Co, A, lda, params + gp->theta, 0.0f, ws->gbuf + gp->goff));
      }
      fused_sum(ws, o, params + bias, yo);
      continue;
    }
    for (size_t e = 0; e < to->numel; e++) memcpy(yo + e * Co, params + bias, Co * sizeof(float));
    for (int g = b->first_group[o]; g < b->first_group[o + 1]; g++) {
      const group_plan *gp = &ws->gp[g];
      size_t lda;
      const float *A = group_a(ws, g, x, &lda);
      const float *th = params + gp->theta;
      if (gp->simple && gp->bmask == 0) {
        /* every output axis fed: G has y_o's layout, added by the product
         * itself (fmaf(1, y, acc) = y + acc) */
        WSK_TRY(product(gp->P, gp->k, Co, A, lda, th, 1.0f, yo));
        continue;
      }
      WSK_TRY(product(gp->P, gp->k, Co, A, lda, th, 0.0f, ws->gbuf));
      if (gp->simple)
        WSK_TRY(
            wsk_permsum_broadcast_add(ws->gbuf, to->rank, to->shape, (int64_t)Co, gp->bmask, yo));
      else
        block_scatter_add(gp, ws->gbuf, Co, yo);
    }
  }
  return WSK_OK;
}

/* ---- backward -------------------------------------------------------------------------- */

/* dx_t += the adjoint of reduction r applied to dR. */
static wsk_status red_adjoint(const wsk_unf_ws *ws, const red_plan *r, const float *dR,
                              float *dxt) {
  const size_t Ci = (size_t)ws->c_in;
  const diag_chain *dc = &r->dc;
  const float *src = dR;
  if (r->mean) {
    /* the mean's adjoint: dR / count broadcast along the averaged axes */
    const float cnt = (float)r->count;
    const size_t n = r->numel * Ci;
    for (size_t i = 0; i < n; i++) ws->tmp0[i] = dR[i] / cnt;
    if (dc->n == 0)
      return wsk_permsum_broadcast_add(ws->tmp0, dc->rank[0], dc->dims[0], (int64_t)Ci, r->mean,
                                       dxt);
    const size_t ne = dims_numel(dc->rank[dc->n], dc->dims[dc->n]) * Ci;
    memset(ws->tmp1, 0, ne * sizeof(float));
    WSK_TRY(wsk_permsum_broadcast_add(ws->tmp0, dc->rank[dc->n], dc->dims[dc->n], (int64_t)Ci,
                                      r->mean, ws->tmp1));
    src = ws->tmp1;
  }
  /* the diagonal's adjoint: write back onto the diagonal, last read first */
  for (int k = dc->n - 1; k >= 0; k--) {
    float *dst = dxt;
    if (k > 0) {
      dst = src == ws->tmp0 ? ws->tmp1 : ws->tmp0;
      memset(dst, 0, dims_numel(dc->rank[k], dc->dims[k]) * Ci * sizeof(float));
    }
    WSK_TRY(
        wsk_permsum_diag_add(src, dc->rank[k], dc->dims[k], (int64_t)Ci, dc->a[k], dc->b[k], dst));
    src = dst;
  }
  return WSK_OK;
}

wsk_status wsk_unf_layer_backward(const wsk_unf_layer *l, const float *params, const float *x,
                                  const float *dy, float *dx, float *dparams, wsk_unf_ws *ws) {
  if (!l || !l->basis || !params || !x || !dy || !ws)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_layer_backward: %s is NULL",
                     !l || !l->basis ? "the layer"
                     : !params       ? "params"
                     : !x            ? "x"
                     : !dy           ? "dy"
                                     : "ws");
  WSK_TRY(check_call("wsk_unf_layer_backward", l, ws));
  if (!dx && !dparams) return WSK_OK;
  if (ws->fast) {
    fast_pack(ws, params, ws->packed);
    WSK_TRY(wsk_eqpool_backward(&ws->eq, ws->packed, x, dy, dx, dparams ? ws->dpacked : NULL));
    if (dparams) {
      const size_t Co = (size_t)l->c_out;
      for (size_t r = 0; r < ws->n_rows; r++)
        memcpy(dparams + r * Co, ws->dpacked + ws->map[r] * Co, Co * sizeof(float));
    }
    return WSK_OK;
  }
  const wsk_unf_basis *b = l->basis;
  const wsk_unf_spec *s = &b->spec;
  const size_t Ci = (size_t)l->c_in, Co = (size_t)l->c_out;
  if (dparams) WSK_TRY(reduce_all(ws, x));
  if (dx) {
    memset(dx, 0, s->numel * Ci * sizeof(float));
    memset(ws->drbuf, 0, ws->red_floats * sizeof(float));
  }
  for (int o = 0; o < s->n_tensors; o++) {
    const wsk_unf_tensor *to = &s->t[o];
    const float *dyo = dy + to->offset * Co;
    if (dparams) {
      size_t bias;
      WSK_TRY(wsk_unf_layer_param_offset(l, o, NULL, &bias));
      WSK_TRY(wsk_permsum_reduce(dyo, to->rank, to->shape, (int64_t)Co, (1u << to->rank) - 1u,
                                 WSK_REDUCE_SUM, dparams + bias));
    }
    for (int g = b->first_group[o]; g < b->first_group[o + 1]; g++) {
      const group_plan *gp = &ws->gp[g];
      const wsk_unf_group *G = &b->groups[g];
      /* dG: dy summed over the broadcast axes, read on the written diagonals */
      const float *dG = dyo;
      if (gp->gdc.n || gp->gsum) {
        WSK_TRY(chain_reduce(&gp->gdc, gp->gsum, WSK_REDUCE_SUM, dyo, Co, ws->dgbuf, ws->tmp0,
                             ws->tmp1));
        dG = ws->dgbuf;
      }
      const float *th = params + gp->theta;
      if (dparams) {
        size_t lda;
        const float *A = group_a(ws, g, x, &lda);
        WSK_TRY(product_dtheta(gp->P, gp->k, Co, A, lda, dG, dparams + gp->theta));
      }
      if (!dx) continue;
      /* dA_j = dG theta_j^T, added to its reduction's adjoint */
      for (int j = 0; j < G->n_terms; j++) {
        const term_plan *tp = &ws->tp[G->first_term + j];
        const red_plan *r = &ws->red[tp->red];
        float *dst = r->identity ? dx + s->t[r->t].offset * Ci : ws->drbuf + r->off;
        const float *thj = th + (size_t)j * Ci * Co;
        if (tp->in_order) {
          WSK_TRY(wsk_gemm(WSK_NO_TRANS, WSK_TRANS, (int64_t)gp->P, (int64_t)Ci, (int64_t)Co, 1.0f,
                           dG, (int64_t)Co, thj, (int64_t)Co, 1.0f, dst, (int64_t)Ci, NULL,
                           WSK_ACT_NONE));
        } else {
          WSK_TRY(wsk_gemm(WSK_NO_TRANS, WSK_TRANS, (int64_t)gp->P, (int64_t)Ci, (int64_t)Co, 1.0f,
                           dG, (int64_t)Co, thj, (int64_t)Co, 0.0f, ws->dabuf, (int64_t)Ci, NULL,
                           WSK_ACT_NONE));
          rows_scatter_add(ws->dabuf, Ci, gp->n_fed, gp->fed, tp->st, Ci, dst);
        }
      }
    }
  }
  /* the reductions' adjoints, children before their parents */
  for (int i = dx ? ws->n_red - 1 : -1; i >= 0; i--) {
    const red_plan *r = &ws->red[ws->order[i]];
    if (r->identity) continue;
    const float *dR = ws->drbuf + r->off;
    if (r->parent < 0) {
      WSK_TRY(red_adjoint(ws, r, dR, dx + s->t[r->t].offset * Ci));
      continue;
    }
    const red_plan *q = &ws->red[r->parent];
    const float cnt = (float)r->pcount;
    for (size_t e = 0; e < r->numel * Ci; e++) ws->tmp0[e] = dR[e] / cnt;
    WSK_TRY(wsk_permsum_broadcast_add(ws->tmp0, q->rank, q->dims, (int64_t)Ci, r->pmask,
                                      ws->drbuf + q->off));
  }
  return WSK_OK;
}

/* ---- the invariant pool ---------------------------------------------------------------- */

wsk_status wsk_unf_invariant_pool(const wsk_unf_spec *s, int64_t channels, const float *x,
                                  float *y) {
  if (!s || !x || !y)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_invariant_pool: %s is NULL", !s ? "s" : !x ? "x" : "y");
  if (channels < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_unf_invariant_pool: channels = %lld", (long long)channels);
  if (s->n_tensors < 1 || !s->numel)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_invariant_pool: spec \"%s\" is not finished", s->name);
  const size_t C = (size_t)channels;
  for (int i = 0; i < s->n_tensors; i++) {
    const wsk_unf_tensor *t = &s->t[i];
    WSK_TRY(wsk_permsum_reduce(x + t->offset * C, t->rank, t->shape, channels, (1u << t->rank) - 1u,
                               WSK_REDUCE_MEAN, y + (size_t)i * C));
  }
  return WSK_OK;
}

wsk_status wsk_unf_invariant_pool_backward(const wsk_unf_spec *s, int64_t channels, const float *dy,
                                           float *dx) {
  if (!s || !dy || !dx)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_invariant_pool_backward: %s is NULL",
                     !s    ? "s"
                     : !dy ? "dy"
                           : "dx");
  if (channels < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_unf_invariant_pool_backward: channels = %lld",
                     (long long)channels);
  if (s->n_tensors < 1 || !s->numel)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_invariant_pool_backward: spec \"%s\" is not finished",
                     s->name);
  const size_t C = (size_t)channels;
  for (int i = 0; i < s->n_tensors; i++) {
    const wsk_unf_tensor *t = &s->t[i];
    float *d = dx + t->offset * C;
    const float n = (float)t->numel;
    for (size_t c = 0; c < C; c++) d[c] = dy[(size_t)i * C + c] / n;
    for (size_t e = 1; e < t->numel; e++) memcpy(d + e * C, d, C * sizeof(float));
  }
  return WSK_OK;
}
