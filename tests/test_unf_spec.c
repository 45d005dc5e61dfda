/* tests/test_unf_spec.c — weight-space specs and the UNF basis (model/unf.h).
 *
 * - built-ins: every one validates; "mlp" and "cnn" lay out exactly as
 *   model/net.h's parameter arrays (names, numel and offsets of every tensor,
 *   2,410 and 2,464 in all); "cnn16" is 5,130 floats; wsk_unf_spec_is_mlp;
 * - JSON: every built-in round-trips through to_json / parse_json; integer
 *   ids equal their decimal names; an optional "ids" table; wsk_unf_spec_load
 *   of a name, of a file and of a missing path;
 * - every invalid spec (not JSON, missing or ill-typed fields, shape/perm
 *   length mismatch, empty tensor list, zero or negative sizes, rank > 4,
 *   unknown keys, bad ids, sizes of one id that disagree, undeclared ids)
 *   gives the expected status and a message that names the tensor and the
 *   axis at fault;
 * - the basis: term counts per pair are products of Bell numbers (15 for
 *   w_hh from itself); for the MLP every output tensor has exactly eqpool's
 *   terms (its parameter rows with C_in = 1); the terms of a fusion group
 *   share their output structure and different groups differ; the notation
 *   of a few known terms; bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/net.h"
#include "model/unf.h"
#include "testutil.h"

static void load_builtin(const char *name, wsk_unf_spec *s) {
  wsk_status st = wsk_unf_spec_builtin(name, s);
  if (st != WSK_OK) print_error("%s: %s\n", name, wsk_last_error());
  assert_int_equal(st, WSK_OK);
}

/* ---- built-ins ---------------------------------------------------------------- */

static void same_as_net(const wsk_unf_spec *s, wsk_arch arch) {
  wsk_net net;
  assert_int_equal(wsk_net_make(&net, arch, WSK_NET_RELU, 0.0f), WSK_OK);
  assert_int_equal(s->n_tensors, net.n_tensors);
  assert_int_equal(s->numel, net.n_params);
  for (int i = 0; i < s->n_tensors; i++) {
    assert_string_equal(s->t[i].name, net.tensors[i].name);
    assert_int_equal(s->t[i].offset, net.tensors[i].offset);
    assert_int_equal(s->t[i].numel, net.tensors[i].numel);
  }
}

static void test_builtins(void **state) {
  (void)state;
  const char *const *names = wsk_unf_spec_builtin_names();
  int n = 0;
  for (; names[n]; n++) {
    wsk_unf_spec s;
    load_builtin(names[n], &s);
    assert_string_equal(s.name, names[n]);
    size_t total = 0;
    for (int i = 0; i < s.n_tensors; i++) {
      assert_int_equal(s.t[i].offset, total);
      total += s.t[i].numel;
      for (int a = 0; a < s.t[i].rank; a++)
        assert_int_equal(s.t[i].shape[a], s.id_size[s.t[i].ids[a]]);
    }
    assert_int_equal(total, s.numel);
  }
  assert_int_equal(n, 5);
  wsk_unf_spec s;
  load_builtin("mlp", &s);
  assert_int_equal(s.numel, WSK_MLP_PARAMS);
  same_as_net(&s, WSK_ARCH_MLP);
  int L = 0;
  int64_t nn[8];
  assert_true(wsk_unf_spec_is_mlp(&s, &L, nn));
  assert_int_equal(L, 2);
  assert_int_equal(nn[0], 64);
  assert_int_equal(nn[1], 32);
  assert_int_equal(nn[2], 10);
  load_builtin("cnn", &s);
  assert_int_equal(s.numel, WSK_CNN_PARAMS);
  same_as_net(&s, WSK_ARCH_CNN);
  assert_false(wsk_unf_spec_is_mlp(&s, NULL, NULL));
  load_builtin("cnn16", &s);
  assert_int_equal(s.numel, 16 * 9 + 16 + 32 * 16 * 9 + 32 + 10 * 32 + 10);
  assert_string_equal(s.t[2].name, "2.weight");
  assert_string_equal(s.t[4].name, "5.weight");
  assert_int_equal(s.id_size[s.t[0].ids[1]], 1); /* c0 */
  load_builtin("rnn", &s);
  assert_int_equal(s.t[1].ids[0], s.t[1].ids[1]); /* w_hh: one id on both axes */
  assert_false(wsk_unf_spec_is_mlp(&s, NULL, NULL));
  load_builtin("transformer", &s);
  assert_false(wsk_unf_spec_is_mlp(&s, NULL, NULL));
  assert_int_equal(wsk_unf_spec_builtin("resnet", &s), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "resnet"));
  assert_non_null(strstr(wsk_last_error(), "cnn16"));
}

