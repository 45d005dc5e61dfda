/* tests/test_data.c — FashionMNIST IDX reading and area-average downsampling
 * (model/data.h).
 *
 * 1. Small IDX files the test writes (gzip'd with zlib, and one plain):
 *    pixels become pixel / 255, labels are kept, `limit` keeps a prefix, the
 *    default directory follows WSK_DATA_DIR.
 * 2. Every error path — missing file, truncated header, truncated data (also
 *    when only a prefix is loaded), a gzip stream cut short, bytes after the
 *    data, bad magic, wrong data type, images/labels count mismatch, a label
 *    above 9 — fails with a message that names the file and the Debian package.
 * 3. Downsampling: a constant image stays constant, the sum scales by the
 *    area ratio, a 3x3 -> 2x2 example worked by hand, 4x4 -> 2x2 block means,
 *    same-size copies, bad sizes are rejected.
 * 4. The real data in /usr/share/datasets/fashion-mnist (skipped visibly when
 *    absent): 60000 / 10000 images, 1000 t10k labels per class, 8x8 and 16x16
 *    shapes, each downsampled image has its 28x28 image's mean within 1e-5,
 *    and the downsampled bits match a digest recorded on x86-64.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, mkdtemp */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "model/data.h"
#include "testutil.h"
#include "wsk/status.h"

#define REAL_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[64];

static int make_tmpdir(void **state) {
  (void)state;
  strcpy(tmpdir, "/tmp/wsk_test_data_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *buf, size_t n, const char *sub, const char *name) {
  snprintf(buf, n, "%s/%s%s%s", tmpdir, sub, *sub ? "/" : "", name);
}

/* Writes bytes through zlib (gz != 0) or plainly. */
static void write_bytes(const char *path, const void *b, size_t n, int gz) {
  if (gz) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    if (n) assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
  }
}

/* An IDX file: magic 0 0 type rank, big-endian dims, then `payload` bytes of
 * the pattern (i * 7 + 3) % 256 (labels: i % 10) — the header may promise
 * more or less than that. */
static void write_idx(const char *path, int type, int rank, const uint32_t *dims, size_t payload,
                      int labels, int gz) {
  size_t n = 4 + 4 * (size_t)rank + payload;
  unsigned char *b = malloc(n);
  assert_non_null(b);
  b[0] = 0, b[1] = 0, b[2] = (unsigned char)type, b[3] = (unsigned char)rank;
  for (int k = 0; k < rank; k++) {
    b[4 + 4 * k] = (unsigned char)(dims[k] >> 24);
    b[5 + 4 * k] = (unsigned char)(dims[k] >> 16);
    b[6 + 4 * k] = (unsigned char)(dims[k] >> 8);
    b[7 + 4 * k] = (unsigned char)dims[k];
  }
  unsigned char *p = b + 4 + 4 * rank;
  for (size_t i = 0; i < payload; i++)
    p[i] = labels ? (unsigned char)(i % 10) : (unsigned char)((i * 7 + 3) % 256);
  write_bytes(path, b, n, gz);
  free(b);
}

