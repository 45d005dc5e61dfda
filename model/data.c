/* model/data.c — FashionMNIST (Xiao et al. 2017) from its IDX files, and the
 * exact area-average downsampling that gives the zoo its 16 x 16 and 8 x 8
 * inputs (see model/data.h).
 *
 * IDX format (LeCun's MNIST page): bytes 0 0, a data type (0x08 = unsigned
 * byte), the rank r; then r big-endian u32 dimensions; then the data, row
 * major. The Debian files are gzip'd; zlib reads plain files too.
 */
#include "model/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "dispatch/error.h"

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
/* Appended to every error about the data files. */
#define FMNIST_HINT                                                                           \
  " (FashionMNIST comes from the Debian package dataset-fashion-mnist: apt-get install "      \
  "dataset-fashion-mnist; another directory can be given with WSK_DATA_DIR or the commands' " \
  "--data DIR)"

const char *wsk_data_default_dir(void) {
  const char *d = getenv("WSK_DATA_DIR");
  return d && *d ? d : FMNIST_DEFAULT_DIR;
}

void wsk_dataset_free(wsk_dataset *d) {
  if (!d) return;
  free(d->x);
  free(d->y);
  memset(d, 0, sizeof *d);
}

/* ---- IDX ------------------------------------------------------------------------ */

/* The uncompressed size a file announces: for gzip (magic 1f 8b) the ISIZE of
 * its trailer (the size mod 2^32, RFC 1952 §2.3.1), else the file size.
 * Returns 0 when unknown. */
static int announced_size(const char *path, uint64_t *size, int *gz) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char m[2];
  int ok = 0;
  *gz = fread(m, 1, 2, f) == 2 && m[0] == 0x1f && m[1] == 0x8b;
  if (*gz) {
    unsigned char t[4];
    if (fseek(f, -4, SEEK_END) == 0 && fread(t, 1, 4, f) == 4) {
      *size = (uint64_t)t[0] | (uint64_t)t[1] << 8 | (uint64_t)t[2] << 16 | (uint64_t)t[3] << 24;
      ok = 1;
    }
  } else {
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
      *size = (uint64_t)st.st_size;
      ok = 1;
    }
  }
  fclose(f);
  return ok;
}

/* Reads up to n bytes; returns the count read, or -1 on corrupt data and -2
 * when the file cannot be read (message recorded). A short count means the
 * end of the data. */
static long long gz_read_all(gzFile g, void *buf, size_t n, const char *path) {
  unsigned char *p = buf;
  size_t got = 0;
  while (got < n) {
    size_t want = n - got;
    if (want > (1u << 30)) want = 1u << 30;
    int r = gzread(g, p + got, (unsigned)want);
    if (r < 0) {
      int errnum;
      const char *msg = gzerror(g, &errnum);
      if (errnum == Z_ERRNO) {
        wsk__fail(WSK_ERR_IO, "cannot read %s: %s" FMNIST_HINT, path, strerror(errno));
        return -2;
      }
      wsk__fail(WSK_ERR_FORMAT, "%s: corrupt gzip data (%s)" FMNIST_HINT, path, msg);
      return -1;
    }
    if (r == 0) {
      /* zlib reports a gzip stream cut short as an error only here */
      int errnum;
      const char *msg = gzerror(g, &errnum);
      if (errnum != Z_OK && errnum != Z_BUF_ERROR) {
        wsk__fail(WSK_ERR_FORMAT, "%s: corrupt gzip data (%s)" FMNIST_HINT, path, msg);
        return -1;
      }
      break;
    }
    got += (size_t)r;
  }
  return (long long)got;
}

/* Reads the rest of the stream and counts its bytes (< 0 as gz_read_all). */
static long long gz_count_rest(gzFile g, const char *path) {
  enum { CHUNK = 1 << 16 };
  unsigned char *scratch = malloc(CHUNK);
  if (!scratch) {
    wsk__fail(WSK_ERR_NOMEM, "out of memory reading %s", path);
    return -2;
  }
  long long total = 0;
  for (;;) {
    long long r = gz_read_all(g, scratch, CHUNK, path);
    if (r < 0) {
      total = r;
      break;
    }
    total += r;
    if (r < CHUNK) break;
  }
  free(scratch);
  return total;
}