/* A spec built in C, its validation messages, and is_mlp on a 3-layer MLP. */
static void test_build_in_c(void **state) {
  (void)state;
  wsk_unf_spec s;
  wsk_unf_spec_init(&s, "x");
  assert_int_equal(
      wsk_unf_spec_add(&s, "w1", 2, (const int64_t[]){32, 8}, (const char *[]){"h1", "in"}),
      WSK_OK);
  assert_int_equal(
      wsk_unf_spec_add(&s, "w2", 2, (const int64_t[]){4, 16}, (const char *[]){"h2", "h1"}),
      WSK_OK);
  assert_int_equal(s.n_ids, 3);
  assert_int_equal(wsk_unf_spec_finish(&s), WSK_ERR_ARG);
  assert_string_equal(wsk_last_error(),
                      "spec \"x\": tensor \"w2\" axis 1 (id \"h1\") has size 16 but id \"h1\" has "
                      "size 32 on tensor \"w1\" axis 0");
  wsk_unf_spec_init(&s, "x");
  assert_int_equal(wsk_unf_spec_finish(&s), WSK_ERR_ARG); /* no tensors */
  assert_int_equal(wsk_unf_spec_add(&s, "w", 0, (const int64_t[]){1}, (const char *[]){"a"}),
                   WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "\"w\""));
  assert_int_equal(wsk_unf_spec_add(&s, "w", 5, (const int64_t[]){1, 1, 1, 1, 1},
                                    (const char *[]){"a", "a", "a", "a", "a"}),
                   WSK_ERR_ARG);
  assert_int_equal(
      wsk_unf_spec_add(&s, "w", 2, (const int64_t[]){3, 0}, (const char *[]){"a", "b"}),
      WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "tensor \"w\" axis 1"));
  assert_int_equal(wsk_unf_spec_add(&s, "w", 2, (const int64_t[]){3, 3}, (const char *[]){"a", ""}),
                   WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "tensor \"w\" axis 1"));
  assert_int_equal(wsk_unf_spec_add(&s, "", 1, (const int64_t[]){3}, (const char *[]){"a"}),
                   WSK_ERR_ARG);
  assert_int_equal(wsk_unf_spec_add(NULL, "w", 1, (const int64_t[]){3}, (const char *[]){"a"}),
                   WSK_ERR_NULL);
  assert_int_equal(wsk_unf_spec_add(&s, "w", 1, NULL, (const char *[]){"a"}), WSK_ERR_NULL);
  assert_int_equal(wsk_unf_spec_add(&s, "w", 1, (const int64_t[]){3}, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_unf_spec_add(&s, "w", 1, (const int64_t[]){3}, (const char *[]){"a"}),
                   WSK_OK);
  assert_int_equal(wsk_unf_spec_add(&s, "w", 1, (const int64_t[]){3}, (const char *[]){"a"}),
                   WSK_ERR_ARG); /* twice */
  assert_non_null(strstr(wsk_last_error(), "\"w\" appears twice"));
  assert_int_equal(wsk_unf_spec_finish(NULL), WSK_ERR_NULL);

  /* an MLP 5-4-3-2: three layers; with a shared id it is not one */
  wsk_unf_spec_init(&s, "mlp3");
  const int64_t n[4] = {5, 4, 3, 2};
  const char *h[4] = {"h0", "h1", "h2", "h3"};
  for (int i = 1; i <= 3; i++) {
    char w[8], b[8];
    snprintf(w, sizeof w, "w%d", i);
    snprintf(b, sizeof b, "b%d", i);
    assert_int_equal(wsk_unf_spec_add(&s, w, 2, (const int64_t[]){n[i], n[i - 1]},
                                      (const char *[]){h[i], h[i - 1]}),
                     WSK_OK);
    assert_int_equal(wsk_unf_spec_add(&s, b, 1, &n[i], &h[i]), WSK_OK);
  }
  assert_int_equal(wsk_unf_spec_finish(&s), WSK_OK);
  assert_int_equal(s.numel, 4 * 5 + 4 + 3 * 4 + 3 + 2 * 3 + 2);
  assert_int_equal(s.t[4].offset, 4 * 5 + 4 + 3 * 4 + 3);
  int L = 0;
  int64_t got[4];
  assert_true(wsk_unf_spec_is_mlp(&s, &L, got));
  assert_int_equal(L, 3);
  for (int i = 0; i <= 3; i++) assert_int_equal(got[i], n[i]);
  wsk_unf_spec_init(&s, "tied");
  assert_int_equal(
      wsk_unf_spec_add(&s, "w1", 2, (const int64_t[]){4, 4}, (const char *[]){"h", "x"}), WSK_OK);
  assert_int_equal(wsk_unf_spec_add(&s, "b1", 1, (const int64_t[]){4}, (const char *[]){"h"}),
                   WSK_OK);
  assert_int_equal(
      wsk_unf_spec_add(&s, "w2", 2, (const int64_t[]){4, 4}, (const char *[]){"x", "h"}), WSK_OK);
  assert_int_equal(wsk_unf_spec_add(&s, "b2", 1, (const int64_t[]){4}, (const char *[]){"x"}),
                   WSK_OK);
  assert_int_equal(wsk_unf_spec_finish(&s), WSK_OK);
  assert_false(wsk_unf_spec_is_mlp(&s, NULL, NULL));
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void assert_same_spec(const wsk_unf_spec *a, const wsk_unf_spec *b) {
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->n_tensors, b->n_tensors);
  assert_int_equal(a->n_ids, b->n_ids);
  assert_int_equal(a->numel, b->numel);
  for (int k = 0; k < a->n_ids; k++) {
    assert_string_equal(a->id_name[k], b->id_name[k]);
    assert_int_equal(a->id_size[k], b->id_size[k]);
  }
  for (int i = 0; i < a->n_tensors; i++) {
    assert_string_equal(a->t[i].name, b->t[i].name);
    assert_int_equal(a->t[i].rank, b->t[i].rank);
    assert_int_equal(a->t[i].offset, b->t[i].offset);
    for (int x = 0; x < a->t[i].rank; x++) {
      assert_int_equal(a->t[i].shape[x], b->t[i].shape[x]);
      assert_int_equal(a->t[i].ids[x], b->t[i].ids[x]);
    }
  }
}