/* A consistent pair of t10k files with n images in dir tmpdir/sub. */
static void write_pair(const char *sub, uint32_t n_images, uint32_t n_labels, int gz) {
  char d[128], ip[192], lp[192];
  path_in(d, sizeof d, sub, "");
  mkdir(d, 0777);
  path_in(ip, sizeof ip, sub, gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte");
  path_in(lp, sizeof lp, sub, gz ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte");
  uint32_t idims[3] = {n_images, 28, 28}, ldims[1] = {n_labels};
  write_idx(ip, 8, 3, idims, (size_t)n_images * 784, 0, gz);
  write_idx(lp, 8, 1, ldims, n_labels, 1, gz);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("message \"%s\" lacks \"%s\"", hay, needle);
}

/* The call failed with s, and its message names the file and how to get the data. */
static void assert_data_error(wsk_status got, wsk_status want, const char *file) {
  if (got != want)
    fail_msg("status %s, want %s (%s)", wsk_status_name(got), wsk_status_name(want),
             wsk_last_error());
  const char *m = wsk_last_error();
  assert_contains(m, file);
  assert_contains(m, "dataset-fashion-mnist");
  assert_contains(m, "apt-get install");
  assert_contains(m, "WSK_DATA_DIR");
  assert_contains(m, "--data DIR");
}

/* ---- 1. small files --------------------------------------------------------------- */

static void test_small_load(void **state) {
  (void)state;
  write_pair("ok", 5, 5, 1);
  char d[128];
  path_in(d, sizeof d, "ok", "");
  wsk_dataset ds;
  assert_int_equal(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_OK);
  assert_int_equal(ds.n, 5);
  assert_int_equal(ds.rows, 28);
  assert_int_equal(ds.cols, 28);
  for (size_t i = 0; i < 5 * 784; i++) assert_true(ds.x[i] == (float)((i * 7 + 3) % 256) / 255.0f);
  for (size_t i = 0; i < 5; i++) assert_int_equal(ds.y[i], i % 10);
  wsk_dataset_free(&ds);
  assert_null(ds.x);

  /* a prefix, downsampled; same bits as downsampling the 28x28 load */
  wsk_dataset full, small;
  assert_int_equal(wsk_fmnist_load(d, 0, 28, 0, &full), WSK_OK);
  assert_int_equal(wsk_fmnist_load(d, 0, 8, 3, &small), WSK_OK);
  assert_int_equal(small.n, 3);
  assert_int_equal(small.rows, 8);
  for (size_t i = 0; i < 3; i++) {
    float want[64];
    assert_int_equal(wsk_downsample_area(full.x + i * 784, 28, 28, want, 8, 8), WSK_OK);
    assert_memory_equal(want, small.x + i * 64, sizeof want);
    assert_int_equal(small.y[i], full.y[i]);
  }
  wsk_dataset_free(&full);
  wsk_dataset_free(&small);

  /* limit above the count: all of them */
  assert_int_equal(wsk_fmnist_load(d, 0, 16, 99, &ds), WSK_OK);
  assert_int_equal(ds.n, 5);
  assert_int_equal(ds.rows, 16);
  wsk_dataset_free(&ds);

  /* the training split is not there */
  char want[192];
  path_in(want, sizeof want, "ok", "train-images-idx3-ubyte.gz");
  assert_data_error(wsk_fmnist_load(d, 1, 28, 0, &ds), WSK_ERR_IO, want);
  assert_null(ds.x);

  assert_int_equal(wsk_fmnist_load(d, 0, 12, 0, &ds), WSK_ERR_ARG);
}

static void test_plain_files(void **state) {
  (void)state;
  write_pair("plain", 3, 3, 0);
  char d[128];
  path_in(d, sizeof d, "plain", "");
  wsk_dataset ds;
  assert_int_equal(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_OK);
  assert_int_equal(ds.n, 3);
  assert_true(ds.x[1] == 10.0f / 255.0f);
  wsk_dataset_free(&ds);
  assert_int_equal(wsk_fmnist_load(d, 0, 28, 2, &ds), WSK_OK); /* prefix of a plain file */
  assert_int_equal(ds.n, 2);
  wsk_dataset_free(&ds);

  /* wsk_idx_read and wsk_idx_dims directly */
  char p[192];
  path_in(p, sizeof p, "plain", "t10k-images-idx3-ubyte");
  uint8_t *data;
  uint32_t dims[4];
  int rank;
  assert_int_equal(wsk_idx_read(p, 3, 1, &data, dims, &rank), WSK_OK);
  assert_int_equal(rank, 3);
  assert_int_equal(dims[0], 3); /* as stored, not the limit */
  assert_int_equal(dims[1], 28);
  assert_int_equal(data[783], (783 * 7 + 3) % 256);
  free(data);
  assert_int_equal(wsk_idx_dims(p, dims, &rank), WSK_OK);
  assert_int_equal(dims[0], 3);
  assert_int_equal(wsk_idx_read(p, 1, 0, &data, dims, &rank), WSK_ERR_FORMAT); /* wrong rank */
  assert_contains(wsk_last_error(), p);
}

static void test_default_dir(void **state) {
  (void)state;
  const char *old = getenv("WSK_DATA_DIR");
  char *saved = old ? strdup(old) : NULL;
  setenv("WSK_DATA_DIR", "/some/where", 1);
  assert_string_equal(wsk_data_default_dir(), "/some/where");
  setenv("WSK_DATA_DIR", "", 1);
  assert_string_equal(wsk_data_default_dir(), REAL_DIR);
  unsetenv("WSK_DATA_DIR");
  assert_string_equal(wsk_data_default_dir(), REAL_DIR);

  /* dir NULL reads the default, here a directory the test made */
  write_pair("env", 2, 2, 1);
  char d[128];
  path_in(d, sizeof d, "env", "");
  setenv("WSK_DATA_DIR", d, 1);
  wsk_dataset ds;
  assert_int_equal(wsk_fmnist_load(NULL, 0, 28, 0, &ds), WSK_OK);
  assert_int_equal(ds.n, 2);
  wsk_dataset_free(&ds);
  if (saved)
    setenv("WSK_DATA_DIR", saved, 1);
  else
    unsetenv("WSK_DATA_DIR");
  free(saved);
}

/* ---- 2. errors ---------------------------------------------------------------------- */

static void test_errors(void **state) {
  (void)state;
  char d[128], ip[192], lp[192];
  wsk_dataset ds;
  uint32_t idims[3] = {4, 28, 28}, ldims[1] = {4};

  /* missing directory */
  path_in(d, sizeof d, "nothing-here", "");
  path_in(ip, sizeof ip, "nothing-here", "t10k-images-idx3-ubyte.gz");
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_IO, ip);

  /* each broken images file next to a good labels file */
  path_in(d, sizeof d, "bad", "");
  mkdir(d, 0777);
  path_in(ip, sizeof ip, "bad", "t10k-images-idx3-ubyte.gz");
  path_in(lp, sizeof lp, "bad", "t10k-labels-idx1-ubyte.gz");
  write_idx(lp, 8, 1, ldims, 4, 1, 1);

  /* missing images file */
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_IO, ip);

  /* a directory where the images file should be */
  assert_int_equal(mkdir(ip, 0777), 0);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_IO, ip);
  assert_int_equal(rmdir(ip), 0);

  /* truncated header: 2 bytes; then magic complete but dims cut */
  write_bytes(ip, "\0\0", 2, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  assert_contains(wsk_last_error(), "truncated");
  write_bytes(ip, "\0\0\x08\x03\0\0\0\x04\0\0", 10, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  assert_contains(wsk_last_error(), "truncated");

  /* truncated data: 4 images promised, 3.5 present; also with a prefix load */
  write_idx(ip, 8, 3, idims, 3 * 784 + 392, 0, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  assert_contains(wsk_last_error(), "truncated");
  assert_data_error(wsk_fmnist_load(d, 0, 28, 1, &ds), WSK_ERR_FORMAT, ip);
  assert_contains(wsk_last_error(), "truncated");

  /* bytes after the promised data */
  write_idx(ip, 8, 3, idims, 4 * 784 + 1, 0, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 2, &ds), WSK_ERR_FORMAT, ip);

  /* a gzip stream cut in the middle (all headers fine) */
  write_idx(ip, 8, 3, idims, 4 * 784, 0, 1);
  {
    FILE *f = fopen(ip, "rb");
    assert_non_null(f);
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 40);
    write_bytes(ip, buf, n - 12, 0);
  }
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 1, &ds), WSK_ERR_FORMAT, ip);

  /* corrupt gzip data (garbage after a gzip magic) */
  write_bytes(ip, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-garbage-garbage", 33, 0);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);

  /* bad magic: a text file, then a right-looking header with rank 0 */
  write_bytes(ip, "hello, world, this is not IDX", 29, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  assert_contains(wsk_last_error(), "magic");
  write_bytes(ip, "\0\0\x08\0", 4, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);

  /* wrong data type (0x0D = float) */
  write_idx(ip, 0x0D, 3, idims, 4 * 784, 0, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  assert_contains(wsk_last_error(), "0x0d");

  /* images that are not 28x28 */
  {
    uint32_t dd[3] = {4, 8, 8};
    write_idx(ip, 8, 3, dd, 4 * 64, 0, 1);
    assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
  }

  /* images and labels disagree: 5 images, 4 labels (both files named) */
  {
    uint32_t dd[3] = {5, 28, 28};
    write_idx(ip, 8, 3, dd, 5 * 784, 0, 1);
    assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, ip);
    assert_contains(wsk_last_error(), lp);
    assert_data_error(wsk_fmnist_load(d, 0, 28, 2, &ds), WSK_ERR_FORMAT, ip);
  }

  /* a label outside 0..9 */
  write_idx(ip, 8, 3, idims, 4 * 784, 0, 1);
  write_bytes(lp, "\0\0\x08\x01\0\0\0\x04\x01\x02\x0c\x03", 12, 1);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_FORMAT, lp);

  /* and the pair is fine once the labels are */
  write_idx(lp, 8, 1, ldims, 4, 1, 1);
  assert_int_equal(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_OK);
  wsk_dataset_free(&ds);

  /* good images, no labels */
  assert_int_equal(unlink(lp), 0);
  assert_data_error(wsk_fmnist_load(d, 0, 28, 0, &ds), WSK_ERR_IO, lp);
}

