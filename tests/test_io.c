/* tests/test_io.c — files, text, CSV and progress (model/io.h, model/progress.h).
 *
 * 1. wsk_file_write_atomic: the content arrives, an existing file is
 *    replaced, no temporary file is left behind, an empty file works, a
 *    missing directory fails with WSK_ERR_IO naming the path and leaves
 *    nothing; wsk_file_read of a missing file and of a directory fail.
 * 2. wsk_mkdir_p: nested, existing, trailing and doubled slashes; a path
 *    through a regular file fails.
 * 3. wsk_strbuf: printf and appends across growth.
 * 4. CSV: wsk_csv_quote + wsk_csv_read round trip of fields with commas,
 *    quotes, CR/LF and empties; CRLF files, no final newline, blank lines, a
 *    byte-order mark; malformed text (unclosed quote, text after a closing
 *    quote, a short row, an empty file) fails with WSK_ERR_FORMAT and the line.
 * 5. Progress from 4 threads at once into a non-terminal stderr: few plain
 *    lines, one at the end with 100%.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, dup */

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "model/io.h"
#include "model/progress.h"
#include "wsk/status.h"

static char tmpdir[64];

static int make_tmpdir(void **state) {
  (void)state;
  strcpy(tmpdir, "/tmp/wsk_test_io_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("message \"%s\" lacks \"%s\"", hay, needle);
}

/* Number of entries of dir (without . and ..); *only receives the last name. */
static int count_entries(const char *dir, char *only, size_t n) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int c = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    c++;
    if (only) snprintf(only, n, "%s", e->d_name);
  }
  closedir(d);
  return c;
}

/* ---- 1. files ----------------------------------------------------------------------- */

static void test_atomic_write(void **state) {
  (void)state;
  char dir[128], path[192], name[256];
  snprintf(dir, sizeof dir, "%s/atomic", tmpdir);
  assert_int_equal(wsk_mkdir_p(dir), WSK_OK);
  snprintf(path, sizeof path, "%s/file.bin", dir);

  unsigned char big[100000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 31 + 7);
  assert_int_equal(wsk_file_write_atomic(path, big, sizeof big), WSK_OK);
  void *got;
  size_t n;
  assert_int_equal(wsk_file_read(path, &got, &n), WSK_OK);
  assert_int_equal(n, sizeof big);
  assert_memory_equal(got, big, sizeof big);
  assert_int_equal(((char *)got)[n], '\0'); /* the extra terminating zero */
  free(got);
  assert_int_equal(count_entries(dir, name, sizeof name), 1);
  assert_string_equal(name, "file.bin");

  /* replacing it */
  assert_int_equal(wsk_file_write_atomic(path, "hello", 5), WSK_OK);
  assert_int_equal(wsk_file_read(path, &got, &n), WSK_OK);
  assert_int_equal(n, 5);
  assert_string_equal(got, "hello");
  free(got);
  assert_int_equal(count_entries(dir, NULL, 0), 1);

  /* empty */
  assert_int_equal(wsk_file_write_atomic(path, NULL, 0), WSK_OK);
  assert_int_equal(wsk_file_read(path, &got, &n), WSK_OK);
  assert_int_equal(n, 0);
  free(got);

  /* a relative path (directory ".") */
  char cwd[512];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(dir), 0);
  assert_int_equal(wsk_file_write_atomic("rel.txt", "x", 1), WSK_OK);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(count_entries(dir, NULL, 0), 2);

  /* a missing directory: fails, names the path, leaves nothing */
  char bad[256];
  snprintf(bad, sizeof bad, "%s/no-such-dir/file.bin", dir);
  assert_int_equal(wsk_file_write_atomic(bad, "x", 1), WSK_ERR_IO);
  assert_contains(wsk_last_error(), bad);
  assert_int_equal(count_entries(dir, NULL, 0), 2);

  /* the target is a directory: the rename fails, the temporary file goes */
  assert_int_equal(wsk_file_write_atomic(dir, "x", 1), WSK_ERR_IO);
  assert_contains(wsk_last_error(), dir);
  char parent[128];
  snprintf(parent, sizeof parent, "%s", tmpdir);
  DIR *d = opendir(parent);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) assert_null(strstr(e->d_name, ".tmp."));
  closedir(d);

  assert_int_equal(wsk_file_write_atomic(NULL, "x", 1), WSK_ERR_NULL);
  assert_int_equal(wsk_file_write_atomic("", "x", 1), WSK_ERR_ARG);
}

static void test_file_read_errors(void **state) {
  (void)state;
  char p[192];
  void *got;
  size_t n;
  snprintf(p, sizeof p, "%s/missing.txt", tmpdir);
  assert_int_equal(wsk_file_read(p, &got, &n), WSK_ERR_IO);
  assert_contains(wsk_last_error(), p);
  assert_null(got);
  assert_int_equal(wsk_file_read(tmpdir, &got, &n), WSK_ERR_IO);
  assert_contains(wsk_last_error(), tmpdir);
}