/* Opens path and reads and validates the IDX header. */
static wsk_status idx_open(const char *path, int expect_rank, gzFile *out, uint32_t dims[4],
                           int *rank, uint64_t *items, uint64_t *item_bytes) {
  *out = NULL;
  errno = 0;
  gzFile g = gzopen(path, "rb");
  if (!g)
    return wsk__fail(WSK_ERR_IO, "cannot open %s: %s" FMNIST_HINT, path,
                     errno ? strerror(errno) : "out of memory");
  gzbuffer(g, 1u << 17);
  unsigned char h[4];
  wsk_status s = WSK_ERR_FORMAT;
  long long r = gz_read_all(g, h, 4, path);
  if (r < 0) {
    s = r == -2 ? WSK_ERR_IO : WSK_ERR_FORMAT;
    goto fail;
  }
  if (r < 4) {
    wsk__fail(WSK_ERR_FORMAT, "%s: truncated IDX header (%lld of 4 magic bytes)" FMNIST_HINT, path,
              r);
    goto fail;
  }
  if (h[0] != 0 || h[1] != 0 || h[3] < 1 || h[3] > 4) {
    wsk__fail(
        WSK_ERR_FORMAT,
        "%s: not an IDX file (bad magic %02x %02x %02x %02x; expected 00 00 08 rank)" FMNIST_HINT,
        path, h[0], h[1], h[2], h[3]);
    goto fail;
  }
  if (h[2] != 0x08) {
    wsk__fail(WSK_ERR_FORMAT,
              "%s: IDX data type 0x%02x; only unsigned bytes (0x08) are supported" FMNIST_HINT,
              path, h[2]);
    goto fail;
  }
  *rank = h[3];
  if (expect_rank > 0 && *rank != expect_rank) {
    wsk__fail(WSK_ERR_FORMAT, "%s: IDX rank %d, expected %d" FMNIST_HINT, path, *rank, expect_rank);
    goto fail;
  }
  unsigned char d[16];
  r = gz_read_all(g, d, 4 * (size_t)*rank, path);
  if (r < 0) {
    s = r == -2 ? WSK_ERR_IO : WSK_ERR_FORMAT;
    goto fail;
  }
  if (r < 4 * *rank) {
    wsk__fail(WSK_ERR_FORMAT, "%s: truncated IDX header (%lld of %d dimension bytes)" FMNIST_HINT,
              path, r, 4 * *rank);
    goto fail;
  }
  *item_bytes = 1;
  for (int k = 0; k < 4; k++) dims[k] = 0;
  for (int k = 0; k < *rank; k++) {
    const unsigned char *b = d + 4 * k;
    dims[k] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (k > 0) {
      if (dims[k] == 0) {
        wsk__fail(WSK_ERR_FORMAT, "%s: IDX dimension %d is 0" FMNIST_HINT, path, k);
        goto fail;
      }
      *item_bytes *= dims[k]; /* at most 3 factors below 2^32: checked below */
      if (*item_bytes > ((uint64_t)1 << 40)) {
        wsk__fail(WSK_ERR_FORMAT, "%s: IDX dimensions too large" FMNIST_HINT, path);
        goto fail;
      }
    }
  }
  *items = dims[0];
  *out = g;
  return WSK_OK;
fail:
  gzclose(g);
  return s;
}

wsk_status wsk_idx_dims(const char *path, uint32_t dims[4], int *rank) {
  if (!path || !dims || !rank) return wsk__fail(WSK_ERR_NULL, "wsk_idx_dims: NULL argument");
  gzFile g;
  uint64_t items, item_bytes;
  WSK_TRY(idx_open(path, 0, &g, dims, rank, &items, &item_bytes));
  gzclose(g);
  return WSK_OK;
}

