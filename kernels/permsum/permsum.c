/* kernels/permsum/permsum.c — the public entry points of the permsum family:
 * argument checks, canonical plans, and the call through the dispatch table.
 * Built with baseline flags; the arithmetic lives in permsum-<isa>.c. */
#include <stdint.h>
#include <string.h>

#include "dispatch/error.h"
#include "kernels/ukernels.h"

void wsk_permsum_plan_make(int rank, const size_t *dims, size_t c, unsigned axes, int mean,
                           wsk_ps_plan *p) {
  /* segments after dropping size-1 axes and merging equal kinds */
  size_t size[WSK_PERMSUM_MAX_RANK];
  int red[WSK_PERMSUM_MAX_RANK];
  int nseg = 0;
  for (int a = 0; a < rank; a++) {
    if (dims[a] == 1) continue;
    const int r = (axes >> a) & 1u;
    if (nseg > 0 && red[nseg - 1] == r) {
      size[nseg - 1] *= dims[a];
    } else {
      size[nseg] = dims[a];
      red[nseg] = r;
      nseg++;
    }
  }
  /* right-aligned into [k0][r0][k1][r1][k2] */
  size_t slot[5] = {1, 1, 1, 1, 1};
  int pos = 4; /* slot 4 = k2 (kept); slots alternate kept/reduced leftwards */
  for (int i = nseg - 1; i >= 0; i--) {
    const int slot_reduced = (pos % 2) == 1; /* slots 1 and 3 are reduced */
    if (red[i] != slot_reduced) pos--;
    slot[pos] = size[i];
    pos--;
  }
  p->k0 = slot[0];
  p->r0 = slot[1];
  p->k1 = slot[2];
  p->r1 = slot[3];
  p->k2 = slot[4];
  p->c = c;
  p->count = p->r0 * p->r1;
  p->inner_reduced = p->k2 == 1 && p->r1 > 1;
  p->lanes = (p->inner_reduced && WSK_PERMSUM_LANES % c == 0) ? (int)(WSK_PERMSUM_LANES / c) : 1;
  p->mean = mean;
}

void wsk_permsum_plan_matrix(size_t n, size_t m, size_t c, unsigned axes, int mean,
                             wsk_ps_plan *p) {
  const size_t dims[2] = {n, m};
  wsk_permsum_plan_make(2, dims, c, axes, mean, p);
}

/* Checks a channels-last shape; on success *elems = prod(dims) * channels. */
static wsk_status check_shape(const char *fn, int rank, int min_rank, const int64_t *dims,
                              int64_t channels, size_t *udims, size_t *elems) {
  if (!dims) return wsk__fail(WSK_ERR_NULL, "%s: dims is NULL", fn);
  if (rank < min_rank || rank > WSK_PERMSUM_MAX_RANK)
    return wsk__fail(WSK_ERR_ARG, "%s: rank %d is outside [%d, %d]", fn, rank, min_rank,
                     WSK_PERMSUM_MAX_RANK);
  if (channels < 1)
    return wsk__fail(WSK_ERR_SIZE, "%s: channels = %lld, must be >= 1", fn, (long long)channels);
  size_t total = (size_t)channels;
  if ((uint64_t)channels > SIZE_MAX)
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: channels = %lld overflows size_t", fn,
                     (long long)channels);
  for (int a = 0; a < rank; a++) {
    if (dims[a] < 1)
      return wsk__fail(WSK_ERR_SIZE, "%s: dims[%d] = %lld, must be >= 1", fn, a,
                       (long long)dims[a]);
    if ((uint64_t)dims[a] > SIZE_MAX || __builtin_mul_overflow(total, (size_t)dims[a], &total))
      return wsk__fail(WSK_ERR_OVERFLOW, "%s: the tensor's element count overflows size_t", fn);
    udims[a] = (size_t)dims[a];
  }
  size_t bytes;
  if (__builtin_mul_overflow(total, sizeof(float), &bytes) || bytes > (size_t)PTRDIFF_MAX)
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: the tensor's byte size overflows", fn);
  *elems = total;
  return WSK_OK;
}

