/* tests/test_safetensors.c — safetensors files of F32 tensors (model/safetensors.h).
 *
 * 1. Round trip: tensors of rank 0..4 (one empty) and metadata come back
 *    with their names, shapes and bits, in data-offset order; the file has
 *    the format's layout (u64 little-endian header length, a multiple of 8,
 *    JSON starting with '{' padded with spaces, the data right after).
 * 2. The writer rejects duplicate, empty and reserved names, bad ranks,
 *    negative shapes, missing data and metadata keys without a value.
 * 3. Malformed files (built byte by byte here) are rejected with
 *    WSK_ERR_FORMAT and a message naming the file: too short, header length
 *    past the end, not JSON, bytes after the JSON, a dtype other than F32
 *    (message names tensor and dtype), shape x 4 != offset span, offsets past
 *    the end, overlapping, a gap, data not covered, bad offsets, negative or
 *    fractional shape, duplicate names, non-string metadata, a tensor that is
 *    not an object.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "model/io.h"
#include "model/safetensors.h"
#include "wsk/status.h"

static char tmpdir[64];

static int make_tmpdir(void **state) {
  (void)state;
  strcpy(tmpdir, "/tmp/wsk_test_st_XXXXXX");
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

/* ---- 1. round trip ------------------------------------------------------------------ */

static void test_round_trip(void **state) {
  (void)state;
  float w0[32 * 64], b0[32], w2[10 * 32], conv[2 * 3 * 2 * 2], scalar = -0.0f;
  for (size_t i = 0; i < 32 * 64; i++) w0[i] = (float)i * 0.001f - 1.0f;
  for (size_t i = 0; i < 32; i++) b0[i] = (float)i;
  for (size_t i = 0; i < 10 * 32; i++) w2[i] = 1.0f / (float)(i + 1);
  for (size_t i = 0; i < 24; i++) conv[i] = (float)i * -3.5f;
  w0[5] = 1e-40f; /* a subnormal survives too */
  const wsk_tensor_ref t[] = {
      {"0.weight", 2, {32, 64}, w0}, {"0.bias", 1, {32}, b0},         {"2.weight", 2, {10, 32}, w2},
      {"empty", 2, {0, 7}, NULL},    {"conv", 4, {2, 3, 2, 2}, conv}, {"scalar", 0, {0}, &scalar},
  };
  const char *meta[] = {"epoch", "5", "optimizer", "adam", "note", "quote \" and \\ and \xc3\xa9",
                        NULL};
  char path[192];
  snprintf(path, sizeof path, "%s/m.safetensors", tmpdir);
  assert_int_equal(wsk_safetensors_write(path, t, 6, meta), WSK_OK);

  /* layout */
  unsigned char *bytes;
  size_t n;
  assert_int_equal(wsk_file_read(path, (void **)&bytes, &n), WSK_OK);
  uint64_t hlen = 0;
  for (int k = 0; k < 8; k++) hlen |= (uint64_t)bytes[k] << (8 * k);
  assert_int_equal(hlen % 8, 0);
  assert_int_equal(bytes[8], '{');
  const size_t data_bytes = 4 * (32 * 64 + 32 + 10 * 32 + 24 + 1);
  assert_int_equal(n, 8 + hlen + data_bytes);
  assert_non_null(strstr((char *)bytes + 8, "\"dtype\":\"F32\""));
  assert_memory_equal(bytes + 8 + hlen, w0, sizeof w0); /* little-endian host */
  free(bytes);

  wsk_safetensors st;
  assert_int_equal(wsk_safetensors_read(path, &st), WSK_OK);
  assert_int_equal(st.count, 6);
  /* data-offset order = write order; the empty tensor sorts at its offset */
  static const char *order[] = {"0.weight", "0.bias", "2.weight", "empty", "conv", "scalar"};
  for (size_t i = 0; i < 6; i++) assert_string_equal(st.names[i], order[i]);
  for (size_t i = 0; i < 6; i++) {
    long j = wsk_safetensors_find(&st, t[i].name);
    assert_int_equal(j, (long)i);
    assert_int_equal(st.ranks[j], t[i].rank);
    for (int k = 0; k < t[i].rank; k++) assert_int_equal(st.shapes[j][k], t[i].shape[k]);
    size_t numel = wsk_safetensors_numel(&st, (size_t)j);
    if (numel) assert_memory_equal(st.data[j], t[i].data, numel * 4);
  }
  assert_int_equal(wsk_safetensors_numel(&st, 3), 0);
  assert_int_equal(wsk_safetensors_numel(&st, 5), 1);
  assert_int_equal(wsk_safetensors_find(&st, "missing"), -1);
  assert_int_equal(st.nmeta, 3);
  assert_string_equal(wsk_safetensors_meta(&st, "epoch"), "5");
  assert_string_equal(wsk_safetensors_meta(&st, "optimizer"), "adam");
  assert_string_equal(wsk_safetensors_meta(&st, "note"), meta[5]);
  assert_null(wsk_safetensors_meta(&st, "nope"));
  wsk_safetensors_free(&st);
  assert_int_equal(st.count, 0);
  wsk_safetensors_free(&st);

  /* no tensors, no metadata */
  assert_int_equal(wsk_safetensors_write(path, NULL, 0, NULL), WSK_OK);
  assert_int_equal(wsk_safetensors_read(path, &st), WSK_OK);
  assert_int_equal(st.count, 0);
  assert_int_equal(st.nmeta, 0);
  wsk_safetensors_free(&st);
}

