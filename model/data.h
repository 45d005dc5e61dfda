/* model/data.h — FashionMNIST from IDX files (Debian dataset-fashion-mnist).
 *
 * The four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
 * t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) are read through
 * zlib, gzip-compressed or not. Pixels become pixel / 255 floats; images can
 * be shrunk from 28 x 28 to 16 x 16 or 8 x 8 by exact area averaging.
 */
#ifndef WSK_MODEL_DATA_H
#define WSK_MODEL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_dataset {
  size_t n;       /* images */
  int rows, cols; /* 28x28, 16x16 or 8x8 */
  float *x;       /* n * rows * cols floats, pixel / 255 (area-averaged when downsampled) */
  uint8_t *y;     /* n labels 0..9 */
} wsk_dataset;

/* $WSK_DATA_DIR when set and non-empty, else "/usr/share/datasets/fashion-mnist"
 * (Debian package dataset-fashion-mnist). */
const char *wsk_data_default_dir(void);

/* train != 0: train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz, else t10k-*.
 * dir NULL = default. size 28, 16 or 8 (area-average downsampling). limit 0 = all,
 * else the first `limit` images. Errors name the file and the Debian package.
 * On failure *out is left zeroed. */
wsk_status wsk_fmnist_load(const char *dir, int train, int size, size_t limit, wsk_dataset *out);

/* Frees the arrays of d and zeroes it; NULL and a zeroed dataset are fine. */
void wsk_dataset_free(wsk_dataset *d);

/* Area-average resampling of one sr x sc image to dr x dc (dr <= sr, dc <= sc):
 * each output pixel is the mean of the input area it covers, partly covered
 * input pixels weighted by the covered fraction. */
wsk_status wsk_downsample_area(const float *src, int sr, int sc, float *dst, int dr, int dc);

/* One IDX file (magic 0x00000800 | rank, unsigned bytes only), gzip or plain.
 * On success *data (malloc'd, caller frees) holds the first `limit` items
 * (limit 0 = all; an item is dims[1] * ... * dims[rank-1] bytes), *dims the
 * full dimensions as stored (dims[0] = items in the file), *rank the rank.
 * expect_rank > 0 requires that rank. The whole file is checked to hold exactly
 * the bytes its header promises, also when only `limit` items are kept. */
wsk_status wsk_idx_read(const char *path, int expect_rank, size_t limit, uint8_t **data,
                        uint32_t dims[4], int *rank);
/* Reads and validates only the header of an IDX file: dims[0..rank-1], rank. */
wsk_status wsk_idx_dims(const char *path, uint32_t dims[4], int *rank);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_DATA_H */