static int overlap(const float *a, size_t na, const float *b, size_t nb) {
  const uintptr_t a0 = (uintptr_t)a, a1 = a0 + na * sizeof(float);
  const uintptr_t b0 = (uintptr_t)b, b1 = b0 + nb * sizeof(float);
  return a0 < b1 && b0 < a1;
}

wsk_status wsk_permsum_kept_shape(int rank, const int64_t *dims, unsigned axes, int *out_rank,
                                  int64_t *out_dims) {
  if (!dims || !out_rank || !out_dims)
    return wsk__fail(WSK_ERR_NULL, "wsk_permsum_kept_shape: NULL argument");
  if (rank < 1 || rank > WSK_PERMSUM_MAX_RANK)
    return wsk__fail(WSK_ERR_ARG, "wsk_permsum_kept_shape: rank %d is outside [1, %d]", rank,
                     WSK_PERMSUM_MAX_RANK);
  if (axes >> rank)
    return wsk__fail(WSK_ERR_ARG, "wsk_permsum_kept_shape: axes mask 0x%x names an axis >= rank %d",
                     axes, rank);
  int k = 0;
  for (int a = 0; a < rank; a++)
    if (!((axes >> a) & 1u)) out_dims[k++] = dims[a];
  *out_rank = k;
  return WSK_OK;
}

/* Common checks of reduce and broadcast_add; fills the plan and the sizes of
 * the full (nfull) and kept (nkept) tensors. */
static wsk_status prepare(const char *fn, const float *full, const float *kept, int rank,
                          const int64_t *dims, int64_t channels, unsigned axes, int mean,
                          wsk_ps_plan *p, size_t *nfull, size_t *nkept) {
  if (!full || !kept) return wsk__fail(WSK_ERR_NULL, "%s: a tensor pointer is NULL", fn);
  size_t udims[WSK_PERMSUM_MAX_RANK];
  WSK_TRY(check_shape(fn, rank, 1, dims, channels, udims, nfull));
  if (axes >> rank)
    return wsk__fail(WSK_ERR_ARG, "%s: axes mask 0x%x names an axis >= rank %d", fn, axes, rank);
  *nkept = (size_t)channels;
  for (int a = 0; a < rank; a++)
    if (!((axes >> a) & 1u)) *nkept *= udims[a];
  if (overlap(full, *nfull, kept, *nkept))
    return wsk__fail(WSK_ERR_ARG, "%s: input and output overlap", fn);
  wsk_permsum_plan_make(rank, udims, (size_t)channels, axes, mean, p);
  return wsk__dispatch_ready();
}

wsk_status wsk_permsum_reduce(const float *x, int rank, const int64_t *dims, int64_t channels,
                              unsigned axes, wsk_reduce_op op, float *y) {
  if (op != WSK_REDUCE_SUM && op != WSK_REDUCE_MEAN)
    return wsk__fail(WSK_ERR_ARG, "wsk_permsum_reduce: unknown op %d", (int)op);
  wsk_ps_plan p;
  size_t nx, ny;
  WSK_TRY(prepare("wsk_permsum_reduce", x, y, rank, dims, channels, axes,
                  op == WSK_REDUCE_MEAN, &p, &nx, &ny));
  wsk__permsum_table()->reduce(&p, x, y);
  return WSK_OK;
}

wsk_status wsk_permsum_broadcast_add(const float *r, int rank, const int64_t *dims,
                                     int64_t channels, unsigned axes, float *y) {
  wsk_ps_plan p;
  size_t ny, nr;
  WSK_TRY(prepare("wsk_permsum_broadcast_add", y, r, rank, dims, channels, axes, 0, &p, &ny,
                  &nr));
  wsk__permsum_table()->bcast_add(&p, r, y);
  return WSK_OK;
}