wsk_status wsk_idx_read(const char *path, int expect_rank, size_t limit, uint8_t **data,
                        uint32_t dims[4], int *rank) {
  if (!path || !data || !dims || !rank)
    return wsk__fail(WSK_ERR_NULL, "wsk_idx_read: NULL argument");
  *data = NULL;
  gzFile g;
  uint64_t items, item_bytes;
  WSK_TRY(idx_open(path, expect_rank, &g, dims, rank, &items, &item_bytes));
  const uint64_t header = 4 + 4 * (uint64_t)*rank;
  const uint64_t total = items * item_bytes; /* < 2^72 in theory: items < 2^32, bytes <= 2^40 */
  if (item_bytes != 0 && items > UINT64_MAX / item_bytes) {
    gzclose(g);
    return wsk__fail(WSK_ERR_FORMAT, "%s: IDX dimensions too large" FMNIST_HINT, path);
  }
  uint64_t keep = limit == 0 || limit > items ? items : limit;
  if (keep * item_bytes > (uint64_t)SIZE_MAX - 1) {
    gzclose(g);
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: %llu items do not fit in memory", path,
                     (unsigned long long)keep);
  }
  const size_t keep_bytes = (size_t)(keep * item_bytes);
  uint8_t *buf = malloc(keep_bytes ? keep_bytes : 1);
  if (!buf) {
    gzclose(g);
    return wsk__fail(WSK_ERR_NOMEM, "out of memory reading %s (%zu bytes)", path, keep_bytes);
  }
  wsk_status s = WSK_OK;
  long long r = gz_read_all(g, buf, keep_bytes, path);
  if (r < 0) {
    s = r == -2 ? WSK_ERR_IO : WSK_ERR_FORMAT;
    goto done;
  }
  uint64_t got = (uint64_t)r;
  if (got == keep_bytes) {
    /* The rest of the file must hold exactly the promised bytes. When only a
     * prefix is wanted and the gzip trailer (or the plain file size) already
     * says so, the rest is not inflated. */
    uint64_t announced;
    int gz;
    const uint64_t want = header + total;
    if (keep < items && announced_size(path, &announced, &gz) &&
        announced == (gz ? (want & 0xffffffffu) : want))
      goto done;
    long long rest = gz_count_rest(g, path);
    if (rest < 0) {
      s = rest == -2 ? WSK_ERR_IO : WSK_ERR_FORMAT;
      goto done;
    }
    got += (uint64_t)rest;
  }
  int zerr;
  gzerror(g, &zerr);
  if (got < total || zerr == Z_BUF_ERROR) { /* Z_BUF_ERROR: the gzip stream ends early */
    s = wsk__fail(WSK_ERR_FORMAT,
                  "%s: truncated: the IDX header promises %llu data bytes (%llu items), the file "
                  "holds %llu%s" FMNIST_HINT,
                  path, (unsigned long long)total, (unsigned long long)items,
                  (unsigned long long)got,
                  zerr == Z_BUF_ERROR ? " and its gzip stream is cut short" : "");
  } else if (got > total) {
    s = wsk__fail(WSK_ERR_FORMAT,
                  "%s: %llu bytes after the %llu data bytes the IDX header promises" FMNIST_HINT,
                  path, (unsigned long long)(got - total), (unsigned long long)total);
  }
done:
  gzclose(g);
  if (s != WSK_OK) {
    free(buf);
    return s;
  }
  *data = buf;
  return WSK_OK;
}

/* ---- downsampling ----------------------------------------------------------------- */

/* Overlap of output cell i (of d cells over s input pixels) with input pixel
 * k, in units of 1/d input pixels: the cell covers [i*s/d, (i+1)*s/d), i.e.
 * [i*s, (i+1)*s) in those units, and pixel k covers [k*d, (k+1)*d). */
static long overlap(long i, long k, long s, long d) {
  long lo = i * s > k * d ? i * s : k * d;
  long hi = (i + 1) * s < (k + 1) * d ? (i + 1) * s : (k + 1) * d;
  return hi > lo ? hi - lo : 0;
}

wsk_status wsk_downsample_area(const float *src, int sr, int sc, float *dst, int dr, int dc) {
  if (!src || !dst) return wsk__fail(WSK_ERR_NULL, "wsk_downsample_area: NULL image");
  if (sr < 1 || sc < 1 || dr < 1 || dc < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_downsample_area: sizes %dx%d -> %dx%d must be >= 1", sr, sc,
                     dr, dc);
  if (dr > sr || dc > sc)
    return wsk__fail(WSK_ERR_ARG, "wsk_downsample_area: %dx%d -> %dx%d enlarges the image", sr, sc,
                     dr, dc);
  if ((long)sr * sc > (1L << 24))
    return wsk__fail(WSK_ERR_SIZE, "wsk_downsample_area: %dx%d image too large", sr, sc);
  /* Output (i, j) = sum over covered (k, l) of wr(i,k) wc(j,l) x(k,l) / (sr sc),
   * where wr = overlap in 1/dr units, wc in 1/dc units: the covered area of
   * pixel (k, l) is wr wc / (dr dc) pixels, the cell's area sr sc / (dr dc).
   * The integer weights and their products (<= dr dc) are exact in double, so
   * a constant image stays exactly constant; the sum runs over k then l in
   * increasing order, so the result is the same on every machine. */
  const double area = (double)sr * (double)sc;
  for (long i = 0; i < dr; i++) {
    const long k0 = i * sr / dr, k1 = ((i + 1) * sr + dr - 1) / dr; /* covered rows [k0, k1) */
    for (long j = 0; j < dc; j++) {
      const long l0 = j * sc / dc, l1 = ((j + 1) * sc + dc - 1) / dc;
      double acc = 0.0;
      for (long k = k0; k < k1; k++) {
        const double wr = (double)overlap(i, k, sr, dr);
        for (long l = l0; l < l1; l++)
          acc += wr * (double)overlap(j, l, sc, dc) * (double)src[k * sc + l];
      }
      dst[i * dc + j] = (float)(acc / area);
    }
  }
  return WSK_OK;
}