/* ---- 3. downsampling ---------------------------------------------------------------- */

static void test_downsample_constant(void **state) {
  (void)state;
  static const int sizes[][2] = {{28, 16}, {28, 8}, {28, 28}, {7, 3}, {5, 1}, {13, 7}};
  const float vals[] = {0.0f, 1.0f, 0.3f, 0.7137255f, 123.456f};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const int sr = sizes[s][0], dr = sizes[s][1];
    for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
      float src[28 * 28], dst[28 * 28];
      for (int i = 0; i < sr * sr; i++) src[i] = vals[v];
      assert_int_equal(wsk_downsample_area(src, sr, sr, dst, dr, dr), WSK_OK);
      for (int i = 0; i < dr * dr; i++)
        if (dst[i] != vals[v])
          fail_msg("%d->%d: pixel %d is %.9g, not %.9g", sr, dr, i, dst[i], vals[v]);
    }
  }
}

static void test_downsample_sum(void **state) {
  (void)state;
  /* sum(dst) * (sr sc) / (dr dc) = sum(src): every input pixel is shared out
   * completely among the cells that cover it */
  static const int sizes[][4] = {{28, 28, 16, 16}, {28, 28, 8, 8}, {9, 7, 4, 3}, {28, 20, 5, 20}};
  uint64_t h = 12345;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const int sr = sizes[s][0], sc = sizes[s][1], dr = sizes[s][2], dc = sizes[s][3];
    float src[28 * 28], dst[28 * 28];
    double ssum = 0.0, dsum = 0.0;
    for (int i = 0; i < sr * sc; i++) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      src[i] = (float)(h >> 40) / (float)(1u << 24);
      ssum += src[i];
    }
    assert_int_equal(wsk_downsample_area(src, sr, sc, dst, dr, dc), WSK_OK);
    for (int i = 0; i < dr * dc; i++) dsum += dst[i];
    const double scaled = dsum * (double)(sr * sc) / (double)(dr * dc);
    if (!(scaled > ssum - 1e-4 && scaled < ssum + 1e-4))
      fail_msg("%dx%d->%dx%d: scaled sum %.9g, input sum %.9g", sr, sc, dr, dc, scaled, ssum);
  }
}