wsk_status wsk_permsum_matrix(const float *x, int64_t n, int64_t m, int64_t channels,
                              unsigned axes, wsk_reduce_op op, float *y) {
  const char *fn = "wsk_permsum_matrix";
  if (axes != WSK_AXES_ROWS && axes != WSK_AXES_COLS && axes != WSK_AXES_TOTAL)
    return wsk__fail(WSK_ERR_ARG, "%s: axes must be WSK_AXES_ROWS, _COLS or _TOTAL, not 0x%x",
                     fn, axes);
  if (op != WSK_REDUCE_SUM && op != WSK_REDUCE_MEAN)
    return wsk__fail(WSK_ERR_ARG, "%s: unknown op %d", fn, (int)op);
  if (!x || !y) return wsk__fail(WSK_ERR_NULL, "%s: a tensor pointer is NULL", fn);
  const int64_t dims[2] = {n, m};
  size_t udims[2], nx;
  WSK_TRY(check_shape(fn, 2, 2, dims, channels, udims, &nx));
  const size_t c = (size_t)channels;
  const size_t ny = axes == WSK_AXES_ROWS ? udims[0] * c : axes == WSK_AXES_COLS ? udims[1] * c : c;
  if (overlap(x, nx, y, ny)) return wsk__fail(WSK_ERR_ARG, "%s: input and output overlap", fn);
  WSK_TRY(wsk__dispatch_ready());
  const wsk_permsum_ukernels *t = wsk__permsum_table();
  const int mean = op == WSK_REDUCE_MEAN;
  if (axes == WSK_AXES_ROWS)
    t->rows(udims[0], udims[1], c, mean, x, y);
  else if (axes == WSK_AXES_COLS)
    t->cols(udims[0], udims[1], c, mean, x, y);
  else
    t->total(udims[0], udims[1], c, mean, x, y);
  return WSK_OK;
}

static wsk_status prepare_diag(const char *fn, const float *full, const float *small, int rank,
                               const int64_t *dims, int64_t channels, int a, int b,
                               wsk_ps_diag_plan *p, size_t *nfull, size_t *nsmall) {
  if (!full || !small) return wsk__fail(WSK_ERR_NULL, "%s: a tensor pointer is NULL", fn);
  size_t udims[WSK_PERMSUM_MAX_RANK];
  WSK_TRY(check_shape(fn, rank, 2, dims, channels, udims, nfull));
  if (a < 0 || b >= rank || a >= b)
    return wsk__fail(WSK_ERR_ARG, "%s: axes (%d, %d) must satisfy 0 <= a < b < rank = %d", fn, a,
                     b, rank);
  if (udims[a] != udims[b])
    return wsk__fail(WSK_ERR_ARG,
                     "%s: axes %d and %d share a permutation but have sizes %zu and %zu", fn, a,
                     b, udims[a], udims[b]);
  p->p0 = p->p1 = p->p2 = 1;
  for (int i = 0; i < a; i++) p->p0 *= udims[i];
  for (int i = a + 1; i < b; i++) p->p1 *= udims[i];
  for (int i = b + 1; i < rank; i++) p->p2 *= udims[i];
  p->n = udims[a];
  p->c = (size_t)channels;
  *nsmall = *nfull / p->n;
  if (overlap(full, *nfull, small, *nsmall))
    return wsk__fail(WSK_ERR_ARG, "%s: input and output overlap", fn);
  return wsk__dispatch_ready();
}

wsk_status wsk_permsum_diag(const float *x, int rank, const int64_t *dims, int64_t channels,
                            int a, int b, float *y) {
  wsk_ps_diag_plan p;
  size_t nx, ny;
  WSK_TRY(prepare_diag("wsk_permsum_diag", x, y, rank, dims, channels, a, b, &p, &nx, &ny));
  wsk__permsum_table()->diag(&p, x, y);
  return WSK_OK;
}

wsk_status wsk_permsum_diag_add(const float *r, int rank, const int64_t *dims, int64_t channels,
                                int a, int b, float *y) {
  wsk_ps_diag_plan p;
  size_t ny, nr;
  WSK_TRY(prepare_diag("wsk_permsum_diag_add", y, r, rank, dims, channels, a, b, &p, &ny, &nr));
  wsk__permsum_table()->diag_add(&p, r, y);
  return WSK_OK;
}