static void test_json_round_trip(void **state) {
  (void)state;
  for (const char *const *n = wsk_unf_spec_builtin_names(); *n; n++) {
    wsk_unf_spec s, r;
    load_builtin(*n, &s);
    wsk_strbuf b = WSK_STRBUF_INIT;
    assert_int_equal(wsk_unf_spec_to_json(&s, &b), WSK_OK);
    wsk_status st = wsk_unf_spec_parse_json(b.s, b.len, *n, &r);
    if (st != WSK_OK) print_error("%s\n%s\n", wsk_last_error(), b.s);
    assert_int_equal(st, WSK_OK);
    assert_same_spec(&s, &r);
    wsk_strbuf_free(&b);
  }
  /* integer ids are names: 0 and "0" are one id */
  const char *j =
      "{\"name\": \"i\", \"tensors\": [{\"name\": \"w\", \"shape\": [3, 2], \"perm\": [0, \"1\"]},"
      " {\"name\": \"b\", \"shape\": [3], \"perm\": [\"0\"]}, {\"name\": \"v\", \"shape\": [2],"
      " \"perm\": [1]}]}";
  wsk_unf_spec s;
  assert_int_equal(wsk_unf_spec_parse_json(j, strlen(j), "ints", &s), WSK_OK);
  assert_int_equal(s.n_ids, 2);
  assert_string_equal(s.id_name[0], "0");
  assert_int_equal(s.t[1].ids[0], 0);
  assert_int_equal(s.t[2].ids[0], 1);
  /* a declared id table */
  const char *d =
      "{\"name\": \"d\", \"ids\": {\"h\": 3, \"k\": 2}, \"tensors\": [{\"name\": \"w\", \"shape\":"
      " [3, 3, 2], \"perm\": [\"h\", \"h\", \"k\"]}]}";
  assert_int_equal(wsk_unf_spec_parse_json(d, strlen(d), "ids", &s), WSK_OK);
  assert_int_equal(s.numel, 18);
}

