/* kernels/eqpool/eqpool.c — the public entry points of the eqpool family:
 * argument checks, the packed layouts, and the NP-equivariant layer of
 * wsk/eqpool.h composed from the chosen tier's micro-kernels (mix, outer)
 * and permsum reductions. Built with baseline flags: the only arithmetic
 * done here is elementwise (a division per mean gradient, a sum of two),
 * which is exact IEEE on every tier, so the layer keeps the parity contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "kernels/ukernels.h"

#define MAXL WSK_EQPOOL_MAX_LAYERS

typedef struct eq_layout {
  int L;
  size_t n[MAXL + 1];
  size_t ci, co;
  size_t xoff[MAXL + 1][2], xsize; /* C_in space: W_i, b_i (index i = 1..L) */
  size_t yoff[MAXL + 1][2], ysize; /* C_out space */
  size_t poff[MAXL + 1][WSK_EQ_TERM_COUNT], prows[MAXL + 1][WSK_EQ_TERM_COUNT], psize;
} eq_layout;

static const char *const term_names[WSK_EQ_TERM_COUNT] = {
    "Wpt", "Wrow", "Wnext", "Wb", "Wcol", "Wprev", "Wbprev",
    "Wglob", "Wbias", "Bpt", "Brow", "Bnext", "Bglob", "Bbias"};

const char *wsk_eqpool_term_name(wsk_eqpool_term t) {
  return (unsigned)t < WSK_EQ_TERM_COUNT ? term_names[t] : "?";
}

