/* kernels/permsum/permsum-scalar.c — the reference implementation of the
 * permsum family: plain C, always built, the test oracle of the SIMD tiers
 * (permsum-avx2.c, permsum-avx512.c, permsum-neon.c, which share
 * kernels/simd/permsum-body.h) and the last fallback of the dispatch.
 *
 * It is written as directly as possible from the canonical order of
 * wsk/permsum.h: one output at a time, partial sums in an array, the halving
 * tree, one division for a mean.
 */
#include <string.h>

#include "kernels/ukernels.h"

#define LANES WSK_PERMSUM_LANES

static void reduce__scalar(const wsk_ps_plan *p, const float *x, float *y) {
  const size_t c = p->c;
  float acc[LANES]; /* acc[partial][channel]: P * C == 64 when P > 1, else C <= 64 */
  for (size_t a = 0; a < p->k0; a++) {
    for (size_t b = 0; b < p->k1; b++) {
      for (size_t d = 0; d < p->k2; d++) {
        float *yo = y + ((a * p->k1 + b) * p->k2 + d) * c;
        for (size_t ch0 = 0; ch0 < c; ch0 += LANES) {
          /* P > 1 implies C <= 64, so one block of channels holds them all */
          const size_t cw = c - ch0 < LANES ? c - ch0 : LANES;
          const size_t parts = (size_t)p->lanes;
          for (size_t i = 0; i < parts * cw; i++) acc[i] = -0.0f;
          for (size_t r = 0; r < p->r0; r++) {
            for (size_t s = 0; s < p->r1; s++) {
              const float *xi = x + ((((a * p->r0 + r) * p->k1 + b) * p->r1 + s) * p->k2 + d) * c + ch0;
              float *part = acc + (s % parts) * cw;
              for (size_t ch = 0; ch < cw; ch++) part[ch] += xi[ch];
            }
          }
          for (size_t h = parts / 2; h >= 1; h /= 2)
            for (size_t q = 0; q < h; q++)
              for (size_t ch = 0; ch < cw; ch++) acc[q * cw + ch] += acc[(q + h) * cw + ch];
          for (size_t ch = 0; ch < cw; ch++)
            yo[ch0 + ch] = p->mean ? acc[ch] / (float)p->count : acc[ch];
        }
      }
    }
  }
}

static void bcast_add__scalar(const wsk_ps_plan *p, const float *r, float *y) {
  const size_t c = p->c;
  for (size_t a = 0; a < p->k0; a++)
    for (size_t i = 0; i < p->r0; i++)
      for (size_t b = 0; b < p->k1; b++)
        for (size_t s = 0; s < p->r1; s++)
          for (size_t d = 0; d < p->k2; d++) {
            float *yi = y + ((((a * p->r0 + i) * p->k1 + b) * p->r1 + s) * p->k2 + d) * c;
            const float *ri = r + ((a * p->k1 + b) * p->k2 + d) * c;
            for (size_t ch = 0; ch < c; ch++) yi[ch] += ri[ch];
          }
}

static void diag__scalar(const wsk_ps_diag_plan *p, const float *x, float *y) {
  const size_t row = p->p2 * p->c;
  for (size_t a = 0; a < p->p0; a++)
    for (size_t i = 0; i < p->n; i++)
      for (size_t b = 0; b < p->p1; b++) {
        const float *xi = x + (((a * p->n + i) * p->p1 + b) * p->n + i) * row;
        float *yi = y + ((a * p->n + i) * p->p1 + b) * row;
        for (size_t e = 0; e < row; e++) yi[e] = xi[e];
      }
}

static void diag_add__scalar(const wsk_ps_diag_plan *p, const float *r, float *y) {
  const size_t row = p->p2 * p->c;
  for (size_t a = 0; a < p->p0; a++)
    for (size_t i = 0; i < p->n; i++)
      for (size_t b = 0; b < p->p1; b++) {
        float *yi = y + (((a * p->n + i) * p->p1 + b) * p->n + i) * row;
        const float *ri = r + ((a * p->n + i) * p->p1 + b) * row;
        for (size_t e = 0; e < row; e++) yi[e] += ri[e];
      }
}

static void rows__scalar(size_t n, size_t m, size_t c, int mean, const float *x, float *y) {
  wsk_ps_plan p;
  wsk_permsum_plan_matrix(n, m, c, WSK_AXES_ROWS, mean, &p);
  reduce__scalar(&p, x, y);
}

static void cols__scalar(size_t n, size_t m, size_t c, int mean, const float *x, float *y) {
  wsk_ps_plan p;
  wsk_permsum_plan_matrix(n, m, c, WSK_AXES_COLS, mean, &p);
  reduce__scalar(&p, x, y);
}

static void total__scalar(size_t n, size_t m, size_t c, int mean, const float *x, float *y) {
  wsk_ps_plan p;
  wsk_permsum_plan_matrix(n, m, c, WSK_AXES_TOTAL, mean, &p);
  reduce__scalar(&p, x, y);
}

/* The reference is the definition: two separate means. */
static void rowcol__scalar(size_t n, size_t m, size_t c, const float *x, float *rows,
                           float *cols) {
  rows__scalar(n, m, c, 1, x, rows);
  cols__scalar(n, m, c, 1, x, cols);
}

const wsk_permsum_ukernels wsk_permsum_ukernels__scalar = {
    WSK_ISA_SCALAR, reduce__scalar, bcast_add__scalar, diag__scalar, diag_add__scalar,
    rows__scalar,   cols__scalar,   total__scalar,    rowcol__scalar,
};