/* ---- FashionMNIST ----------------------------------------------------------------- */

/* dir/name.gz, or dir/name when only the uncompressed file exists. */
static char *data_path(const char *dir, const char *name) {
  size_t dl = strlen(dir), nl = strlen(name);
  char *p = malloc(dl + nl + 5);
  if (!p) return NULL;
  memcpy(p, dir, dl);
  size_t o = dl;
  if (o == 0 || p[o - 1] != '/') p[o++] = '/';
  memcpy(p + o, name, nl);
  memcpy(p + o + nl, ".gz", 4);
  struct stat st;
  if (stat(p, &st) != 0) {
    p[o + nl] = '\0';
    if (stat(p, &st) != 0) memcpy(p + o + nl, ".gz", 4); /* report the .gz name */
  }
  return p;
}

wsk_status wsk_fmnist_load(const char *dir, int train, int size, size_t limit, wsk_dataset *out) {
  if (!out) return wsk__fail(WSK_ERR_NULL, "wsk_fmnist_load: out is NULL");
  memset(out, 0, sizeof *out);
  if (size != 28 && size != 16 && size != 8)
    return wsk__fail(WSK_ERR_ARG, "wsk_fmnist_load: image size %d; choose 28, 16 or 8", size);
  if (!dir) dir = wsk_data_default_dir();
  const char *split = train ? "train" : "t10k";
  char iname[64], lname[64];
  snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", split);
  snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", split);
  char *ipath = data_path(dir, iname), *lpath = data_path(dir, lname);
  uint8_t *pix = NULL, *lab = NULL;
  wsk_status s = WSK_OK;
  if (!ipath || !lpath) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
    goto done;
  }
  uint32_t idims[4], ldims[4];
  int irank, lrank;
  s = wsk_idx_read(ipath, 3, limit, &pix, idims, &irank);
  if (s != WSK_OK) goto done;
  s = wsk_idx_read(lpath, 1, limit, &lab, ldims, &lrank);
  if (s != WSK_OK) goto done;
  if (idims[0] != ldims[0]) {
    s = wsk__fail(WSK_ERR_FORMAT, "%s holds %lu images but %s holds %lu labels" FMNIST_HINT, ipath,
                  (unsigned long)idims[0], lpath, (unsigned long)ldims[0]);
    goto done;
  }
  if (idims[1] != 28 || idims[2] != 28) {
    s = wsk__fail(WSK_ERR_FORMAT, "%s: images are %lux%lu, FashionMNIST's are 28x28" FMNIST_HINT,
                  ipath, (unsigned long)idims[1], (unsigned long)idims[2]);
    goto done;
  }
  const size_t n = limit == 0 || limit > idims[0] ? idims[0] : limit;
  for (size_t i = 0; i < n; i++) {
    if (lab[i] > 9) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s: label %d of item %zu is not a class 0..9" FMNIST_HINT,
                    lpath, lab[i], i);
      goto done;
    }
  }
  const size_t px = (size_t)size * (size_t)size;
  float *x = malloc((n ? n : 1) * px * sizeof *x);
  if (!x) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory loading %zu images of %s", n, ipath);
    goto done;
  }
  float full[28 * 28];
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = pix + i * 784;
    float *dst = size == 28 ? x + i * px : full;
    for (int k = 0; k < 784; k++) dst[k] = (float)p[k] / 255.0f;
    if (size != 28) wsk_downsample_area(full, 28, 28, x + i * px, size, size);
  }
  out->n = n;
  out->rows = out->cols = size;
  out->x = x;
  out->y = lab;
  lab = NULL;
done:
  free(pix);
  free(lab);
  free(ipath);
  free(lpath);
  return s;
}