/* ---- 2. mkdir -p --------------------------------------------------------------------- */

static void test_mkdir_p(void **state) {
  (void)state;
  char p[256];
  struct stat st;
  snprintf(p, sizeof p, "%s/m/a/b/c", tmpdir);
  assert_int_equal(wsk_mkdir_p(p), WSK_OK);
  assert_int_equal(stat(p, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(wsk_mkdir_p(p), WSK_OK); /* exists */
  snprintf(p, sizeof p, "%s/m//x///y/", tmpdir);
  assert_int_equal(wsk_mkdir_p(p), WSK_OK);
  snprintf(p, sizeof p, "%s/m/x/y", tmpdir);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(wsk_mkdir_p("/"), WSK_OK);

  /* through a regular file */
  char f[256];
  snprintf(f, sizeof f, "%s/m/plain", tmpdir);
  assert_int_equal(wsk_file_write_atomic(f, "x", 1), WSK_OK);
  assert_int_equal(wsk_mkdir_p(f), WSK_ERR_IO);
  assert_contains(wsk_last_error(), f);
  snprintf(p, sizeof p, "%s/m/plain/sub", tmpdir);
  assert_int_equal(wsk_mkdir_p(p), WSK_ERR_IO);
  assert_contains(wsk_last_error(), p);
  assert_int_equal(wsk_mkdir_p(""), WSK_ERR_ARG);
}

/* ---- 3. text ------------------------------------------------------------------------ */

static void test_strbuf(void **state) {
  (void)state;
  wsk_strbuf b = WSK_STRBUF_INIT;
  assert_int_equal(wsk_strbuf_printf(&b, "%d-%s", 42, "x"), WSK_OK);
  assert_string_equal(b.s, "42-x");
  assert_int_equal(b.len, 4);
  char big[1000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  for (int i = 0; i < 50; i++) assert_int_equal(wsk_strbuf_printf(&b, "|%s|%d", big, i), WSK_OK);
  assert_int_equal(b.len, 4 + 50 * (2 + 999) + 10 * 1 + 40 * 2);
  assert_int_equal(strlen(b.s), b.len);
  assert_true(b.cap > b.len);
  assert_int_equal(wsk_strbuf_append(&b, "!"), WSK_OK);
  assert_int_equal(b.s[b.len - 1], '!');
  assert_int_equal(wsk_strbuf_append_n(&b, "xyz", 2), WSK_OK);
  assert_string_equal(b.s + b.len - 3, "!xy");
  wsk_strbuf_free(&b);
  assert_null(b.s);
  assert_int_equal(b.len, 0);
  wsk_strbuf_free(&b); /* twice is fine */
}

/* ---- 4. CSV ------------------------------------------------------------------------- */

static void test_csv_round_trip(void **state) {
  (void)state;
  const char *header[] = {"name", "note, with comma", "q\"uote", "empty"};
  const char *rows[][4] = {
      {"plain", "a,b,c", "say \"hi\"", ""},
      {"line\nbreak", "crlf\r\ninside", "\"", "\"\""},
      {" spaces ", ",", "trailing,", "x"},
  };
  wsk_strbuf b = WSK_STRBUF_INIT;
  for (int c = 0; c < 4; c++) {
    if (c) assert_int_equal(wsk_strbuf_append(&b, ","), WSK_OK);
    assert_int_equal(wsk_csv_quote(&b, header[c]), WSK_OK);
  }
  assert_int_equal(wsk_strbuf_append(&b, "\n"), WSK_OK);
  for (int r = 0; r < 3; r++) {
    for (int c = 0; c < 4; c++) {
      if (c) assert_int_equal(wsk_strbuf_append(&b, ","), WSK_OK);
      assert_int_equal(wsk_csv_quote(&b, rows[r][c]), WSK_OK);
    }
    assert_int_equal(wsk_strbuf_append(&b, "\n"), WSK_OK);
  }
  /* quoting only where needed, quotes doubled */
  assert_non_null(strstr(b.s, "plain,\"a,b,c\",\"say \"\"hi\"\"\",\n"));

  char path[192];
  snprintf(path, sizeof path, "%s/t.csv", tmpdir);
  assert_int_equal(wsk_file_write_atomic(path, b.s, b.len), WSK_OK);
  wsk_strbuf_free(&b);
  wsk_csv csv;
  assert_int_equal(wsk_csv_read(path, &csv), WSK_OK);
  assert_int_equal(csv.ncols, 4);
  assert_int_equal(csv.nrows, 3);
  for (int c = 0; c < 4; c++) assert_string_equal(csv.header[c], header[c]);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) assert_string_equal(csv.rows[r][c], rows[r][c]);
  assert_int_equal(wsk_csv_col(&csv, "empty"), 3);
  assert_int_equal(wsk_csv_col(&csv, "q\"uote"), 2);
  assert_int_equal(wsk_csv_col(&csv, "nope"), -1);
  wsk_csv_free(&csv);
  assert_null(csv.rows);
  wsk_csv_free(&csv);
}

static void test_csv_variants(void **state) {
  (void)state;
  wsk_csv c;
  /* CRLF, no final line end, a blank line, a byte-order mark */
  const char *t =
      "\xEF\xBB\xBF"
      "a,b\r\n1,2\r\n\r\n3,\"4\"";
  assert_int_equal(wsk_csv_parse(t, strlen(t), "v.csv", &c), WSK_OK);
  assert_int_equal(c.ncols, 2);
  assert_int_equal(c.nrows, 2);
  assert_string_equal(c.header[0], "a");
  assert_string_equal(c.rows[0][1], "2");
  assert_string_equal(c.rows[1][0], "3");
  assert_string_equal(c.rows[1][1], "4");
  wsk_csv_free(&c);

  /* only a header; empty fields */
  t = "x,y,z\n,,\n";
  assert_int_equal(wsk_csv_parse(t, strlen(t), "v.csv", &c), WSK_OK);
  assert_int_equal(c.nrows, 1);
  assert_string_equal(c.rows[0][2], "");
  wsk_csv_free(&c);
  t = "only\n";
  assert_int_equal(wsk_csv_parse(t, strlen(t), "v.csv", &c), WSK_OK);
  assert_int_equal(c.ncols, 1);
  assert_int_equal(c.nrows, 0);
  wsk_csv_free(&c);

  /* malformed: the message names the file and the line */
  static const struct {
    const char *text, *where;
  } bad[] = {
      {"a,b\n1,\"2\n3,4\n", "line 2"}, /* quote never closed */
      {"a,b\n1,\"2\"x\n", "line 2"},   /* text after the closing quote */
      {"a,b\n1,2\n3\n", "line 3"},     /* short row */
      {"a,b\n\n\n1\n", "line 4"},      /* short row after blank lines */
      {"a,b\n1,2,3\n", "line 2"},      /* long row */
      {"", "empty"},
      {"\n\n", "empty"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(wsk_csv_parse(bad[i].text, strlen(bad[i].text), "bad.csv", &c),
                     WSK_ERR_FORMAT);
    assert_contains(wsk_last_error(), "bad.csv");
    assert_contains(wsk_last_error(), bad[i].where);
    assert_null(c.header);
    assert_null(c.rows);
  }

  char p[192];
  snprintf(p, sizeof p, "%s/none.csv", tmpdir);
  assert_int_equal(wsk_csv_read(p, &c), WSK_ERR_IO);
  assert_contains(wsk_last_error(), p);
}

/* ---- 5. progress ---------------------------------------------------------------------- */

static void *advance_many(void *arg) {
  wsk_progress *p = arg;
  for (int i = 0; i < 250; i++) wsk_progress_advance(p, 1, i % 50 == 0 ? "member note" : NULL);
  return NULL;
}

static void test_progress_threads(void **state) {
  (void)state;
  char path[192];
  snprintf(path, sizeof path, "%s/progress.txt", tmpdir);
  fflush(stderr);
  int saved = dup(2);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(saved >= 0 && dup2(fileno(f), 2) >= 0);

  wsk_progress *p = wsk_progress_begin("training", 1000);
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, advance_many, p);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  wsk_progress_end(p);
  wsk_progress_advance(NULL, 1, NULL); /* NULL is accepted */
  wsk_progress_end(NULL);

  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  fclose(f);
  void *text;
  size_t n;
  assert_int_equal(wsk_file_read(path, &text, &n), WSK_OK);
  int lines = 0;
  for (size_t i = 0; i < n; i++) lines += ((char *)text)[i] == '\n';
  /* one line per 5% at most, and the final one */
  if (lines < 1 || lines > 21) fail_msg("%d progress lines:\n%s", lines, (char *)text);
  assert_null(strchr(text, '\r'));
  const char *last = (char *)text + n - 1;
  while (last > (char *)text && last[-1] != '\n') last--;
  assert_contains(last, "training: 1000/1000 100%");
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_atomic_write),     cmocka_unit_test(test_file_read_errors),
      cmocka_unit_test(test_mkdir_p),          cmocka_unit_test(test_strbuf),
      cmocka_unit_test(test_csv_round_trip),   cmocka_unit_test(test_csv_variants),
      cmocka_unit_test(test_progress_threads),
  };
  return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