/* ---- 2. writer errors --------------------------------------------------------------- */

static void test_write_errors(void **state) {
  (void)state;
  float x[4] = {1, 2, 3, 4};
  char path[192];
  snprintf(path, sizeof path, "%s/w.safetensors", tmpdir);
  const wsk_tensor_ref dup[] = {{"a", 1, {4}, x}, {"a", 1, {4}, x}};
  assert_int_equal(wsk_safetensors_write(path, dup, 2, NULL), WSK_ERR_ARG);
  assert_contains(wsk_last_error(), "\"a\"");
  const wsk_tensor_ref empty_name[] = {{"", 1, {4}, x}};
  assert_int_equal(wsk_safetensors_write(path, empty_name, 1, NULL), WSK_ERR_ARG);
  const wsk_tensor_ref reserved[] = {{"__metadata__", 1, {4}, x}};
  assert_int_equal(wsk_safetensors_write(path, reserved, 1, NULL), WSK_ERR_ARG);
  const wsk_tensor_ref rank9[] = {{"r", 9, {1, 1, 1, 1, 1, 1, 1, 1}, x}};
  assert_int_equal(wsk_safetensors_write(path, rank9, 1, NULL), WSK_ERR_ARG);
  const wsk_tensor_ref neg[] = {{"n", 2, {2, -2}, x}};
  assert_int_equal(wsk_safetensors_write(path, neg, 1, NULL), WSK_ERR_ARG);
  const wsk_tensor_ref nodata[] = {{"d", 1, {4}, NULL}};
  assert_int_equal(wsk_safetensors_write(path, nodata, 1, NULL), WSK_ERR_NULL);
  const wsk_tensor_ref ok[] = {{"a", 1, {4}, x}};
  const char *meta[] = {"key", NULL, NULL};
  assert_int_equal(wsk_safetensors_write(path, ok, 1, meta), WSK_ERR_ARG);
  const char *meta2[] = {"k", "1", "k", "2", NULL};
  assert_int_equal(wsk_safetensors_write(path, ok, 1, meta2), WSK_ERR_ARG);
  /* nothing was written by the failures */
  assert_int_equal(access(path, F_OK), -1);
  /* a missing directory */
  char bad[256];
  snprintf(bad, sizeof bad, "%s/none/w.safetensors", tmpdir);
  assert_int_equal(wsk_safetensors_write(bad, ok, 1, NULL), WSK_ERR_IO);
  assert_contains(wsk_last_error(), bad);
}

/* ---- 3. malformed files --------------------------------------------------------------- */

/* A file: header length hlen_field (or the real one when ~0), the JSON, then
 * data_len bytes of data. */
static unsigned char *make_file(const char *json, uint64_t hlen_field, size_t data_len, size_t *n) {
  const size_t jl = strlen(json);
  *n = 8 + jl + data_len;
  unsigned char *b = calloc(*n, 1);
  assert_non_null(b);
  const uint64_t h = hlen_field == ~(uint64_t)0 ? jl : hlen_field;
  for (int k = 0; k < 8; k++) b[k] = (unsigned char)(h >> (8 * k));
  memcpy(b + 8, json, jl);
  return b;
}

