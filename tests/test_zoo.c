/* tests/test_zoo.c — model/zoo.h on synthetic data passed through the API.
 *
 * - the files: zoo.json, zoo.csv (the columns in order, one row per member
 *   and checkpoint epoch, sorted, categorical words from their sets, ranges of
 *   the hyper-parameters, gap = train_acc - test_acc), every checkpoint a
 *   safetensors file with the network's tensors, shapes and metadata, the
 *   member records; the CNN's tensor names;
 * - the same bytes in every file for 1 and 3 threads and for the scalar tier
 *   and the best one, and a recorded digest of zoo.csv (x86-64 and aarch64);
 * - resume: after deleting one checkpoint, truncating another member's and
 *   deleting a third's record, a rerun trains exactly those three members and
 *   every file comes back with the same bytes; a complete zoo reruns with
 *   nothing trained;
 * - changed settings are an error naming the setting; --force starts over;
 * - bad arguments (ranges, image sizes, labels, NULLs).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/io.h"
#include "model/safetensors.h"
#include "model/zoo.h"
#include "testutil.h"

#define ZOO_CSV_DIGEST 0x7f20be88220d5197ull

static const char *const COLUMNS[] = {
    "model_id",  "epoch",      "arch",         "seed",    "init",       "activation",
    "optimizer", "lr",         "weight_decay", "dropout", "train_frac", "train_acc",
    "test_acc",  "train_loss", "test_loss",    "gap",     "file"};

/* ---- helpers ----------------------------------------------------------------------- */

static void make_data(wsk_dataset *d, size_t n, int side, uint64_t seed) {
  tu_rng r = {seed};
  d->n = n;
  d->rows = d->cols = side;
  d->x = malloc(n * side * side * sizeof(float));
  d->y = malloc(n);
  for (size_t i = 0; i < n; i++) {
    d->y[i] = (uint8_t)tu_int(&r, 0, 9);
    for (int p = 0; p < side * side; p++) {
      const float noise = tu_uniform(&r, 0.0f, 0.4f);
      d->x[i * side * side + p] = noise + (p % 10 == d->y[i] ? 0.5f : 0.0f);
    }
  }
}

static void free_data(wsk_dataset *d) {
  free(d->x);
  free(d->y);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static char *temp_dir(void) {
  char *t = strdup("/tmp/wsk-test-zoo-XXXXXX");
  assert_non_null(mkdtemp(t));
  return t;
}

static void config(wsk_zoo_config *c, const char *dir) {
  wsk_zoo_config_default(c);
  c->out_dir = dir;
  c->members = 6;
  c->epochs = 3;
  c->save_every = 2; /* checkpoints at 0, 2, 3 */
  c->seed = 77;
  c->batch = 16;
  c->progress = 0;
}

/* FNV-1a over the bytes of a file (0 when it cannot be read) */
static uint64_t file_digest(const char *path) {
  void *data;
  size_t n;
  if (wsk_file_read(path, &data, &n) != WSK_OK) return 0;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= ((unsigned char *)data)[i];
    h *= 0x100000001b3ull;
  }
  free(data);
  return h;
}

/* Digests of zoo.csv, every member record and every checkpoint, in a fixed
 * order, into d (count returned). */
static int zoo_digests(const char *dir, const wsk_zoo_config *c, uint64_t *d) {
  char p[512];
  int k = 0;
  snprintf(p, sizeof p, "%s/zoo.csv", dir);
  d[k++] = file_digest(p);
  const int eps[] = {0, 2, 3};
  for (int m = 0; m < c->members; m++) {
    snprintf(p, sizeof p, "%s/ckpt/m%04d.csv", dir, m);
    d[k++] = file_digest(p);
    for (int e = 0; e < 3; e++) {
      snprintf(p, sizeof p, "%s/ckpt/m%04d_e%03d.safetensors", dir, m, eps[e]);
      d[k++] = file_digest(p);
    }
  }
  for (int i = 0; i < k; i++) assert_true(d[i] != 0);
  return k;
}

/* ---- the files ---------------------------------------------------------------------- */