static void test_load(void **state) {
  (void)state;
  wsk_unf_spec s, r;
  assert_int_equal(wsk_unf_spec_load("rnn", &s), WSK_OK);
  assert_string_equal(s.name, "rnn");
  char path[64];
  snprintf(path, sizeof path, "/tmp/wsk_test_unf_spec_%ld.json", (long)getpid());
  wsk_strbuf b = WSK_STRBUF_INIT;
  assert_int_equal(wsk_unf_spec_to_json(&s, &b), WSK_OK);
  assert_int_equal(wsk_file_write_atomic(path, b.s, b.len), WSK_OK);
  wsk_strbuf_free(&b);
  assert_int_equal(wsk_unf_spec_load(path, &r), WSK_OK);
  assert_same_spec(&s, &r);
  /* a file's errors name the file */
  const char *bad = "{\"name\": \"x\", \"tensors\": []}";
  assert_int_equal(wsk_file_write_atomic(path, bad, strlen(bad)), WSK_OK);
  assert_int_equal(wsk_unf_spec_load(path, &r), WSK_ERR_FORMAT);
  assert_non_null(strstr(wsk_last_error(), path));
  remove(path);
  assert_int_not_equal(wsk_unf_spec_load("/nonexistent/spec.json", &r), WSK_OK);
  assert_non_null(strstr(wsk_last_error(), "/nonexistent/spec.json"));
  assert_non_null(strstr(wsk_last_error(), "transformer")); /* lists the built-ins */
  assert_int_equal(wsk_unf_spec_load(NULL, &r), WSK_ERR_NULL);
}

/* One invalid spec: its status and pieces its message must hold. */
typedef struct bad_case {
  const char *json;
  wsk_status status;
  const char *want[3];
} bad_case;

#define T2(x)                                                                                \
  "{\"name\": \"s\", \"tensors\": [{\"name\": \"w1\", \"shape\": [4, 3], \"perm\": [\"h\", " \
  "\"i\"]}, " x "]}"