static void test_downsample_by_hand(void **state) {
  (void)state;
  /* 3x3 -> 2x2: each cell covers 1.5 x 1.5 pixels. Cell (0,0) takes pixel
   * (0,0) whole, (0,1) and (1,0) half, (1,1) a quarter:
   * (1 + 2/2 + 4/2 + 5/4) / 2.25 = 5.25 / 2.25, and so on. */
  const float src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const double want[4] = {5.25 / 2.25, 8.25 / 2.25, 14.25 / 2.25, 17.25 / 2.25};
  float dst[4];
  assert_int_equal(wsk_downsample_area(src, 3, 3, dst, 2, 2), WSK_OK);
  for (int i = 0; i < 4; i++) assert_true(dst[i] == (float)want[i]);

  /* 4x4 -> 2x2: means of 2x2 blocks */
  const float b[16] = {0, 2, 4, 6, 2, 4, 6, 8, 1, 1, 3, 3, 1, 1, 3, 3};
  assert_int_equal(wsk_downsample_area(b, 4, 4, dst, 2, 2), WSK_OK);
  assert_true(dst[0] == 2.0f && dst[1] == 6.0f && dst[2] == 1.0f && dst[3] == 3.0f);

  /* 1x4 -> 1x3: cells of 4/3 pixels: (a + b/3), (2b/3 + 2c/3), (c/3 + d), all / (4/3) */
  const float r[4] = {3, 6, 9, 12};
  assert_int_equal(wsk_downsample_area(r, 1, 4, dst, 1, 3), WSK_OK);
  assert_true(dst[0] == (float)((3.0 + 2.0) * 0.75));
  assert_true(dst[1] == (float)((4.0 + 6.0) * 0.75));
  assert_true(dst[2] == (float)((3.0 + 12.0) * 0.75));

  /* same size: a copy */
  float same[9];
  assert_int_equal(wsk_downsample_area(src, 3, 3, same, 3, 3), WSK_OK);
  assert_memory_equal(same, src, sizeof src);

  /* 28 -> 16 (factor 1.75): output (0,0) = (x00 + .75 x01 + .75 x10 + .5625 x11) / 3.0625 */
  float img[784], out[256];
  for (int i = 0; i < 784; i++) img[i] = 0.0f;
  img[0] = 1.0f, img[1] = 2.0f, img[28] = 3.0f, img[29] = 4.0f;
  assert_int_equal(wsk_downsample_area(img, 28, 28, out, 16, 16), WSK_OK);
  assert_true(fabs(out[0] - (1.0 + 0.75 * 2 + 0.75 * 3 + 0.5625 * 4) / 3.0625) < 1e-6);
  assert_true(fabs(out[1] - (0.25 * 2 + 0.25 * 0.75 * 4) / 3.0625) < 1e-6);

  /* errors */
  assert_int_equal(wsk_downsample_area(src, 3, 3, dst, 4, 2), WSK_ERR_ARG);
  assert_int_equal(wsk_downsample_area(src, 3, 3, dst, 0, 2), WSK_ERR_SIZE);
  assert_int_equal(wsk_downsample_area(NULL, 3, 3, dst, 2, 2), WSK_ERR_NULL);
}