static int mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static int add_ok(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

/* Packed space offsets for `c` channels; 0 on overflow. */
static int space_layout(const eq_layout *l, size_t c, size_t off[][2], size_t *size) {
  size_t at = 0;
  for (int i = 1; i <= l->L; i++) {
    size_t w, b;
    if (!mul_ok(l->n[i], l->n[i - 1], &w) || !mul_ok(w, c, &w) || !mul_ok(l->n[i], c, &b))
      return 0;
    off[i][0] = at;
    if (!add_ok(at, w, &at)) return 0;
    off[i][1] = at;
    if (!add_ok(at, b, &at)) return 0;
  }
  *size = at;
  return at <= (size_t)PTRDIFF_MAX / sizeof(float);
}

static size_t term_rows(const eq_layout *l, int i, int t) {
  const int L = l->L;
  switch (t) {
    case WSK_EQ_WNEXT:
    case WSK_EQ_BNEXT: return i < L ? l->ci : 0;
    case WSK_EQ_WPREV:
    case WSK_EQ_WBPREV: return i > 1 ? l->ci : 0;
    case WSK_EQ_WGLOB:
    case WSK_EQ_BGLOB: return 2 * (size_t)L * l->ci;
    case WSK_EQ_WBIAS:
    case WSK_EQ_BBIAS: return 1;
    default: return l->ci;
  }
}

static wsk_status layout_make(const char *fn, const wsk_eqpool_shape *s, eq_layout *l) {
  if (!s) return wsk__fail(WSK_ERR_NULL, "%s: shape is NULL", fn);
  if (s->layers < 1 || s->layers > MAXL)
    return wsk__fail(WSK_ERR_SIZE, "%s: layers = %d, must be in [1, %d]", fn, s->layers, MAXL);
  if (!s->n) return wsk__fail(WSK_ERR_NULL, "%s: shape->n is NULL", fn);
  if (s->c_in < 1 || s->c_out < 1)
    return wsk__fail(WSK_ERR_SIZE, "%s: channels c_in = %lld, c_out = %lld, must be >= 1", fn,
                     (long long)s->c_in, (long long)s->c_out);
  l->L = s->layers;
  for (int i = 0; i <= s->layers; i++) {
    if (s->n[i] < 1)
      return wsk__fail(WSK_ERR_SIZE, "%s: n[%d] = %lld neurons, must be >= 1", fn, i,
                       (long long)s->n[i]);
    if ((uint64_t)s->n[i] > SIZE_MAX / 2)
      return wsk__fail(WSK_ERR_OVERFLOW, "%s: n[%d] overflows size_t", fn, i);
    l->n[i] = (size_t)s->n[i];
  }
  if ((uint64_t)s->c_in > SIZE_MAX / 2 || (uint64_t)s->c_out > SIZE_MAX / 2)
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: channels overflow size_t", fn);
  l->ci = (size_t)s->c_in;
  l->co = (size_t)s->c_out;
  if (!space_layout(l, l->ci, l->xoff, &l->xsize) || !space_layout(l, l->co, l->yoff, &l->ysize))
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: the weight space's size overflows size_t", fn);
  size_t at = 0, glob;
  if (!mul_ok(2 * (size_t)l->L, l->ci, &glob))
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: parameter size overflows", fn);
  for (int i = 1; i <= l->L; i++)
    for (int t = 0; t < WSK_EQ_TERM_COUNT; t++) {
      size_t rows = term_rows(l, i, t), sz;
      l->poff[i][t] = at;
      l->prows[i][t] = rows;
      if (!mul_ok(rows, l->co, &sz) || !add_ok(at, sz, &at))
        return wsk__fail(WSK_ERR_OVERFLOW, "%s: parameter size overflows", fn);
    }
  l->psize = at;
  if (at > (size_t)PTRDIFF_MAX / sizeof(float))
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: parameter size overflows", fn);
  return WSK_OK;
}

wsk_status wsk_eqpool_space_size(const wsk_eqpool_shape *s, int64_t channels, size_t *count) {
  eq_layout l;
  if (!count) return wsk__fail(WSK_ERR_NULL, "wsk_eqpool_space_size: count is NULL");
  if (channels < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_eqpool_space_size: channels = %lld, must be >= 1",
                     (long long)channels);
  WSK_TRY(layout_make("wsk_eqpool_space_size", s, &l));
  size_t off[MAXL + 1][2];
  if ((uint64_t)channels > SIZE_MAX / 2 || !space_layout(&l, (size_t)channels, off, count))
    return wsk__fail(WSK_ERR_OVERFLOW, "wsk_eqpool_space_size: size overflows size_t");
  return WSK_OK;
}

wsk_status wsk_eqpool_space_offset(const wsk_eqpool_shape *s, int64_t channels, int layer,
                                   int which, size_t *offset) {
  eq_layout l;
  if (!offset) return wsk__fail(WSK_ERR_NULL, "wsk_eqpool_space_offset: offset is NULL");
  if (channels < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_eqpool_space_offset: channels = %lld, must be >= 1",
                     (long long)channels);
  WSK_TRY(layout_make("wsk_eqpool_space_offset", s, &l));
  if (layer < 1 || layer > l.L || (which != 0 && which != 1))
    return wsk__fail(WSK_ERR_ARG, "wsk_eqpool_space_offset: layer %d / which %d out of range",
                     layer, which);
  size_t off[MAXL + 1][2], size;
  if ((uint64_t)channels > SIZE_MAX / 2 || !space_layout(&l, (size_t)channels, off, &size))
    return wsk__fail(WSK_ERR_OVERFLOW, "wsk_eqpool_space_offset: size overflows size_t");
  *offset = off[layer][which];
  return WSK_OK;
}

wsk_status wsk_eqpool_param_count(const wsk_eqpool_shape *s, size_t *count) {
  eq_layout l;
  if (!count) return wsk__fail(WSK_ERR_NULL, "wsk_eqpool_param_count: count is NULL");
  WSK_TRY(layout_make("wsk_eqpool_param_count", s, &l));
  *count = l.psize;
  return WSK_OK;
}

wsk_status wsk_eqpool_param_offset(const wsk_eqpool_shape *s, int layer, wsk_eqpool_term t,
                                   size_t *offset, size_t *rows) {
  eq_layout l;
  if (!offset || !rows) return wsk__fail(WSK_ERR_NULL, "wsk_eqpool_param_offset: NULL output");
  WSK_TRY(layout_make("wsk_eqpool_param_offset", s, &l));
  if (layer < 1 || layer > l.L || (unsigned)t >= WSK_EQ_TERM_COUNT)
    return wsk__fail(WSK_ERR_ARG, "wsk_eqpool_param_offset: layer %d / term %d out of range",
                     layer, (int)t);
  *offset = l.poff[layer][t];
  *rows = l.prows[layer][t];
  return WSK_OK;
}

/* Pooled statistics of a C_in space: R_i, K_i (means) and g. */
typedef struct eq_stats {
  float *R[MAXL + 2], *K[MAXL + 2], *g;
} eq_stats;

static float *arena_take(float **at, size_t n) {
  float *p = *at;
  *at += n;
  return p;
}

static size_t stats_floats(const eq_layout *l) {
  size_t n = 2 * (size_t)l->L * l->ci;
  for (int i = 1; i <= l->L; i++) n += (l->n[i] + l->n[i - 1]) * l->ci;
  return n;
}

static void stats_compute(const eq_layout *l, const wsk_permsum_ukernels *ps, const float *x,
                          float **at, eq_stats *st) {
  const size_t c = l->ci;
  st->g = arena_take(at, 2 * (size_t)l->L * c);
  for (int i = 1; i <= l->L; i++) {
    const float *w = x + l->xoff[i][0], *b = x + l->xoff[i][1];
    st->R[i] = arena_take(at, l->n[i] * c);
    st->K[i] = arena_take(at, l->n[i - 1] * c);
    ps->rowcol(l->n[i], l->n[i - 1], c, w, st->R[i], st->K[i]);
    ps->total(l->n[i - 1], 1, c, 1, st->K[i], st->g + (size_t)(2 * (i - 1)) * c);
    ps->total(l->n[i], 1, c, 1, b, st->g + (size_t)(2 * (i - 1) + 1) * c);
  }
  st->R[0] = st->K[0] = NULL;
  st->R[l->L + 1] = st->K[l->L + 1] = NULL;
}

wsk_status wsk__eqpool_pool_with(const wsk_permsum_ukernels *ps, const wsk_eqpool_shape *s,
                                 const float *x, float *out, size_t *floats) {
  eq_layout l;
  WSK_TRY(layout_make("wsk__eqpool_pool_with", s, &l));
  *floats = stats_floats(&l);
  if (out) {
    float *at = out;
    eq_stats st;
    stats_compute(&l, ps, x, &at, &st);
  }
  return WSK_OK;
}

static const float *P(const eq_layout *l, const float *params, int i, int t) {
  return params + l->poff[i][t];
}

static wsk_status check_ptrs(const char *fn, const void *a, const void *b, const void *c) {
  if (!a || !b || !c) return wsk__fail(WSK_ERR_NULL, "%s: a required pointer is NULL", fn);
  return WSK_OK;
}

wsk_status wsk_eqpool_forward(const wsk_eqpool_shape *s, const float *params, const float *x,
                              float *y) {
  WSK_TRY(wsk__dispatch_ready());
  return wsk__eqpool_forward_with(wsk__permsum_table(), wsk__eqpool_table(), s, params, x, y);
}

wsk_status wsk__eqpool_forward_with(const wsk_permsum_ukernels *ps, const wsk_eqpool_ukernels *eq,
                                    const wsk_eqpool_shape *s, const float *params,
                                    const float *x, float *y) {
  const char *fn = "wsk_eqpool_forward";
  eq_layout l;
  WSK_TRY(layout_make(fn, s, &l));
  WSK_TRY(check_ptrs(fn, params, x, y));
  const size_t ci = l.ci, co = l.co, G = 2 * (size_t)l.L * ci;
  size_t nmax = 1;
  for (int i = 0; i <= l.L; i++) nmax = l.n[i] > nmax ? l.n[i] : nmax;
  float *arena = malloc((stats_floats(&l) + 2 * nmax * co + 2 * co) * sizeof(float));
  if (!arena) return wsk__fail(WSK_ERR_NOMEM, "%s: out of memory", fn);
  float *at = arena;
  eq_stats st;
  stats_compute(&l, ps, x, &at, &st);
  float *u = arena_take(&at, nmax * co), *v = arena_take(&at, nmax * co);
  float *z = arena_take(&at, co), *zb = arena_take(&at, co);
  for (int i = 1; i <= l.L; i++) {
    const size_t nj = l.n[i], nk = l.n[i - 1];
    const float *w = x + l.xoff[i][0], *b = x + l.xoff[i][1];
    float *yw = y + l.yoff[i][0], *yb = y + l.yoff[i][1];
    /* zW = g Wglob from Wbias; vW[k] = K Wcol, P Wprev, b_{i-1} Wbprev from zW */
    eq->mix(1, 1, G, co, st.g, G, P(&l, params, i, WSK_EQ_WGLOB), P(&l, params, i, WSK_EQ_WBIAS),
            NULL, 0, z, co);
    eq->mix(1, nk, ci, co, st.K[i], ci, P(&l, params, i, WSK_EQ_WCOL), z, NULL, 0, v, co);
    if (i > 1) {
      eq->mix(1, nk, ci, co, st.R[i - 1], ci, P(&l, params, i, WSK_EQ_WPREV), NULL, NULL, 1, v, co);
      eq->mix(1, nk, ci, co, x + l.xoff[i - 1][1], ci, P(&l, params, i, WSK_EQ_WBPREV), NULL, NULL,
              1, v, co);
    }
    /* uW[j] = R Wrow, N Wnext, b_i Wb from 0 */
    eq->mix(1, nj, ci, co, st.R[i], ci, P(&l, params, i, WSK_EQ_WROW), NULL, NULL, 0, u, co);
    if (i < l.L)
      eq->mix(1, nj, ci, co, st.K[i + 1], ci, P(&l, params, i, WSK_EQ_WNEXT), NULL, NULL, 1, u, co);
    eq->mix(1, nj, ci, co, b, ci, P(&l, params, i, WSK_EQ_WB), NULL, NULL, 1, u, co);
    /* W'[j][k] = W[j][k] Wpt from uW[j] + vW[k] */
    eq->mix(nj, nk, ci, co, w, ci, P(&l, params, i, WSK_EQ_WPT), u, v, 0, yw, co);
    /* b'[j] = b Bpt, R Brow, N Bnext from zB = g Bglob from Bbias */
    eq->mix(1, 1, G, co, st.g, G, P(&l, params, i, WSK_EQ_BGLOB), P(&l, params, i, WSK_EQ_BBIAS),
            NULL, 0, zb, co);
    eq->mix(1, nj, ci, co, b, ci, P(&l, params, i, WSK_EQ_BPT), zb, NULL, 0, yb, co);
    eq->mix(1, nj, ci, co, st.R[i], ci, P(&l, params, i, WSK_EQ_BROW), NULL, NULL, 1, yb, co);
    if (i < l.L)
      eq->mix(1, nj, ci, co, st.K[i + 1], ci, P(&l, params, i, WSK_EQ_BNEXT), NULL, NULL, 1, yb,
              co);
  }
  free(arena);
  return WSK_OK;
}

/* mt[o][r] = m[r][o] for an m of rows x co */
static void transpose(const float *m, size_t rows, size_t co, float *mt) {
  for (size_t r = 0; r < rows; r++)
    for (size_t o = 0; o < co; o++) mt[o * rows + r] = m[r * co + o];
}

/* One upstream term of an input gradient: y (accumulate or from u) +=
 * d[nk][co] . M^T, where M is term t of layer i. */
static void back_term(const eq_layout *l, const wsk_eqpool_ukernels *eq, const float *params,
                      int i, int t, size_t nk, const float *d, const float *u, int accumulate,
                      float *mt, float *y) {
  const size_t rows = l->prows[i][t];
  transpose(P(l, params, i, t), rows, l->co, mt);
  eq->mix(1, nk, l->co, rows, d, l->co, mt, u, NULL, accumulate, y, rows);
}

wsk_status wsk_eqpool_backward(const wsk_eqpool_shape *s, const float *params, const float *x,
                               const float *dy, float *dx, float *dparams) {
  WSK_TRY(wsk__dispatch_ready());
  return wsk__eqpool_backward_with(wsk__permsum_table(), wsk__eqpool_table(), s, params, x, dy,
                                   dx, dparams);
}

wsk_status wsk__eqpool_backward_with(const wsk_permsum_ukernels *ps,
                                     const wsk_eqpool_ukernels *eq, const wsk_eqpool_shape *s,
                                     const float *params, const float *x, const float *dy,
                                     float *dx, float *dparams) {
  const char *fn = "wsk_eqpool_backward";
  eq_layout l;
  WSK_TRY(layout_make(fn, s, &l));
  WSK_TRY(check_ptrs(fn, params, x, dy));
  if (!dx && !dparams) return wsk__fail(WSK_ERR_NULL, "%s: dx and dparams are both NULL", fn);
  const int L = l.L;
  const size_t ci = l.ci, co = l.co, G = 2 * (size_t)L * ci;
  size_t nsum = 0, nmax = 1;
  for (int i = 0; i <= L; i++) {
    nsum += l.n[i];
    nmax = l.n[i] > nmax ? l.n[i] : nmax;
  }
  /* stats; du, dv, dzW, dzB per layer; dR, dK per layer; dg; eR, eC; one transpose */
  const size_t need = stats_floats(&l) + 2 * nsum * co + 2 * (size_t)L * co + 2 * nsum * ci + G +
                      2 * nmax * ci + G * co;
  float *arena = malloc(need * sizeof(float));
  if (!arena) return wsk__fail(WSK_ERR_NOMEM, "%s: out of memory", fn);
  float *at = arena;
  eq_stats st;
  stats_compute(&l, ps, x, &at, &st);
  float *du[MAXL + 2] = {0}, *dv[MAXL + 2] = {0}, *dzw[MAXL + 1], *dzb[MAXL + 1];
  for (int i = 1; i <= L; i++) {
    const size_t nj = l.n[i], nk = l.n[i - 1];
    const float *D = dy + l.yoff[i][0], *E = dy + l.yoff[i][1];
    du[i] = arena_take(&at, nj * co);
    dv[i] = arena_take(&at, nk * co);
    dzw[i] = arena_take(&at, co);
    dzb[i] = arena_take(&at, co);
    ps->rows(nj, nk, co, 0, D, du[i]);
    ps->cols(nj, nk, co, 0, D, dv[i]);
    ps->total(nk, 1, co, 0, dv[i], dzw[i]);
    ps->total(nj, 1, co, 0, E, dzb[i]);
  }
  if (dparams) {
    memset(dparams, 0, l.psize * sizeof(float));
    for (int i = 1; i <= L; i++) {
      const size_t nj = l.n[i], nk = l.n[i - 1];
      const float *w = x + l.xoff[i][0], *b = x + l.xoff[i][1];
      const float *D = dy + l.yoff[i][0], *E = dy + l.yoff[i][1];
      float *dp = dparams;
#define GRAD(t) (dp + l.poff[i][t])
      eq->outer(nj * nk, ci, co, w, ci, D, co, GRAD(WSK_EQ_WPT));
      eq->outer(nj, ci, co, st.R[i], ci, du[i], co, GRAD(WSK_EQ_WROW));
      if (i < L) eq->outer(nj, ci, co, st.K[i + 1], ci, du[i], co, GRAD(WSK_EQ_WNEXT));
      eq->outer(nj, ci, co, b, ci, du[i], co, GRAD(WSK_EQ_WB));
      eq->outer(nk, ci, co, st.K[i], ci, dv[i], co, GRAD(WSK_EQ_WCOL));
      if (i > 1) {
        eq->outer(nk, ci, co, st.R[i - 1], ci, dv[i], co, GRAD(WSK_EQ_WPREV));
        eq->outer(nk, ci, co, x + l.xoff[i - 1][1], ci, dv[i], co, GRAD(WSK_EQ_WBPREV));
      }
      eq->outer(1, G, co, st.g, G, dzw[i], co, GRAD(WSK_EQ_WGLOB));
      memcpy(GRAD(WSK_EQ_WBIAS), dzw[i], co * sizeof(float));
      eq->outer(nj, ci, co, b, ci, E, co, GRAD(WSK_EQ_BPT));
      eq->outer(nj, ci, co, st.R[i], ci, E, co, GRAD(WSK_EQ_BROW));
      if (i < L) eq->outer(nj, ci, co, st.K[i + 1], ci, E, co, GRAD(WSK_EQ_BNEXT));
      eq->outer(1, G, co, st.g, G, dzb[i], co, GRAD(WSK_EQ_BGLOB));
      memcpy(GRAD(WSK_EQ_BBIAS), dzb[i], co * sizeof(float));
#undef GRAD
    }
  }
  if (dx) {
    float *dR[MAXL + 2] = {0}, *dK[MAXL + 2] = {0};
    for (int i = 1; i <= L; i++) {
      dR[i] = arena_take(&at, l.n[i] * ci);
      dK[i] = arena_take(&at, l.n[i - 1] * ci);
    }
    float *dg = arena_take(&at, G);
    float *eR = arena_take(&at, nmax * ci), *eC = arena_take(&at, nmax * ci);
    float *mt = arena_take(&at, G * co);
    /* dg = chain over layers of dzW Wglob^T, dzB Bglob^T */
    for (int i = 1; i <= L; i++) {
      back_term(&l, eq, params, i, WSK_EQ_WGLOB, 1, dzw[i], NULL, i > 1, mt, dg);
      back_term(&l, eq, params, i, WSK_EQ_BGLOB, 1, dzb[i], NULL, 1, mt, dg);
    }
    for (int i = 1; i <= L; i++) {
      const size_t nj = l.n[i], nk = l.n[i - 1];
      const float *E = dy + l.yoff[i][1];
      /* dR_i[j] = du_i Wrow^T, E_i Brow^T, dv_{i+1} Wprev_{i+1}^T */
      back_term(&l, eq, params, i, WSK_EQ_WROW, nj, du[i], NULL, 0, mt, dR[i]);
      back_term(&l, eq, params, i, WSK_EQ_BROW, nj, E, NULL, 1, mt, dR[i]);
      if (i < L) back_term(&l, eq, params, i + 1, WSK_EQ_WPREV, nj, dv[i + 1], NULL, 1, mt, dR[i]);
      /* dK_i[k] = dv_i Wcol^T, du_{i-1} Wnext_{i-1}^T, E_{i-1} Bnext_{i-1}^T */
      back_term(&l, eq, params, i, WSK_EQ_WCOL, nk, dv[i], NULL, 0, mt, dK[i]);
      if (i > 1) {
        back_term(&l, eq, params, i - 1, WSK_EQ_WNEXT, nk, du[i - 1], NULL, 1, mt, dK[i]);
        back_term(&l, eq, params, i - 1, WSK_EQ_BNEXT, nk, dy + l.yoff[i - 1][1], NULL, 1, mt,
                  dK[i]);
      }
    }
    for (int i = 1; i <= L; i++) {
      const size_t nj = l.n[i], nk = l.n[i - 1];
      const float *D = dy + l.yoff[i][0], *E = dy + l.yoff[i][1];
      float *dw = dx + l.xoff[i][0], *db = dx + l.xoff[i][1];
      /* db_i[j] = E Bpt^T, du Wb^T, dv_{i+1} Wbprev_{i+1}^T from dg(b_i) / n_i */
      const float *dgw = dg + (size_t)(2 * (i - 1)) * ci, *dgb = dgw + ci;
      for (size_t c = 0; c < ci; c++) eC[c] = dgb[c] / (float)nj;
      back_term(&l, eq, params, i, WSK_EQ_BPT, nj, E, eC, 0, mt, db);
      back_term(&l, eq, params, i, WSK_EQ_WB, nj, du[i], NULL, 1, mt, db);
      if (i < L) back_term(&l, eq, params, i + 1, WSK_EQ_WBPREV, nj, dv[i + 1], NULL, 1, mt, db);
      /* dW_i[j][k] = D[j][k] Wpt^T from eR[j] + eC[k] */
      for (size_t j = 0; j < nj * ci; j++) eR[j] = dR[i][j] / (float)nk;
      /* W[*][*] = mean_k K[k]: its gradient joins K's, then K = mean_j W */
      for (size_t k = 0; k < nk; k++)
        for (size_t c = 0; c < ci; c++)
          eC[k * ci + c] = (dK[i][k * ci + c] + dgw[c] / (float)nk) / (float)nj;
      transpose(P(&l, params, i, WSK_EQ_WPT), ci, co, mt);
      eq->mix(nj, nk, co, ci, D, co, mt, eR, eC, 0, dw, ci);
    }
  }
  free(arena);
  return WSK_OK;
}

wsk_status wsk_eqpool_invariant(const wsk_eqpool_shape *s, const float *x, float *y) {
  WSK_TRY(wsk__dispatch_ready());
  return wsk__eqpool_invariant_with(wsk__permsum_table(), s, x, y);
}

wsk_status wsk__eqpool_invariant_with(const wsk_permsum_ukernels *ps, const wsk_eqpool_shape *s,
                                      const float *x, float *y) {
  const char *fn = "wsk_eqpool_invariant";
  eq_layout l;
  WSK_TRY(layout_make(fn, s, &l));
  if (!x || !y) return wsk__fail(WSK_ERR_NULL, "%s: a tensor pointer is NULL", fn);
  const size_t c = l.ci;
  size_t nmax = 1;
  for (int i = 0; i < l.L; i++) nmax = l.n[i] > nmax ? l.n[i] : nmax;
  float *K = malloc(nmax * c * sizeof(float));
  if (!K) return wsk__fail(WSK_ERR_NOMEM, "%s: out of memory", fn);
  for (int i = 1; i <= l.L; i++) { /* W_i[*][*] = mean over k of K_i[k], as the layer has it */
    ps->cols(l.n[i], l.n[i - 1], c, 1, x + l.xoff[i][0], K);
    ps->total(l.n[i - 1], 1, c, 1, K, y + (size_t)(2 * (i - 1)) * c);
    ps->total(l.n[i], 1, c, 1, x + l.xoff[i][1], y + (size_t)(2 * (i - 1) + 1) * c);
  }
  free(K);
  return WSK_OK;
}