static void test_invalid_json(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"{\"name\": \"s\", \"tensors\": [", WSK_ERR_FORMAT, {"not JSON"}},
      {"[1, 2]", WSK_ERR_FORMAT, {"not a JSON object"}},
      {"{\"name\": \"s\"} x", WSK_ERR_FORMAT, {"after the JSON"}},
      {"{\"tensors\": []}", WSK_ERR_FORMAT, {"no \"name\""}},
      {"{\"name\": 3, \"tensors\": []}", WSK_ERR_FORMAT, {"\"name\""}},
      {"{\"name\": \"s\"}", WSK_ERR_FORMAT, {"no \"tensors\""}},
      {"{\"name\": \"s\", \"tensors\": {}}", WSK_ERR_FORMAT, {"not an array"}},
      {"{\"name\": \"s\", \"tensors\": []}", WSK_ERR_FORMAT, {"empty"}},
      {"{\"name\": \"s\", \"tensors\": [], \"extra\": 1}",
       WSK_ERR_FORMAT,
       {"unknown key \"extra\""}},
      {T2("3"), WSK_ERR_FORMAT, {"tensors[1]", "not an object"}},
      {T2("{\"shape\": [4], \"perm\": [\"h\"]}"), WSK_ERR_FORMAT, {"tensors[1]", "no \"name\""}},
      {T2("{\"name\": \"w2\", \"perm\": [\"h\"]}"), WSK_ERR_FORMAT, {"\"w2\"", "no \"shape\""}},
      {T2("{\"name\": \"w2\", \"shape\": [4]}"), WSK_ERR_FORMAT, {"\"w2\"", "no \"perm\""}},
      {T2("{\"name\": \"w2\", \"shape\": 4, \"perm\": [\"h\"]}"),
       WSK_ERR_FORMAT,
       {"\"w2\"", "\"shape\" is not an array"}},
      {T2("{\"name\": \"w2\", \"shape\": [4], \"perm\": [\"h\"], \"dtype\": \"f32\"}"),
       WSK_ERR_FORMAT,
       {"\"w2\"", "unknown key \"dtype\""}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 4], \"perm\": [\"h\"]}"),
       WSK_ERR_FORMAT,
       {"\"w2\"", "2 axes but \"perm\" has 1"}},
      {T2("{\"name\": \"w2\", \"shape\": [], \"perm\": []}"), WSK_ERR_FORMAT, {"\"w2\"", "0 axes"}},
      {T2("{\"name\": \"w2\", \"shape\": [1, 1, 1, 1, 1], \"perm\": [\"a\", \"a\", \"a\", \"a\", "
          "\"a\"]}"),
       WSK_ERR_FORMAT,
       {"\"w2\"", "5 axes"}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 0], \"perm\": [\"h\", \"k\"]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 1", "size 0"}},
      {T2("{\"name\": \"w2\", \"shape\": [-2, 3], \"perm\": [\"h\", \"k\"]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 0", "size -2"}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 2.5], \"perm\": [\"h\", \"k\"]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 1", "not a positive integer"}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 3], \"perm\": [\"h\", -1]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 1", "id"}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 3], \"perm\": [\"h\", 1.5]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 1", "id"}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 3], \"perm\": [true, \"k\"]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 0", "id"}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 3], \"perm\": [\"h\", null]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 1", "id"}},
      {T2("{\"name\": \"w2\", \"shape\": [4, 3], \"perm\": [\"\", \"k\"]}"),
       WSK_ERR_FORMAT,
       {"tensor \"w2\" axis 0", "id"}},
      {T2("{\"name\": \"w2\", \"shape\": [5, 4], \"perm\": [\"h\", \"k\"]}"),
       WSK_ERR_ARG,
       {"tensor \"w2\" axis 0 (id \"h\") has size 5 but id \"h\" has size 4 on tensor \"w1\" axis "
        "0"}},
      {T2("{\"name\": \"w2\", \"shape\": [2, 3], \"perm\": [\"k\", \"h\"]}"),
       WSK_ERR_ARG,
       {"tensor \"w2\" axis 1 (id \"h\") has size 3 but id \"h\" has size 4 on tensor \"w1\" axis "
        "0"}},
      {T2("{\"name\": \"w1\", \"shape\": [4], \"perm\": [\"h\"]}"),
       WSK_ERR_ARG,
       {"\"w1\" appears twice"}},
      {"{\"name\": \"s\", \"ids\": {\"h\": 4}, \"tensors\": [{\"name\": \"w\", \"shape\": [4, 3], "
       "\"perm\": [\"h\", \"i\"]}]}",
       WSK_ERR_FORMAT,
       {"tensor \"w\" axis 1", "unknown id \"i\""}},
      {"{\"name\": \"s\", \"ids\": {\"h\": 4, \"i\": 2}, \"tensors\": [{\"name\": \"w\", "
       "\"shape\": "
       "[4, 3], \"perm\": [\"h\", \"i\"]}]}",
       WSK_ERR_FORMAT,
       {"tensor \"w\" axis 1", "declares 2"}},
      {"{\"name\": \"s\", \"ids\": {\"h\": 0}, \"tensors\": [{\"name\": \"w\", \"shape\": [4], "
       "\"perm\": [\"h\"]}]}",
       WSK_ERR_FORMAT,
       {"id \"h\"", "positive"}},
      {"{\"name\": \"s\", \"ids\": {\"h\": 4, \"z\": 1}, \"tensors\": [{\"name\": \"w\", "
       "\"shape\": "
       "[4], \"perm\": [\"h\"]}]}",
       WSK_ERR_FORMAT,
       {"id \"z\"", "no axis"}},
      {"{\"name\": \"s\", \"ids\": [], \"tensors\": [{\"name\": \"w\", \"shape\": [4], \"perm\": "
       "[\"h\"]}]}",
       WSK_ERR_FORMAT,
       {"\"ids\" is not an object"}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bad_case *c = &cases[i];
    wsk_unf_spec s;
    memset(&s, 0x5a, sizeof s);
    const wsk_status st = wsk_unf_spec_parse_json(c->json, strlen(c->json), "bad.json", &s);
    const char *msg = wsk_last_error();
    int ok = st == c->status && strstr(msg, "bad.json") != NULL;
    for (int k = 0; k < 3 && c->want[k]; k++) ok &= strstr(msg, c->want[k]) != NULL;
    if (!ok)
      print_error("case %zu: %s\n  status %s (want %s)\n  message: %s\n", i, c->json,
                  wsk_status_name(st), wsk_status_name(c->status), msg);
    assert_true(ok);
  }
  wsk_unf_spec s;
  assert_int_equal(wsk_unf_spec_parse_json(NULL, 0, "x", &s), WSK_ERR_NULL);
  assert_int_equal(wsk_unf_spec_parse_json("{}", 2, "x", NULL), WSK_ERR_NULL);
}

