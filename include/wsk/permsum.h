/* wsk/permsum.h — permutation sums: reductions of a channels-last tensor over
 * the axes that permutations act on, diagonals of axes that share one
 * permutation, and the broadcasts and diagonal writes back.
 *
 * Tensors are fp32, dense, row-major and channels-last:
 *   x[i_0][i_1]...[i_{rank-1}][c],  1 <= rank <= WSK_PERMSUM_MAX_RANK,
 *   dims[a] >= 1, channels >= 1. The channel axis is never reduced.
 * Axis sets are bit masks: bit a (1u << a) selects axis a.
 *
 * Canonical summation order (the parity contract): every tier returns the
 * same bits because each output is summed in this one order.
 *   1. Drop axes of size 1 and merge neighbouring axes that are both reduced
 *      or both kept (this never changes the row-major order of elements).
 *   2. If the last remaining axis is reduced, an output's elements lie in
 *      contiguous runs along it. When C divides WSK_PERMSUM_LANES (64),
 *      element t of such a run (t counted along the merged last axis) goes to
 *      partial sum t mod P, with P = 64 / C. Otherwise P = 1.
 *   3. Each partial sum starts at -0.0f (the exact identity of IEEE addition)
 *      and adds its elements in row-major order of the reduced axes.
 *   4. The P partial sums are combined by the halving tree
 *      s[q] += s[q + h] for h = P/2, P/4, ..., 1 and q < h.
 *   5. A mean divides the sum by the number of elements reduced (one IEEE
 *      division, correctly rounded).
 * In memory this is a 64-lane "virtual vector" laid along a contiguous run:
 * four AVX-512 registers, eight AVX2 registers, sixteen NEON registers or 64
 * scalars, so that a long reduction keeps several independent add chains in
 * flight on every tier. When the last axis is kept, outputs are contiguous and
 * each is a plain sequential sum (P = 1), vectorized across outputs.
 *
 * Every function validates its arguments and returns WSK_OK or an error
 * (wsk/status.h) without touching the output.
 */
#ifndef WSK_PERMSUM_H
#define WSK_PERMSUM_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_PERMSUM_MAX_RANK 4
#define WSK_PERMSUM_LANES 64

typedef enum wsk_reduce_op {
  WSK_REDUCE_SUM = 0,
  WSK_REDUCE_MEAN = 1
} wsk_reduce_op;

/* Shape of the tensor that remains when the axes in `axes` are removed from
 * dims (kept axes in their order). Writes the kept rank to *out_rank and the
 * kept sizes to out_dims[0 .. *out_rank - 1]; a full reduction has rank 0
 * (just channels). */
wsk_status wsk_permsum_kept_shape(int rank, const int64_t *dims, unsigned axes, int *out_rank,
                                  int64_t *out_dims);

/* y = sum or mean of x over the axes in `axes` (axes == 0 copies x).
 * x: dims x channels; y: the kept shape x channels. x and y must not overlap. */
wsk_status wsk_permsum_reduce(const float *x, int rank, const int64_t *dims, int64_t channels,
                              unsigned axes, wsk_reduce_op op, float *y);

/* y += r broadcast along the axes in `axes`:
 *   y[i_0..i_{rank-1}][c] += r[kept indices][c].
 * y: dims x channels; r: the kept shape x channels. */
wsk_status wsk_permsum_broadcast_add(const float *r, int rank, const int64_t *dims,
                                     int64_t channels, unsigned axes, float *y);

/* y = the diagonal of axes a < b of x, which must have equal sizes (the axes
 * share one permutation): y[...i...(b removed)...][c] = x[...i...i...][c].
 * y has rank - 1 axes: dims without axis b. */
wsk_status wsk_permsum_diag(const float *x, int rank, const int64_t *dims, int64_t channels,
                            int a, int b, float *y);

/* Writes onto a diagonal, accumulating: y[...i...i...][c] += r[...i...][c],
 * the adjoint of wsk_permsum_diag. y: dims x channels (rank >= 2). */
wsk_status wsk_permsum_diag_add(const float *r, int rank, const int64_t *dims, int64_t channels,
                                int a, int b, float *y);

/* Fast paths of a weight matrix x[n][m][C] (the same bits as
 * wsk_permsum_reduce on rank 2):
 *   WSK_AXES_ROWS:  y[n][C], reduce over the input axis m (axis 1)
 *   WSK_AXES_COLS:  y[m][C], reduce over the output axis n (axis 0)
 *   WSK_AXES_TOTAL: y[C],    reduce over both. */
#define WSK_AXES_ROWS 2u
#define WSK_AXES_COLS 1u
#define WSK_AXES_TOTAL 3u
wsk_status wsk_permsum_matrix(const float *x, int64_t n, int64_t m, int64_t channels,
                              unsigned axes, wsk_reduce_op op, float *y);

#ifdef __cplusplus
}
#endif
#endif /* WSK_PERMSUM_H */