static void test_files(void **state) {
  (void)state;
  wsk_dataset tr, te;
  make_data(&tr, 120, 8, 1);
  make_data(&te, 50, 8, 2);
  char *dir = temp_dir();
  wsk_zoo_config c;
  config(&c, dir);
  wsk_zoo_summary s;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_OK);
  assert_int_equal(s.members_trained, 6);
  assert_int_equal(s.members_kept, 0);
  assert_int_equal(s.rows, 18);
  assert_true(s.test_acc_min >= 0 && s.test_acc_max <= 1 && s.test_acc_min <= s.test_acc_mean);

  char p[512];
  snprintf(p, sizeof p, "%s/zoo.json", dir);
  struct stat sb;
  assert_int_equal(stat(p, &sb), 0);
  snprintf(p, sizeof p, "%s/zoo.csv", dir);
  wsk_csv csv;
  assert_int_equal(wsk_csv_read(p, &csv), WSK_OK);
  assert_int_equal(csv.ncols, 17);
  for (int k = 0; k < 17; k++) assert_string_equal(csv.header[k], COLUMNS[k]);
  assert_int_equal(csv.nrows, 18);
  const int eps[] = {0, 2, 3};
  for (size_t r = 0; r < csv.nrows; r++) {
    char **f = csv.rows[r];
    assert_int_equal(atoi(f[0]), (int)(r / 3));
    assert_int_equal(atoi(f[1]), eps[r % 3]);
    assert_string_equal(f[2], "mlp");
    wsk_init in;
    wsk_net_act ac;
    wsk_optimizer op;
    assert_int_equal(wsk_init_parse(f[4], &in), WSK_OK);
    assert_int_equal(wsk_net_act_parse(f[5], &ac), WSK_OK);
    assert_int_equal(wsk_optimizer_parse(f[6], &op), WSK_OK);
    const double lr = atof(f[7]), wd = atof(f[8]), dr = atof(f[9]), fr = atof(f[10]);
    if (op == WSK_OPT_SGD)
      assert_true(lr >= 0.99e-4 && lr <= 1.01e-1);
    else
      assert_true(lr >= 0.99e-5 && lr <= 1.01e-2);
    assert_true(wd == 0 || (wd >= 0.99e-5 && wd <= 1.01e-1));
    assert_true(dr >= 0 && dr < 0.5);
    assert_true(fr >= 0.5 && fr < 1.0);
    const double tra = atof(f[11]), tea = atof(f[12]), gap = atof(f[15]);
    assert_true(tra >= 0 && tra <= 1 && tea >= 0 && tea <= 1);
    assert_true(isfinite(atof(f[13])) && isfinite(atof(f[14])));
    assert_true(fabs(gap - (tra - tea)) < 1e-7);
    /* the member's hyper-parameters as the API draws them */
    wsk_train_hparams hp;
    wsk_zoo_member_hparams(&c, atoi(f[0]), &hp);
    assert_true(strtoull(f[3], NULL, 10) == hp.seed);
    assert_int_equal(in, hp.init);
    assert_true((float)lr == hp.lr);
    char want[64];
    snprintf(want, sizeof want, "ckpt/m%04d_e%03d.safetensors", atoi(f[0]), eps[r % 3]);
    assert_string_equal(f[16], want);
    /* the checkpoint */
    snprintf(p, sizeof p, "%s/%s", dir, f[16]);
    wsk_safetensors st;
    assert_int_equal(wsk_safetensors_read(p, &st), WSK_OK);
    assert_int_equal(st.count, 4);
    static const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    static const int64_t rows[] = {32, 32, 10, 10};
    for (int t = 0; t < 4; t++) {
      const long k = wsk_safetensors_find(&st, names[t]);
      assert_true(k >= 0);
      assert_int_equal(st.shapes[k][0], rows[t]);
    }
    const long w0 = wsk_safetensors_find(&st, "0.weight");
    assert_int_equal(st.ranks[w0], 2);
    assert_int_equal(st.shapes[w0][1], 64);
    assert_string_equal(wsk_safetensors_meta(&st, "epoch"), f[1]);
    assert_string_equal(wsk_safetensors_meta(&st, "test_acc"), f[12]);
    assert_string_equal(wsk_safetensors_meta(&st, "init"), f[4]);
    wsk_safetensors_free(&st);
  }
  wsk_csv_free(&csv);
  rm_rf(dir);
  free(dir);

  /* the CNN's names */
  wsk_dataset tr28, te28;
  make_data(&tr28, 12, 28, 3);
  make_data(&te28, 6, 28, 4);
  dir = temp_dir();
  config(&c, dir);
  c.arch = WSK_ARCH_CNN;
  c.members = 2;
  c.epochs = 1;
  c.save_every = 1;
  assert_int_equal(wsk_zoo_run(&c, &tr28, &te28, &s), WSK_OK);
  assert_int_equal(s.rows, 4);
  snprintf(p, sizeof p, "%s/ckpt/m0001_e001.safetensors", dir);
  wsk_safetensors st;
  assert_int_equal(wsk_safetensors_read(p, &st), WSK_OK);
  assert_int_equal(st.count, 10);
  const long k = wsk_safetensors_find(&st, "3.weight");
  assert_true(k >= 0);
  assert_int_equal(st.ranks[k], 4);
  assert_int_equal(st.shapes[k][0], 6);
  assert_int_equal(st.shapes[k][1], 8);
  assert_int_equal(st.shapes[k][2], 5);
  assert_true(wsk_safetensors_find(&st, "11.bias") >= 0);
  assert_string_equal(wsk_safetensors_meta(&st, "arch"), "cnn");
  wsk_safetensors_free(&st);
  rm_rf(dir);
  free(dir);
  free_data(&tr28);
  free_data(&te28);
  free_data(&tr);
  free_data(&te);
}