/* ---- the basis ------------------------------------------------------------------------ */

static void build_basis(const char *name, wsk_unf_basis *b) {
  wsk_unf_spec s;
  load_builtin(name, &s);
  const wsk_status st = wsk_unf_basis_build(&s, b);
  if (st != WSK_OK) print_error("%s: %s\n", name, wsk_last_error());
  assert_int_equal(st, WSK_OK);
}

/* Output structure of a term: its output blocks and which are fed. */
static unsigned structure(const wsk_unf_basis *b, const wsk_unf_term *t, int *blk) {
  const int ro = b->spec.t[t->out].rank, ri = b->spec.t[t->in].rank;
  unsigned fed = 0;
  for (int a = 0; a < ro; a++) blk[a] = t->block[a];
  for (int q = 0; q < ri; q++)
    for (int a = 0; a < ro; a++)
      if (t->block[ro + q] == t->block[a]) fed |= 1u << t->block[a];
  return fed;
}

static int has_term(const wsk_unf_basis *b, const char *want) {
  for (int i = 0; i < b->n_terms; i++) {
    wsk_strbuf s = WSK_STRBUF_INIT;
    assert_int_equal(wsk_unf_term_string(b, i, &s), WSK_OK);
    const int eq = strcmp(s.s, want) == 0;
    wsk_strbuf_free(&s);
    if (eq) return 1;
  }
  return 0;
}

/* Invariants every basis keeps: counts, grouping, valid partitions. */
static void check_basis(const wsk_unf_basis *b) {
  const wsk_unf_spec *s = &b->spec;
  int total = 0;
  for (int o = 0; o < s->n_tensors; o++) {
    size_t want = 0;
    for (int t = 0; t < s->n_tensors; t++) {
      size_t c;
      assert_int_equal(wsk_unf_pair_term_count(s, o, t, &c), WSK_OK);
      want += c;
    }
    assert_int_equal(b->terms_of[o], want);
    total += b->terms_of[o];
    int got = 0;
    for (int g = b->first_group[o]; g < b->first_group[o + 1]; g++) {
      const wsk_unf_group *G = &b->groups[g];
      assert_int_equal(G->out, o);
      assert_true(G->n_terms >= 1);
      if (g > b->first_group[o])
        assert_int_equal(G->first_term, b->groups[g - 1].first_term + b->groups[g - 1].n_terms);
      got += G->n_terms;
      for (int i = G->first_term; i < G->first_term + G->n_terms; i++) {
        const wsk_unf_term *t = &b->terms[i];
        assert_int_equal(t->out, o);
        assert_int_equal(t->group, g);
        if (i > G->first_term) assert_true(t->in >= b->terms[i - 1].in); /* term-list order */
        int blk[WSK_UNF_MAX_RANK];
        assert_int_equal(structure(b, t, blk), G->fed);
        for (int a = 0; a < s->t[o].rank; a++) assert_int_equal(blk[a], G->out_block[a]);
        /* a valid partition: one id per block, blocks numbered by first appearance */
        const int n = s->t[o].rank + s->t[t->in].rank;
        int id_of[WSK_UNF_MAX_AXES], next = 0;
        for (int a = 0; a < n; a++) {
          const int id = a < s->t[o].rank ? s->t[o].ids[a] : s->t[t->in].ids[a - s->t[o].rank];
          assert_true(t->block[a] <= next);
          if (t->block[a] == next) id_of[next++] = id;
          assert_int_equal(id_of[t->block[a]], id);
        }
        assert_int_equal(t->n_blocks, next);
      }
      /* different groups of one output differ in structure */
      for (int h = b->first_group[o]; h < g; h++) {
        const wsk_unf_group *H = &b->groups[h];
        int same = H->fed == G->fed && H->n_out_blocks == G->n_out_blocks;
        for (int a = 0; a < s->t[o].rank; a++) same &= H->out_block[a] == G->out_block[a];
        assert_false(same);
      }
    }
    assert_int_equal(got, b->terms_of[o]);
  }
  assert_int_equal(total, b->n_terms);
}

