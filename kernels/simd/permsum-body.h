/* kernels/simd/permsum-body.h — the permsum family written once over the
 * 16-float vector v16, included by permsum-avx2.c, permsum-avx512.c and
 * permsum-neon.c after their vec16-<isa>.h. Its scalar twin, and the
 * definition of every result bit, is kernels/permsum/permsum-scalar.c.
 *
 * The includer defines WSK_BODY_ISA (the suffix, e.g. avx2) and
 * WSK_BODY_ISA_ENUM (e.g. WSK_ISA_AVX2).
 *
 * Layout: plans of kernels/ukernels.h, channels-last. Vectorization:
 *  - last axis kept: the outputs of a run are contiguous; each is a
 *    sequential sum, vectorized across outputs, accumulated in registers for
 *    runs of at most 64 floats and in an L1-sized block of y otherwise;
 *  - last axis reduced, C divides 64: the 64-lane virtual vector is four
 *    v16 laid along the contiguous run (partial t mod P of channel c is lane
 *    (t mod P) * C + c), folded by the halving tree at the end;
 *  - last axis reduced, otherwise: sequential sums vectorized across channels.
 * Tails: a partial v16 is loaded with -0.0f in its unused lanes, which adds
 * nothing (x + -0.0f == x for every x), and stored with a lane mask.
 */
#include <string.h>

#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including permsum-body.h"
#endif

#define PS_CAT2(a, b) a##__##b
#define PS_CAT(a, b) PS_CAT2(a, b)
#define PS_FN(name) PS_CAT(name, WSK_BODY_ISA)
#define PS_TABLE PS_CAT(wsk_permsum_ukernels, WSK_BODY_ISA)

enum { PS_BLOCK = 2048 }; /* floats of y accumulated per pass (8 KiB, in L1) */
/* Inputs larger than this come from DRAM on most machines, where one
 * sequential stream reads fastest: the kernels that interleave several rows
 * to save work on cached data read one row at a time above it. Only the
 * speed depends on it, never a result. */
#define PS_STREAM_BYTES ((size_t)32 << 20)

/* acc[0..3] += the n <= 64 floats at x, lanes past n untouched */
static inline void PS_FN(acc64)(v16 *acc, const float *x, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) acc[i / 16] = v16_add(acc[i / 16], v16_loadu(x + i));
  if (i < n) acc[i / 16] = v16_add(acc[i / 16], v16_load_part(x + i, n - i, -0.0f));
}

/* stores the n <= 64 floats of acc (divided by div when div != 0) */
static inline void PS_FN(store64)(float *y, v16 *acc, size_t n, float div) {
  const v16 d = v16_set1(div);
  size_t i = 0;
  for (; i < n; i += 16) {
    v16 v = acc[i / 16];
    if (div != 0.0f) v = v16_div(v, d);
    if (i + 16 <= n)
      v16_storeu(y + i, v);
    else
      v16_store_part(y + i, v, n - i);
  }
}

/* y[0..n) op= x[0..n): add or (init) -0.0f + x */
static inline void PS_FN(add_run)(float *y, const float *x, size_t n, int init) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const v16 acc = init ? v16_set1(-0.0f) : v16_loadu(y + i);
    v16_storeu(y + i, v16_add(acc, v16_loadu(x + i)));
  }
  if (i < n) {
    const size_t m = n - i;
    const v16 acc = init ? v16_set1(-0.0f) : v16_load_part(y + i, m, -0.0f);
    v16_store_part(y + i, v16_add(acc, v16_load_part(x + i, m, -0.0f)), m);
  }
}

/* y[0..n) = (y or -0.0f when init) + xs[0] + xs[1] + ... (nr <= 4 rows, in order) */
static inline void PS_FN(add_rows)(float *y, const float *const *xs, size_t nr, size_t n,
                                   int init) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16 acc = init ? v16_set1(-0.0f) : v16_loadu(y + i);
    for (size_t t = 0; t < nr; t++) acc = v16_add(acc, v16_loadu(xs[t] + i));
    v16_storeu(y + i, acc);
  }
  if (i < n) {
    const size_t m = n - i;
    v16 acc = init ? v16_set1(-0.0f) : v16_load_part(y + i, m, -0.0f);
    for (size_t t = 0; t < nr; t++) acc = v16_add(acc, v16_load_part(xs[t] + i, m, -0.0f));
    v16_store_part(y + i, acc, m);
  }
}

static inline void PS_FN(div_run)(float *y, size_t n, float div) {
  const v16 d = v16_set1(div);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) v16_storeu(y + i, v16_div(v16_loadu(y + i), d));
  if (i < n) v16_store_part(y + i, v16_div(v16_load_part(y + i, n - i, 1.0f), d), n - i);
}