/* ---- parity ----------------------------------------------------------------------- */

static void test_parity(void **state) {
  (void)state;
  wsk_dataset tr, te;
  make_data(&tr, 120, 8, 5);
  make_data(&te, 50, 8, 6);
  uint64_t ref[1 + 6 * 4], got[1 + 6 * 4];
  int n = 0, runs = 0;
  const wsk_isa isas[] = {WSK_ISA_SCALAR, WSK_ISA_AVX2, WSK_ISA_AVX512, WSK_ISA_NEON};
  for (int k = 0; k < 4; k++) {
    if (!(wsk_isas_available() & WSK_ISA_BIT(isas[k]))) continue;
    assert_int_equal(wsk_set_isa(isas[k]), WSK_OK);
    for (int threads = 1; threads <= 3; threads += 2) {
      assert_int_equal(wsk_threads_set_count(threads), WSK_OK);
      char *dir = temp_dir();
      wsk_zoo_config c;
      config(&c, dir);
      wsk_zoo_summary s;
      assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_OK);
      assert_int_equal(s.threads, threads);
      if (runs == 0) {
        n = zoo_digests(dir, &c, ref);
        tu_assert_digest("zoo.csv", s.csv_digest, ZOO_CSV_DIGEST);
        assert_true(s.csv_digest == ref[0]);
      } else {
        assert_int_equal(zoo_digests(dir, &c, got), n);
        for (int i = 0; i < n; i++)
          if (got[i] != ref[i]) {
            print_error("%s, %d threads: file %d differs\n", wsk_isa_name(isas[k]), threads, i);
            fail();
          }
      }
      runs++;
      rm_rf(dir);
      free(dir);
    }
  }
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  printf("  %d runs (tiers x 1 and 3 threads) wrote the same %d files\n", runs, n);
  free_data(&tr);
  free_data(&te);
}

/* ---- resume ----------------------------------------------------------------------- */