static void expect_bad(const char *json, uint64_t hlen_field, size_t data_len, const char *what) {
  size_t n;
  unsigned char *b = make_file(json, hlen_field, data_len, &n);
  wsk_safetensors st;
  wsk_status s = wsk_safetensors_parse(b, n, "bad.safetensors", &st);
  if (s != WSK_ERR_FORMAT)
    fail_msg("%s: status %s (%s) for header %s", what, wsk_status_name(s), wsk_last_error(), json);
  assert_contains(wsk_last_error(), "bad.safetensors");
  assert_int_equal(st.count, 0);
  assert_null(st.names);
  free(b);
}

#define ALL (~(uint64_t)0)

static void test_malformed(void **state) {
  (void)state;
  /* a good one first, so the cases below differ in one thing each */
  {
    size_t n;
    unsigned char *b = make_file(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"__metadata__\":{\"k\":\"v\"}}   ",
        ALL, 8, &n);
    wsk_safetensors st;
    assert_int_equal(wsk_safetensors_parse(b, n, "good", &st), WSK_OK);
    assert_int_equal(st.count, 1);
    wsk_safetensors_free(&st);
    free(b);
  }
  const char *ok_a = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

  /* too short for the length field */
  {
    wsk_safetensors st;
    assert_int_equal(wsk_safetensors_parse("\x02\0\0", 3, "bad.safetensors", &st), WSK_ERR_FORMAT);
    assert_contains(wsk_last_error(), "bad.safetensors");
  }
  /* header length past the end, and absurdly large */
  expect_bad(ok_a, 1000, 8, "header length past the end");
  expect_bad(ok_a, (uint64_t)1 << 62, 8, "huge header length");
  expect_bad(ok_a, 0, 8, "zero header length");
  /* not JSON / not an object / bytes after the JSON */
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],", ALL, 8, "cut JSON");
  expect_bad("[1, 2]  ", ALL, 0, "JSON array");
  expect_bad("{} garbage", ALL, 0, "bytes after the JSON");
  /* dtype */
  expect_bad("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", ALL, 4, "F16");
  assert_contains(wsk_last_error(), "\"a\"");
  assert_contains(wsk_last_error(), "F16");
  expect_bad("{\"big\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", ALL, 8, "F64");
  assert_contains(wsk_last_error(), "\"big\"");
  assert_contains(wsk_last_error(), "F64");
  expect_bad("{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", ALL, 8, "dtype number");
  /* shape x 4 != span */
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", ALL, 8,
             "shape/span");
  assert_contains(wsk_last_error(), "\"a\"");
  /* offsets past the end of the data (a truncated file) */
  expect_bad(ok_a, ALL, 4, "truncated data");
  /* overlapping */
  expect_bad(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
      ALL, 12, "overlap");
  assert_contains(wsk_last_error(), "overlap");
  /* a gap */
  expect_bad(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
      ALL, 12, "gap");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", ALL, 8,
             "gap at the start");
  /* data not covered */
  expect_bad(ok_a, ALL, 12, "uncovered data");
  /* offsets malformed */
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", ALL, 8,
             "decreasing offsets");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", ALL, 8,
             "one offset");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", ALL, 8,
             "fractional offset");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", ALL, 8, "no offsets");
  /* shape malformed */
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", ALL, 8,
             "negative shape");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", ALL, 8,
             "fractional shape");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}",
             ALL, 8, "rank 9");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", ALL, 8,
             "string shape");
  /* duplicate tensor */
  expect_bad(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
      ALL, 8, "duplicate");
  /* metadata */
  expect_bad("{\"__metadata__\":{\"k\":1}}", ALL, 0, "number metadata");
  expect_bad("{\"__metadata__\":[\"k\"]}", ALL, 0, "array metadata");
  /* a tensor that is not an object */
  expect_bad("{\"a\":[0,8]}", ALL, 8, "tensor array");

  /* through a file, and a missing file is WSK_ERR_IO */
  char path[192];
  snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
  size_t n;
  unsigned char *b = make_file(ok_a, ALL, 4, &n);
  assert_int_equal(wsk_file_write_atomic(path, b, n), WSK_OK);
  free(b);
  wsk_safetensors st;
  assert_int_equal(wsk_safetensors_read(path, &st), WSK_ERR_FORMAT);
  assert_contains(wsk_last_error(), path);
  snprintf(path, sizeof path, "%s/missing.safetensors", tmpdir);
  assert_int_equal(wsk_safetensors_read(path, &st), WSK_ERR_IO);
  assert_contains(wsk_last_error(), path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_write_errors),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