/* Folds the 64-lane virtual vector of a C-channel run (C divides 32) by the
 * halving tree and writes its C sums divided by div (1.0f for a sum is not
 * the same as no division, so div = 0 means "no division"). */
static inline void PS_FN(fold64)(v16 *acc, size_t c, float div, float *y) {
  acc[0] = v16_add(acc[0], acc[2]); /* h = 32 */
  acc[1] = v16_add(acc[1], acc[3]);
  if (c <= 16) {
    acc[0] = v16_fold(v16_add(acc[0], acc[1]), c); /* h = 16, then 8 .. c */
    const v16 v = div != 0.0f ? v16_div(acc[0], v16_set1(div)) : acc[0];
    if (c == 16)
      v16_storeu(y, v);
    else
      v16_store_part(y, v, c);
  } else {
    PS_FN(store64)(y, acc, 32, div);
  }
}

/* Last axis kept: y[a][b][run] = sum over (r, s) of x[a][r][b][s][run]. */
static void PS_FN(reduce_kept)(const wsk_ps_plan *p, const float *x, float *y) {
  const size_t run = p->k2 * p->c;
  const size_t sr = p->k1 * p->r1 * run, ss = run; /* strides of r and s in x */
  const float div = p->mean ? (float)p->count : 0.0f;
  for (size_t a = 0; a < p->k0; a++) {
    for (size_t b = 0; b < p->k1; b++) {
      const float *xb = x + (a * p->r0 * p->k1 + b) * p->r1 * run;
      float *yb = y + (a * p->k1 + b) * run;
      if (run <= 64) {
        v16 acc[4];
        for (int i = 0; i < 4; i++) acc[i] = v16_set1(-0.0f);
        for (size_t r = 0; r < p->r0; r++)
          for (size_t s = 0; s < p->r1; s++) PS_FN(acc64)(acc, xb + r * sr + s * ss, run);
        PS_FN(store64)(yb, acc, run, div);
        continue;
      }
      /* a block of y stays in L1 while the rows stream past it, four rows per
       * pass (each output still adds its rows one by one, in order); from
       * DRAM, whole rows one at a time: one sequential stream */
      const size_t count = p->r0 * p->r1;
      const int streaming = count * run * sizeof(float) > PS_STREAM_BYTES;
      const size_t group = streaming ? 1 : 4, block = streaming ? run : PS_BLOCK;
      for (size_t c0 = 0; c0 < run; c0 += block) {
        const size_t w = run - c0 < block ? run - c0 : block;
        for (size_t i = 0; i < count; i += group) {
          const float *xs[4];
          const size_t nr = count - i < group ? count - i : group;
          for (size_t t = 0; t < nr; t++)
            xs[t] = xb + ((i + t) / p->r1) * sr + ((i + t) % p->r1) * ss + c0;
          PS_FN(add_rows)(yb + c0, xs, nr, w, i == 0);
        }
        if (p->mean) PS_FN(div_run)(yb + c0, w, div);
      }
    }
  }
}

/* Last axis reduced, C divides 64: the 64-lane virtual vector. */
static void PS_FN(reduce_lanes)(const wsk_ps_plan *p, const float *x, float *y) {
  const size_t c = p->c, len = p->r1 * c;
  const size_t sr = p->k1 * len; /* stride of r in x */
  for (size_t a = 0; a < p->k0; a++) {
    for (size_t b = 0; b < p->k1; b++) {
      const float *xb = x + (a * p->r0 * p->k1 + b) * len;
      v16 acc[4];
      for (int i = 0; i < 4; i++) acc[i] = v16_set1(-0.0f);
      for (size_t r = 0; r < p->r0; r++) {
        const float *xs = xb + r * sr;
        size_t q = 0;
        for (; q + 64 <= len; q += 64) {
          acc[0] = v16_add(acc[0], v16_loadu(xs + q));
          acc[1] = v16_add(acc[1], v16_loadu(xs + q + 16));
          acc[2] = v16_add(acc[2], v16_loadu(xs + q + 32));
          acc[3] = v16_add(acc[3], v16_loadu(xs + q + 48));
        }
        if (q < len) PS_FN(acc64)(acc, xs + q, len - q);
      }
      PS_FN(fold64)(acc, c, p->mean ? (float)p->count : 0.0f, y + (a * p->k1 + b) * c);
    }
  }
}