static void test_resume(void **state) {
  (void)state;
  wsk_dataset tr, te;
  make_data(&tr, 120, 8, 7);
  make_data(&te, 50, 8, 8);
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
  char *dir = temp_dir();
  wsk_zoo_config c;
  config(&c, dir);
  wsk_zoo_summary s;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_OK);
  uint64_t before[1 + 6 * 4], after[1 + 6 * 4];
  const int n = zoo_digests(dir, &c, before);

  /* complete: nothing is trained */
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_OK);
  assert_int_equal(s.members_trained, 0);
  assert_int_equal(s.members_kept, 6);

  /* break members 1, 3 and 4 three ways */
  char p[512];
  snprintf(p, sizeof p, "%s/ckpt/m0001_e002.safetensors", dir);
  assert_int_equal(unlink(p), 0);
  snprintf(p, sizeof p, "%s/ckpt/m0003_e003.safetensors", dir);
  assert_int_equal(truncate(p, 40), 0);
  snprintf(p, sizeof p, "%s/ckpt/m0004.csv", dir);
  assert_int_equal(unlink(p), 0);
  snprintf(p, sizeof p, "%s/zoo.csv", dir);
  assert_int_equal(unlink(p), 0);
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_OK);
  assert_int_equal(s.members_trained, 3);
  assert_int_equal(s.members_kept, 3);
  assert_int_equal(s.rows, 18);
  assert_int_equal(zoo_digests(dir, &c, after), n);
  for (int i = 0; i < n; i++) assert_true(after[i] == before[i]);

  /* other settings: an error naming the setting, unless forced */
  c.members = 7;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "members"));
  assert_non_null(strstr(wsk_last_error(), "--force"));
  c.members = 6;
  c.seed = 78;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "seed"));
  c.seed = 77;
  wsk_dataset tr2 = tr;
  tr2.n = 100; /* other data */
  assert_int_equal(wsk_zoo_run(&c, &tr2, &te, &s), WSK_ERR_ARG);
  c.members = 4;
  c.force = 1;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_OK);
  assert_int_equal(s.members_trained, 4);
  assert_int_equal(s.rows, 12);
  snprintf(p, sizeof p, "%s/ckpt/m0005.csv", dir); /* the old members are gone */
  struct stat sb;
  assert_int_equal(stat(p, &sb), -1);
  /* a settings file that is not JSON */
  snprintf(p, sizeof p, "%s/zoo.json", dir);
  assert_int_equal(wsk_file_write_atomic(p, "nope", 4), WSK_OK);
  c.force = 0;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_FORMAT);

  rm_rf(dir);
  free(dir);
  free_data(&tr);
  free_data(&te);
}

/* ---- bad arguments ------------------------------------------------------------------ */

static void test_bad_arguments(void **state) {
  (void)state;
  wsk_dataset tr, te, big;
  make_data(&tr, 20, 8, 9);
  make_data(&te, 10, 8, 10);
  make_data(&big, 4, 28, 11);
  char *dir = temp_dir();
  wsk_zoo_config c;
  wsk_zoo_summary s;
  assert_int_equal(wsk_zoo_run(NULL, &tr, &te, &s), WSK_ERR_NULL);
  config(&c, NULL);
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  config(&c, dir);
  c.members = 0;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "--members"));
  config(&c, dir);
  c.epochs = 0;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  config(&c, dir);
  c.save_every = 4;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "--save-every"));
  config(&c, dir);
  c.batch = 0;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  config(&c, dir);
  c.arch = (wsk_arch)5;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  config(&c, dir);
  assert_int_equal(wsk_zoo_run(&c, &big, &te, &s), WSK_ERR_ARG); /* 28 x 28 for the MLP */
  assert_non_null(strstr(wsk_last_error(), "8 x 8"));
  te.y[3] = 12;
  assert_int_equal(wsk_zoo_run(&c, &tr, &te, &s), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "label 12"));
  te.y[3] = 1;
  /* a file where the directory should be */
  char p[512];
  snprintf(p, sizeof p, "%s/file", dir);
  assert_int_equal(wsk_file_write_atomic(p, "x", 1), WSK_OK);
  config(&c, p);
  assert_true(wsk_zoo_run(&c, &tr, &te, &s) != WSK_OK);
  /* a data directory without the files names them */
  config(&c, dir);
  c.data_dir = "/nonexistent-wsk-data";
  assert_int_equal(wsk_zoo_run(&c, NULL, NULL, &s), WSK_ERR_IO);
  assert_non_null(strstr(wsk_last_error(), "/nonexistent-wsk-data"));
  rm_rf(dir);
  free(dir);
  free_data(&tr);
  free_data(&te);
  free_data(&big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_files),
      cmocka_unit_test(test_parity),
      cmocka_unit_test(test_resume),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