static void test_basis(void **state) {
  (void)state;
  for (const char *const *n = wsk_unf_spec_builtin_names(); *n; n++) {
    wsk_unf_basis b;
    build_basis(*n, &b);
    check_basis(&b);
    printf("  %-12s %3d tensors, %5d terms, %4d fusion groups\n", *n, b.spec.n_tensors, b.n_terms,
           b.n_groups);
    wsk_unf_basis_free(&b);
  }
  /* the RNN: w_hh from itself is Bell(4) = 15 terms; from b_h Bell(3) = 5 */
  wsk_unf_basis b;
  build_basis("rnn", &b);
  size_t c;
  assert_int_equal(wsk_unf_pair_term_count(&b.spec, 1, 1, &c), WSK_OK);
  assert_int_equal(c, 15);
  assert_int_equal(wsk_unf_pair_term_count(&b.spec, 1, 2, &c), WSK_OK);
  assert_int_equal(c, 5);
  int n11 = 0;
  for (int i = 0; i < b.n_terms; i++) n11 += b.terms[i].out == 1 && b.terms[i].in == 1;
  assert_int_equal(n11, 15);
  assert_true(has_term(&b, "w_hh[aa] <- b_h[a]"));
  assert_true(has_term(&b, "w_hh[aa] <- b_h[b]"));
  assert_true(has_term(&b, "w_hh[ab] <- w_hh[ba]"));
  assert_true(has_term(&b, "w_hh[ab] <- w_hh[cc]"));
  assert_true(has_term(&b, "b_h[a] <- w_hh[aa]"));
  assert_false(has_term(&b, "w_hh[ab] <- w_ih[ab]")); /* w_ih's second axis is "in" */
  /* the first term of the pair puts every id's axes in one block */
  for (int i = 0; i < b.n_terms; i++) {
    wsk_strbuf s = WSK_STRBUF_INIT;
    assert_int_equal(wsk_unf_term_string(&b, i, &s), WSK_OK);
    if (strcmp(s.s, "w_hh[aa] <- w_hh[aa]") == 0) assert_int_equal(b.terms[i].n_blocks, 1);
    wsk_strbuf_free(&s);
  }
  assert_int_equal(wsk_unf_term_string(&b, b.n_terms, &(wsk_strbuf)WSK_STRBUF_INIT), WSK_ERR_ARG);
  wsk_unf_basis_free(&b);

  /* the MLP: each output tensor has eqpool's terms (rows at C_in = 1) */
  build_basis("mlp", &b);
  assert_true(has_term(&b, "0.weight[ab] <- 0.weight[ab]"));
  assert_true(has_term(&b, "2.weight[ab] <- 0.weight[bc]"));
  assert_true(has_term(&b, "0.weight[ab] <- 2.weight[ca]"));
  assert_true(has_term(&b, "2.bias[a] <- 0.bias[b]"));
  const int64_t nn[3] = {64, 32, 10};
  const wsk_eqpool_shape es = {2, nn, 1, 1};
  for (int i = 1; i <= 2; i++) {
    size_t wrows = 0, brows = 0, off, rows;
    for (int t = WSK_EQ_WPT; t <= WSK_EQ_WGLOB; t++) {
      assert_int_equal(wsk_eqpool_param_offset(&es, i, (wsk_eqpool_term)t, &off, &rows), WSK_OK);
      wrows += rows;
    }
    for (int t = WSK_EQ_BPT; t <= WSK_EQ_BGLOB; t++) {
      assert_int_equal(wsk_eqpool_param_offset(&es, i, (wsk_eqpool_term)t, &off, &rows), WSK_OK);
      brows += rows;
    }
    assert_int_equal(b.terms_of[2 * i - 2], wrows);
    assert_int_equal(b.terms_of[2 * i - 1], brows);
  }
  assert_int_equal(b.terms_of[0], 9); /* Wpt, Wrow, Wnext, Wb, Wcol + 4 global means */
  assert_int_equal(b.terms_of[2], 10);
  wsk_unf_basis_free(&b);

  wsk_unf_spec empty;
  wsk_unf_spec_init(&empty, "empty");
  assert_int_equal(wsk_unf_basis_build(&empty, &b), WSK_ERR_ARG);
  assert_int_equal(wsk_unf_basis_build(NULL, &b), WSK_ERR_NULL);
  assert_int_equal(wsk_unf_pair_term_count(&empty, 0, 0, &c), WSK_ERR_ARG);
  wsk_unf_basis_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtins),        cmocka_unit_test(test_build_in_c),
      cmocka_unit_test(test_json_round_trip), cmocka_unit_test(test_load),
      cmocka_unit_test(test_invalid_json),    cmocka_unit_test(test_basis),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