/* Last axis reduced, C does not divide 64: sequential sums across channels. */
static void PS_FN(reduce_chan)(const wsk_ps_plan *p, const float *x, float *y) {
  const size_t c = p->c, len = p->r1 * c;
  const size_t sr = p->k1 * len;
  const float div = p->mean ? (float)p->count : 0.0f;
  for (size_t a = 0; a < p->k0; a++) {
    for (size_t b = 0; b < p->k1; b++) {
      const float *xb = x + (a * p->r0 * p->k1 + b) * len;
      float *yo = y + (a * p->k1 + b) * c;
      for (size_t c0 = 0; c0 < c; c0 += 64) {
        const size_t w = c - c0 < 64 ? c - c0 : 64;
        v16 acc[4];
        for (int i = 0; i < 4; i++) acc[i] = v16_set1(-0.0f);
        for (size_t r = 0; r < p->r0; r++)
          for (size_t s = 0; s < p->r1; s++) PS_FN(acc64)(acc, xb + r * sr + s * c + c0, w);
        PS_FN(store64)(yo + c0, acc, w, div);
      }
    }
  }
}

static void PS_FN(reduce)(const wsk_ps_plan *p, const float *x, float *y) {
  if (!p->inner_reduced)
    PS_FN(reduce_kept)(p, x, y);
  else if (p->lanes > 1)
    PS_FN(reduce_lanes)(p, x, y);
  else
    PS_FN(reduce_chan)(p, x, y);
}

static void PS_FN(bcast_add)(const wsk_ps_plan *p, const float *r, float *y) {
  const size_t c = p->c;
  if (!p->inner_reduced) {
    const size_t run = p->k2 * c;
    for (size_t a = 0; a < p->k0; a++)
      for (size_t i = 0; i < p->r0; i++)
        for (size_t b = 0; b < p->k1; b++) {
          const float *rb = r + (a * p->k1 + b) * run;
          float *yb = y + ((a * p->r0 + i) * p->k1 + b) * p->r1 * run;
          for (size_t s = 0; s < p->r1; s++) PS_FN(add_run)(yb + s * run, rb, run, 0);
        }
    return;
  }
  const size_t len = p->r1 * c;
  float pat[16];
  for (size_t a = 0; a < p->k0; a++)
    for (size_t b = 0; b < p->k1; b++) {
      const float *rb = r + (a * p->k1 + b) * c;
      const int tiled = 16 % c == 0; /* r repeats with period C inside a v16 */
      if (tiled)
        for (size_t l = 0; l < 16; l++) pat[l] = rb[l % c];
      for (size_t i = 0; i < p->r0; i++) {
        float *ys = y + ((a * p->r0 + i) * p->k1 + b) * len;
        if (tiled) {
          const v16 rv = v16_loadu(pat);
          size_t q = 0;
          for (; q + 16 <= len; q += 16) v16_storeu(ys + q, v16_add(v16_loadu(ys + q), rv));
          if (q < len)
            v16_store_part(ys + q, v16_add(v16_load_part(ys + q, len - q, 0.0f), rv), len - q);
        } else {
          for (size_t s = 0; s < p->r1; s++) PS_FN(add_run)(ys + s * c, rb, c, 0);
        }
      }
    }
}

static void PS_FN(diag)(const wsk_ps_diag_plan *p, const float *x, float *y) {
  const size_t row = p->p2 * p->c;
  for (size_t a = 0; a < p->p0; a++)
    for (size_t i = 0; i < p->n; i++)
      for (size_t b = 0; b < p->p1; b++)
        memcpy(y + ((a * p->n + i) * p->p1 + b) * row,
               x + (((a * p->n + i) * p->p1 + b) * p->n + i) * row, row * sizeof(float));
}

static void PS_FN(diag_add)(const wsk_ps_diag_plan *p, const float *r, float *y) {
  const size_t row = p->p2 * p->c;
  for (size_t a = 0; a < p->p0; a++)
    for (size_t i = 0; i < p->n; i++)
      for (size_t b = 0; b < p->p1; b++)
        PS_FN(add_run)(y + (((a * p->n + i) * p->p1 + b) * p->n + i) * row,
                       r + ((a * p->n + i) * p->p1 + b) * row, row, 0);
}

/* Weight-matrix fast paths: a two-axis plan built without the general
 * merging pass (rows: inner reduced; cols: inner kept; total: one run). */
static void PS_FN(rows)(size_t n, size_t m, size_t c, int mean, const float *x, float *y) {
  wsk_ps_plan p;
  wsk_permsum_plan_matrix(n, m, c, WSK_AXES_ROWS, mean, &p);
  PS_FN(reduce)(&p, x, y);
}

static void PS_FN(cols)(size_t n, size_t m, size_t c, int mean, const float *x, float *y) {
  wsk_ps_plan p;
  wsk_permsum_plan_matrix(n, m, c, WSK_AXES_COLS, mean, &p);
  PS_FN(reduce)(&p, x, y);
}

static void PS_FN(total)(size_t n, size_t m, size_t c, int mean, const float *x, float *y) {
  wsk_ps_plan p;
  wsk_permsum_plan_matrix(n, m, c, WSK_AXES_TOTAL, mean, &p);
  PS_FN(reduce)(&p, x, y);
}