/* ---- 4. the real data -------------------------------------------------------------- */

static void test_real_data(void **state) {
  (void)state;
  struct stat st;
  if (stat(REAL_DIR "/t10k-images-idx3-ubyte.gz", &st) != 0) {
    print_message("SKIP: %s not installed (apt-get install dataset-fashion-mnist)\n", REAL_DIR);
    skip();
  }
  uint32_t dims[4];
  int rank;
  assert_int_equal(wsk_idx_dims(REAL_DIR "/train-images-idx3-ubyte.gz", dims, &rank), WSK_OK);
  assert_int_equal(rank, 3);
  assert_int_equal(dims[0], 60000);
  assert_int_equal(dims[1], 28);
  assert_int_equal(dims[2], 28);
  assert_int_equal(wsk_idx_dims(REAL_DIR "/train-labels-idx1-ubyte.gz", dims, &rank), WSK_OK);
  assert_int_equal(dims[0], 60000);
  assert_int_equal(wsk_idx_dims(REAL_DIR "/t10k-images-idx3-ubyte.gz", dims, &rank), WSK_OK);
  assert_int_equal(dims[0], 10000);

  /* all t10k labels: 1000 per class */
  uint8_t *lab;
  assert_int_equal(wsk_idx_read(REAL_DIR "/t10k-labels-idx1-ubyte.gz", 1, 0, &lab, dims, &rank),
                   WSK_OK);
  assert_int_equal(dims[0], 10000);
  size_t per[10] = {0};
  for (size_t i = 0; i < 10000; i++) {
    assert_true(lab[i] < 10);
    per[lab[i]]++;
  }
  for (int c = 0; c < 10; c++) assert_int_equal(per[c], 1000);

  /* the first 200 test images at 28, 16 and 8 */
  const size_t n = 200;
  wsk_dataset d28, d16, d8;
  assert_int_equal(wsk_fmnist_load(REAL_DIR, 0, 28, n, &d28), WSK_OK);
  assert_int_equal(wsk_fmnist_load(REAL_DIR, 0, 16, n, &d16), WSK_OK);
  assert_int_equal(wsk_fmnist_load(REAL_DIR, 0, 8, n, &d8), WSK_OK);
  assert_int_equal(d28.n, n);
  assert_int_equal(d16.n, n);
  assert_int_equal(d8.n, n);
  assert_true(d16.rows == 16 && d16.cols == 16 && d8.rows == 8 && d8.cols == 8);
  assert_memory_equal(d28.y, lab, n);
  assert_memory_equal(d8.y, lab, n);
  for (size_t i = 0; i < n; i++) {
    double m28 = 0, m16 = 0, m8 = 0;
    for (int k = 0; k < 784; k++) {
      assert_true(d28.x[i * 784 + k] >= 0.0f && d28.x[i * 784 + k] <= 1.0f);
      m28 += d28.x[i * 784 + k];
    }
    for (int k = 0; k < 256; k++) m16 += d16.x[i * 256 + k];
    for (int k = 0; k < 64; k++) m8 += d8.x[i * 64 + k];
    m28 /= 784, m16 /= 256, m8 /= 64;
    if (fabs(m16 - m28) > 1e-5 || fabs(m8 - m28) > 1e-5)
      fail_msg("image %zu: means 28x28 %.9g, 16x16 %.9g, 8x8 %.9g", i, m28, m16, m8);
  }
  /* the same bits on every machine (recorded on x86-64, checked on aarch64) */
  tu_assert_digest("t10k[0:200] 16x16", tu_digest(TU_DIGEST_INIT, d16.x, n * 256),
                   0xf3f5c4580e459bdaull);
  tu_assert_digest("t10k[0:200] 8x8", tu_digest(TU_DIGEST_INIT, d8.x, n * 64),
                   0x5ddfd8ea47b41b4cull);
  free(lab);
  wsk_dataset_free(&d28);
  wsk_dataset_free(&d16);
  wsk_dataset_free(&d8);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_load),          cmocka_unit_test(test_plain_files),
      cmocka_unit_test(test_default_dir),         cmocka_unit_test(test_errors),
      cmocka_unit_test(test_downsample_constant), cmocka_unit_test(test_downsample_sum),
      cmocka_unit_test(test_downsample_by_hand),  cmocka_unit_test(test_real_data),
  };
  return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