/* One step of rowcol over NR consecutive rows starting at x (row stride len):
 * the 64-lane row partials r[t] take their row's chunks and each column sum
 * (from -0.0f when first) takes the rows' elements in order. */
#define PS_ROWCOL_PASS(NR)                                                                \
  static inline void PS_FN(rowcol_pass##NR)(const float *x, size_t stride, float *cols,    \
                                            size_t len, int first, v16 (*r)[4]) {         \
    for (size_t q = 0; q < len; q += 64)                                                  \
      for (int i = 0; i < 4; i++) {                                                       \
        const size_t o = q + 16 * (size_t)i;                                              \
        v16 col = first ? v16_set1(-0.0f) : v16_loadu(cols + o);                         \
        for (int t = 0; t < NR; t++) {                                                    \
          const v16 a = v16_loadu(x + (size_t)t * stride + o);                            \
          r[t][i] = v16_add(r[t][i], a);                                                  \
          col = v16_add(col, a);                                                          \
        }                                                                                 \
        v16_storeu(cols + o, col);                                                        \
      }                                                                                   \
  }
PS_ROWCOL_PASS(1)
PS_ROWCOL_PASS(2)
PS_ROWCOL_PASS(4)

/* Row and column means in one pass over x when every row starts a 64-lane
 * block (C divides 32, m*C a multiple of 64, n and m > 1); otherwise the two
 * kernels. Each output keeps its canonical order: a row's 64 lanes, and each
 * column's sequential sum over the rows in order.
 * Tiling: the columns are cut into L1-sized blocks; a group of up to 32 rows
 * crosses every block before the next group starts, its row partials parked
 * on the stack between blocks, so a block of column sums stays in L1 while
 * the rows stream past it; with enough registers up to four rows share one
 * read-modify-write of the column sums. Inputs beyond PS_STREAM_BYTES are
 * read as one sequential stream instead. */
enum { PS_ROWCOL_GROUP = 32 };
static void PS_FN(rowcol)(size_t n, size_t m, size_t c, const float *x, float *rows,
                          float *cols) {
  const size_t len = m * c;
  if (n < 2 || m < 2 || 32 % c != 0 || len % 64 != 0) {
    PS_FN(rows)(n, m, c, 1, x, rows);
    PS_FN(cols)(n, m, c, 1, x, cols);
    return;
  }
  /* rows per pass: as many as the register file holds (4 x 4 v16 of partials);
   * from DRAM, one row at a time and no column blocks: one sequential stream */
  const int streaming = n * len * sizeof(float) > PS_STREAM_BYTES;
  const size_t step = streaming ? 1 : V16_REGS >= 32 ? 4 : V16_REGS >= 16 ? 2 : 1;
  const size_t block = streaming ? len : PS_BLOCK;
  float parked[PS_ROWCOL_GROUP][64];
  for (size_t g0 = 0; g0 < n; g0 += PS_ROWCOL_GROUP) {
    const size_t g1 = n - g0 < PS_ROWCOL_GROUP ? n : g0 + PS_ROWCOL_GROUP;
    for (size_t c0 = 0; c0 < len; c0 += block) {
      const size_t w = len - c0 < block ? len - c0 : block; /* a multiple of 64 */
      for (size_t j = g0; j < g1;) {
        size_t nr = g1 - j < step ? g1 - j : step;
        if (nr == 3) nr = 2;
        v16 r[4][4];
        for (size_t t = 0; t < nr; t++)
          for (int i = 0; i < 4; i++)
            r[t][i] = c0 == 0 ? v16_set1(-0.0f) : v16_loadu(parked[j + t - g0] + 16 * i);
        const float *x0 = x + j * len + c0;
        const int first = j == 0;
        if (nr == 4)
          PS_FN(rowcol_pass4)(x0, len, cols + c0, w, first, r);
        else if (nr == 2)
          PS_FN(rowcol_pass2)(x0, len, cols + c0, w, first, r);
        else
          PS_FN(rowcol_pass1)(x0, len, cols + c0, w, first, r);
        for (size_t t = 0; t < nr; t++) {
          if (c0 + w < len) /* park the partials until the next block */
            for (int i = 0; i < 4; i++) v16_storeu(parked[j + t - g0] + 16 * i, r[t][i]);
          else
            PS_FN(fold64)(r[t], c, (float)m, rows + (j + t) * c);
        }
        j += nr;
      }
    }
  }
  PS_FN(div_run)(cols, len, (float)n);
}

const wsk_permsum_ukernels PS_TABLE = {
    WSK_BODY_ISA_ENUM, PS_FN(reduce), PS_FN(bcast_add), PS_FN(diag), PS_FN(diag_add),
    PS_FN(rows),       PS_FN(cols),   PS_FN(total),     PS_FN(rowcol),
};
