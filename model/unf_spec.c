/* model/unf_spec.c — weight-space specs (model/unf.h): building and
 * validating them, the built-in specs of wsk's networks, their JSON form
 * (cJSON), and the action of one permutation per id on a space (the symmetry
 * group that the UNF layers of Zhou, Finn, Harrison 2024 respect). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "model/net.h"
#include "model/unf.h"

/* Spec names in messages: the name, or "(unnamed)". */
static const char *sname(const wsk_unf_spec *s) { return s->name[0] ? s->name : "(unnamed)"; }

void wsk_unf_spec_init(wsk_unf_spec *s, const char *name) {
  if (!s) return;
  memset(s, 0, sizeof *s);
  if (name) snprintf(s->name, sizeof s->name, "%s", name);
}

/* Index of id `name`, or -1. */
static int id_find(const wsk_unf_spec *s, const char *name) {
  for (int k = 0; k < s->n_ids; k++)
    if (strcmp(s->id_name[k], name) == 0) return k;
  return -1;
}

wsk_status wsk_unf_spec_add(wsk_unf_spec *s, const char *name, int rank, const int64_t *shape,
                            const char *const *ids) {
  if (!s || !name || !shape || !ids)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_spec_add: %s is NULL",
                     !s       ? "s"
                     : !name  ? "name"
                     : !shape ? "shape"
                              : "ids");
  if (!name[0]) return wsk__fail(WSK_ERR_ARG, "spec \"%s\": a tensor has an empty name", sname(s));
  if (strlen(name) >= WSK_UNF_NAME)
    return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor name \"%s\" is longer than %d bytes",
                     sname(s), name, WSK_UNF_NAME - 1);
  for (int t = 0; t < s->n_tensors; t++)
    if (strcmp(s->t[t].name, name) == 0)
      return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor \"%s\" appears twice (tensors %d and %d)",
                       sname(s), name, t, s->n_tensors);
  if (rank < 1 || rank > WSK_UNF_MAX_RANK)
    return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor \"%s\" has %d axes; 1 to %d are allowed",
                     sname(s), name, rank, WSK_UNF_MAX_RANK);
  if (s->n_tensors >= WSK_UNF_MAX_TENSORS)
    return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor \"%s\" is one too many (at most %d)",
                     sname(s), name, WSK_UNF_MAX_TENSORS);
  int new_ids = 0;
  for (int a = 0; a < rank; a++) {
    if (!ids[a])
      return wsk__fail(WSK_ERR_NULL, "spec \"%s\": tensor \"%s\" axis %d: id is NULL", sname(s),
                       name, a);
    if (!ids[a][0])
      return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor \"%s\" axis %d: the id is empty", sname(s),
                       name, a);
    if (strlen(ids[a]) >= WSK_UNF_NAME)
      return wsk__fail(WSK_ERR_ARG,
                       "spec \"%s\": tensor \"%s\" axis %d: id \"%s\" is longer than %d bytes",
                       sname(s), name, a, ids[a], WSK_UNF_NAME - 1);
    if (shape[a] < 1)
      return wsk__fail(
          WSK_ERR_SIZE,
          "spec \"%s\": tensor \"%s\" axis %d (id \"%s\") has size %lld; sizes must be >= 1",
          sname(s), name, a, ids[a], (long long)shape[a]);
    int seen = id_find(s, ids[a]) >= 0;
    for (int b = 0; b < a && !seen; b++) seen = strcmp(ids[b], ids[a]) == 0;
    new_ids += !seen;
  }
  if (s->n_ids + new_ids > WSK_UNF_MAX_IDS)
    return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor \"%s\" brings the ids past %d", sname(s),
                     name, WSK_UNF_MAX_IDS);
  wsk_unf_tensor *t = &s->t[s->n_tensors++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rank = rank;
  for (int a = 0; a < rank; a++) {
    int k = id_find(s, ids[a]);
    if (k < 0) {
      k = s->n_ids++;
      snprintf(s->id_name[k], sizeof s->id_name[k], "%s", ids[a]);
      s->id_size[k] = shape[a];
    }
    t->shape[a] = shape[a];
    t->ids[a] = k;
  }
  return WSK_OK;
}

wsk_status wsk_unf_spec_finish(wsk_unf_spec *s) {
  if (!s) return wsk__fail(WSK_ERR_NULL, "wsk_unf_spec_finish: s is NULL");
  if (s->n_tensors < 1 || s->n_tensors > WSK_UNF_MAX_TENSORS)
    return wsk__fail(WSK_ERR_ARG, "spec \"%s\": %d tensors; 1 to %d are allowed", sname(s),
                     s->n_tensors, WSK_UNF_MAX_TENSORS);
  if (s->n_ids < 1 || s->n_ids > WSK_UNF_MAX_IDS)
    return wsk__fail(WSK_ERR_ARG, "spec \"%s\": %d ids; 1 to %d are allowed", sname(s), s->n_ids,
                     WSK_UNF_MAX_IDS);
  /* where each id first appears: its size is the one found there */
  int first_t[WSK_UNF_MAX_IDS], first_a[WSK_UNF_MAX_IDS];
  for (int k = 0; k < s->n_ids; k++) first_t[k] = -1, first_a[k] = -1;
  size_t offset = 0;
  for (int i = 0; i < s->n_tensors; i++) {
    wsk_unf_tensor *t = &s->t[i];
    if (!memchr(t->name, 0, sizeof t->name) || !t->name[0])
      return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor %d has an empty name", sname(s), i);
    for (int j = 0; j < i; j++)
      if (strcmp(s->t[j].name, t->name) == 0)
        return wsk__fail(WSK_ERR_ARG,
                         "spec \"%s\": tensor \"%s\" appears twice (tensors %d and %d)", sname(s),
                         t->name, j, i);
    if (t->rank < 1 || t->rank > WSK_UNF_MAX_RANK)
      return wsk__fail(WSK_ERR_ARG, "spec \"%s\": tensor \"%s\" has %d axes; 1 to %d are allowed",
                       sname(s), t->name, t->rank, WSK_UNF_MAX_RANK);
    size_t numel = 1;
    for (int a = 0; a < t->rank; a++) {
      const int k = t->ids[a];
      if (k < 0 || k >= s->n_ids)
        return wsk__fail(WSK_ERR_ARG,
                         "spec \"%s\": tensor \"%s\" axis %d: id index %d is not one of the %d ids",
                         sname(s), t->name, a, k, s->n_ids);
      if (t->shape[a] < 1)
        return wsk__fail(
            WSK_ERR_SIZE,
            "spec \"%s\": tensor \"%s\" axis %d (id \"%s\") has size %lld; sizes must be >= 1",
            sname(s), t->name, a, s->id_name[k], (long long)t->shape[a]);
      if (first_t[k] < 0) {
        first_t[k] = i, first_a[k] = a;
        s->id_size[k] = t->shape[a];
      } else if (t->shape[a] != s->id_size[k]) {
        return wsk__fail(
            WSK_ERR_ARG,
            "spec \"%s\": tensor \"%s\" axis %d (id \"%s\") has size %lld but id \"%s\" "
            "has size %lld on tensor \"%s\" axis %d",
            sname(s), t->name, a, s->id_name[k], (long long)t->shape[a], s->id_name[k],
            (long long)s->id_size[k], s->t[first_t[k]].name, first_a[k]);
      }
      if ((uint64_t)t->shape[a] > SIZE_MAX / numel)
        return wsk__fail(WSK_ERR_OVERFLOW, "spec \"%s\": tensor \"%s\" axis %d: too many elements",
                         sname(s), t->name, a);
      numel *= (size_t)t->shape[a];
    }
    if (numel > SIZE_MAX / sizeof(float) - offset)
      return wsk__fail(WSK_ERR_OVERFLOW, "spec \"%s\": tensor \"%s\": too many elements in all",
                       sname(s), t->name);
    t->offset = offset;
    t->numel = numel;
    offset += numel;
  }
  for (int k = 0; k < s->n_ids; k++)
    if (first_t[k] < 0)
      return wsk__fail(WSK_ERR_ARG, "spec \"%s\": id \"%s\" is carried by no axis", sname(s),
                       s->id_name[k]);
  s->numel = offset;
  return WSK_OK;
}

/* ---- built-ins ------------------------------------------------------------------- */

typedef struct bt {
  const char *name;
  int rank;
  int64_t shape[WSK_UNF_MAX_RANK];
  const char *ids[WSK_UNF_MAX_RANK];
} bt;

static wsk_status build(const char *name, const bt *t, int n, wsk_unf_spec *out) {
  wsk_unf_spec_init(out, name);
  for (int i = 0; i < n; i++)
    WSK_TRY(wsk_unf_spec_add(out, t[i].name, t[i].rank, t[i].shape, t[i].ids));
  return wsk_unf_spec_finish(out);
}

/* model/net.h's MLP 64-32-10. */
static const bt b_mlp[] = {
    {"0.weight", 2, {32, 64}, {"h1", "in"}},
    {"0.bias", 1, {32}, {"h1"}},
    {"2.weight", 2, {10, 32}, {"out", "h1"}},
    {"2.bias", 1, {10}, {"out"}},
};

/* model/net.h's CNN (the paper's 2,464 parameters); the flatten of 4 x 3 x 3
 * in PyTorch's [c][h][w] order makes 9.weight [20][36] = [20][4][9]. */
static const bt b_cnn[] = {
    {"0.weight", 4, {8, 1, 5, 5}, {"c1", "c0", "k0h", "k0w"}},
    {"0.bias", 1, {8}, {"c1"}},
    {"3.weight", 4, {6, 8, 5, 5}, {"c2", "c1", "k3h", "k3w"}},
    {"3.bias", 1, {6}, {"c2"}},
    {"6.weight", 4, {4, 6, 2, 2}, {"c3", "c2", "k6h", "k6w"}},
    {"6.bias", 1, {4}, {"c3"}},
    {"9.weight", 3, {20, 4, 9}, {"f", "c3", "s"}},
    {"9.bias", 1, {20}, {"f"}},
    {"11.weight", 2, {10, 20}, {"out", "f"}},
    {"11.bias", 1, {10}, {"out"}},
};

/* The learned optimizer's CNN task: conv 3x3 1->16, conv 3x3 16->32, global
 * average pool, linear 32->10. */
static const bt b_cnn16[] = {
    {"0.weight", 4, {16, 1, 3, 3}, {"c1", "c0", "k0h", "k0w"}},
    {"0.bias", 1, {16}, {"c1"}},
    {"2.weight", 4, {32, 16, 3, 3}, {"c2", "c1", "k2h", "k2w"}},
    {"2.bias", 1, {32}, {"c2"}},
    {"5.weight", 2, {10, 32}, {"out", "c2"}},
    {"5.bias", 1, {10}, {"out"}},
};

/* Elman RNN: h' = act(w_ih x + w_hh h + b_h), y = w_o h + b_o; permuting the
 * hidden units permutes both axes of w_hh. */
static const bt b_rnn[] = {
    {"w_ih", 2, {32, 8}, {"h", "in"}},  {"w_hh", 2, {32, 32}, {"h", "h"}}, {"b_h", 1, {32}, {"h"}},
    {"w_o", 2, {10, 32}, {"out", "h"}}, {"b_o", 1, {10}, {"out"}},
};

/* Pre-norm transformer: x = embed(in); per block x += wo attn(wq, wk, wv;
 * ln1(x)), x += w2 act(w1 ln2(x) + b1) + b2; head(ln(x)). One residual id d;
 * the query and key features share an id (q.k is invariant under one
 * permutation of both), the value features and the FFN units their own. */
#define TF_BLOCK(B)                                                                             \
  {"b" #B ".ln1.g", 1, {16}, {"d"}}, {"b" #B ".ln1.b", 1, {16}, {"d"}},                         \
      {"b" #B ".wq", 2, {16, 16}, {"qk" #B, "d"}}, {"b" #B ".wk", 2, {16, 16}, {"qk" #B, "d"}}, \
      {"b" #B ".wv", 2, {16, 16}, {"v" #B, "d"}}, {"b" #B ".wo", 2, {16, 16}, {"d", "v" #B}},   \
      {"b" #B ".ln2.g", 1, {16}, {"d"}}, {"b" #B ".ln2.b", 1, {16}, {"d"}},                     \
      {"b" #B ".ffn.w1", 2, {32, 16}, {"f" #B, "d"}}, {"b" #B ".ffn.b1", 1, {32}, {"f" #B}},    \
      {"b" #B ".ffn.w2", 2, {16, 32}, {"d", "f" #B}}, {                                         \
    "b" #B ".ffn.b2", 1, {16}, { "d" }                                                          \
  }
static const bt b_transformer[] = {
    {"embed.w", 2, {16, 8}, {"d", "in"}},
    {"embed.b", 1, {16}, {"d"}},
    TF_BLOCK(0),
    TF_BLOCK(1),
    {"ln.g", 1, {16}, {"d"}},
    {"ln.b", 1, {16}, {"d"}},
    {"head.w", 2, {10, 16}, {"out", "d"}},
    {"head.b", 1, {10}, {"out"}},
};
#undef TF_BLOCK

#define NB(a) ((int)(sizeof(a) / sizeof(a[0])))
static const char *const builtin_names[] = {"mlp", "cnn", "cnn16", "rnn", "transformer", NULL};

const char *const *wsk_unf_spec_builtin_names(void) { return builtin_names; }

static void builtin_list(char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (int i = 0; builtin_names[i] && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", builtin_names[i]);
}

wsk_status wsk_unf_spec_builtin(const char *name, wsk_unf_spec *out) {
  if (!name || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_spec_builtin: %s is NULL", !name ? "name" : "out");
  if (strcmp(name, "mlp") == 0) return build(name, b_mlp, NB(b_mlp), out);
  if (strcmp(name, "cnn") == 0) return build(name, b_cnn, NB(b_cnn), out);
  if (strcmp(name, "cnn16") == 0) return build(name, b_cnn16, NB(b_cnn16), out);
  if (strcmp(name, "rnn") == 0) return build(name, b_rnn, NB(b_rnn), out);
  if (strcmp(name, "transformer") == 0) return build(name, b_transformer, NB(b_transformer), out);
  char list[128];
  builtin_list(list, sizeof list);
  return wsk__fail(WSK_ERR_ARG, "no built-in weight-space spec \"%s\" (built-ins: %s)", name, list);
}

/* ---- JSON ------------------------------------------------------------------------ */

/* An integer JSON number in [lo, 2^53], as int64; 0 when it is not one. */
static int json_int(const cJSON *v, int64_t lo, int64_t *out) {
  if (!cJSON_IsNumber(v)) return 0;
  const double d = v->valuedouble;
  if (!(d >= (double)lo) || d > 9007199254740992.0 || floor(d) != d) return 0;
  *out = (int64_t)d;
  return 1;
}

/* Checks that every key of object o is one of `keys` (NULL-terminated) and
 * appears once; what names the object in messages. */
static wsk_status check_keys(const cJSON *o, const char *const *keys, const char *src,
                             const char *what) {
  for (const cJSON *e = o->child; e; e = e->next) {
    int known = 0;
    for (int k = 0; keys[k]; k++) known |= strcmp(e->string, keys[k]) == 0;
    if (!known) {
      char list[96];
      size_t len = 0;
      list[0] = 0;
      for (int k = 0; keys[k]; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s\"%s\"", k ? ", " : "", keys[k]);
      return wsk__fail(WSK_ERR_FORMAT, "%s: %s: unknown key \"%s\" (known: %s)", src, what,
                       e->string, list);
    }
    for (const cJSON *f = o->child; f != e; f = f->next)
      if (strcmp(f->string, e->string) == 0)
        return wsk__fail(WSK_ERR_FORMAT, "%s: %s: key \"%s\" appears twice", src, what, e->string);
  }
  return WSK_OK;
}

/* The id of JSON value v as a name: a string, or a non-negative integer
 * written in decimal. 0 when it is neither. */
static int json_id(const cJSON *v, char *buf, size_t n) {
  int64_t k;
  if (cJSON_IsString(v)) {
    if (!v->valuestring[0] || strlen(v->valuestring) >= n) return 0;
    snprintf(buf, n, "%s", v->valuestring);
    return 1;
  }
  if (json_int(v, 0, &k)) {
    snprintf(buf, n, "%lld", (long long)k);
    return 1;
  }
  return 0;
}

static wsk_status parse_root(const cJSON *root, const char *src, wsk_unf_spec *out) {
  static const char *const top_keys[] = {"name", "tensors", "ids", NULL};
  static const char *const t_keys[] = {"name", "shape", "perm", NULL};
  if (!cJSON_IsObject(root))
    return wsk__fail(WSK_ERR_FORMAT, "%s: the spec is not a JSON object", src);
  WSK_TRY(check_keys(root, top_keys, src, "the spec"));
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
  const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
  const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "ids");
  if (!name) return wsk__fail(WSK_ERR_FORMAT, "%s: the spec has no \"name\"", src);
  if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= WSK_UNF_NAME)
    return wsk__fail(WSK_ERR_FORMAT, "%s: \"name\" is not a string of 1 to %d bytes", src,
                     WSK_UNF_NAME - 1);
  wsk_unf_spec_init(out, name->valuestring);
  const char *sn = name->valuestring;
  if (!tensors) return wsk__fail(WSK_ERR_FORMAT, "%s: spec \"%s\" has no \"tensors\"", src, sn);
  if (!cJSON_IsArray(tensors))
    return wsk__fail(WSK_ERR_FORMAT, "%s: spec \"%s\": \"tensors\" is not an array", src, sn);
  const int nt = cJSON_GetArraySize(tensors);
  if (nt < 1) return wsk__fail(WSK_ERR_FORMAT, "%s: spec \"%s\": \"tensors\" is empty", src, sn);
  if (nt > WSK_UNF_MAX_TENSORS)
    return wsk__fail(WSK_ERR_FORMAT, "%s: spec \"%s\": %d tensors; at most %d", src, sn, nt,
                     WSK_UNF_MAX_TENSORS);
  if (ids && !cJSON_IsObject(ids))
    return wsk__fail(WSK_ERR_FORMAT, "%s: spec \"%s\": \"ids\" is not an object", src, sn);
  for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next) {
    int64_t v;
    if (!json_int(d, 1, &v))
      return wsk__fail(WSK_ERR_FORMAT,
                       "%s: spec \"%s\": ids: the size of id \"%s\" is not a positive integer", src,
                       sn, d->string);
    for (const cJSON *f = ids->child; f != d; f = f->next)
      if (strcmp(f->string, d->string) == 0)
        return wsk__fail(WSK_ERR_FORMAT, "%s: spec \"%s\": ids: id \"%s\" appears twice", src, sn,
                         d->string);
  }
  int i = 0;
  for (const cJSON *e = tensors->child; e; e = e->next, i++) {
    char what[WSK_UNF_NAME + 64];
    snprintf(what, sizeof what, "spec \"%s\": tensors[%d]", sn, i);
    if (!cJSON_IsObject(e)) return wsk__fail(WSK_ERR_FORMAT, "%s: %s is not an object", src, what);
    const cJSON *tn = cJSON_GetObjectItemCaseSensitive(e, "name");
    if (cJSON_IsString(tn) && tn->valuestring[0] && strlen(tn->valuestring) < WSK_UNF_NAME)
      snprintf(what, sizeof what, "spec \"%s\": tensor \"%s\"", sn, tn->valuestring);
    WSK_TRY(check_keys(e, t_keys, src, what));
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(e, "perm");
    if (!tn || !sh || !pm)
      return wsk__fail(WSK_ERR_FORMAT, "%s: %s has no \"%s\"", src, what,
                       !tn   ? "name"
                       : !sh ? "shape"
                             : "perm");
    if (!cJSON_IsString(tn) || !tn->valuestring[0] || strlen(tn->valuestring) >= WSK_UNF_NAME)
      return wsk__fail(WSK_ERR_FORMAT, "%s: %s: \"name\" is not a string of 1 to %d bytes", src,
                       what, WSK_UNF_NAME - 1);
    if (!cJSON_IsArray(sh) || !cJSON_IsArray(pm))
      return wsk__fail(WSK_ERR_FORMAT, "%s: %s: \"%s\" is not an array", src, what,
                       !cJSON_IsArray(sh) ? "shape" : "perm");
    const int rank = cJSON_GetArraySize(sh), prank = cJSON_GetArraySize(pm);
    if (rank != prank)
      return wsk__fail(WSK_ERR_FORMAT, "%s: %s: \"shape\" has %d axes but \"perm\" has %d", src,
                       what, rank, prank);
    if (rank < 1 || rank > WSK_UNF_MAX_RANK)
      return wsk__fail(WSK_ERR_FORMAT, "%s: %s has %d axes; 1 to %d are allowed", src, what, rank,
                       WSK_UNF_MAX_RANK);
    int64_t shape[WSK_UNF_MAX_RANK];
    char idb[WSK_UNF_MAX_RANK][WSK_UNF_NAME];
    const char *idp[WSK_UNF_MAX_RANK];
    const cJSON *sv = sh->child, *pv = pm->child;
    for (int a = 0; a < rank; a++, sv = sv->next, pv = pv->next) {
      if (!json_id(pv, idb[a], sizeof idb[a]))
        return wsk__fail(WSK_ERR_FORMAT,
                         "%s: %s axis %d: the id is neither a non-empty string (under %d bytes) "
                         "nor a non-negative integer",
                         src, what, a, WSK_UNF_NAME);
      idp[a] = idb[a];
      if (!json_int(sv, 1, &shape[a])) {
        if (cJSON_IsNumber(sv) && floor(sv->valuedouble) == sv->valuedouble && sv->valuedouble < 1)
          return wsk__fail(WSK_ERR_FORMAT,
                           "%s: %s axis %d (id \"%s\") has size %g; sizes must be >= 1", src, what,
                           a, idb[a], sv->valuedouble);
        return wsk__fail(WSK_ERR_FORMAT,
                         "%s: %s axis %d (id \"%s\"): the size is not a positive integer", src,
                         what, a, idb[a]);
      }
      if (ids) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ids, idb[a]);
        if (!d)
          return wsk__fail(WSK_ERR_FORMAT, "%s: %s axis %d: unknown id \"%s\" (not in \"ids\")",
                           src, what, a, idb[a]);
        if ((int64_t)d->valuedouble != shape[a])
          return wsk__fail(WSK_ERR_FORMAT,
                           "%s: %s axis %d (id \"%s\") has size %lld but \"ids\" declares %lld",
                           src, what, a, idb[a], (long long)shape[a], (long long)d->valuedouble);
      }
    }
    wsk_status s = wsk_unf_spec_add(out, tn->valuestring, rank, shape, idp);
    if (s != WSK_OK) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", wsk_last_error());
      return wsk__fail(s, "%s: %s", src, msg);
    }
  }
  for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next)
    if (id_find(out, d->string) < 0)
      return wsk__fail(WSK_ERR_FORMAT,
                       "%s: spec \"%s\": id \"%s\" is declared but no axis carries it", src, sn,
                       d->string);
  wsk_status s = wsk_unf_spec_finish(out);
  if (s != WSK_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", wsk_last_error());
    return wsk__fail(s, "%s: %s", src, msg);
  }
  return WSK_OK;
}

wsk_status wsk_unf_spec_parse_json(const char *text, size_t n, const char *source,
                                   wsk_unf_spec *out) {
  if (!text || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_spec_parse_json: %s is NULL", !text ? "text" : "out");
  const char *src = source ? source : "spec JSON";
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (!root) {
    long off = end && end >= text && end <= text + n ? (long)(end - text) : -1;
    return wsk__fail(WSK_ERR_FORMAT, "%s: not JSON (error near byte %ld)", src, off);
  }
  for (const char *p = end; p && p < text + n; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
      cJSON_Delete(root);
      return wsk__fail(WSK_ERR_FORMAT, "%s: text after the JSON object (at byte %ld)", src,
                       (long)(p - text));
    }
  }
  wsk_unf_spec tmp;
  wsk_status s = parse_root(root, src, &tmp);
  cJSON_Delete(root);
  if (s == WSK_OK) *out = tmp;
  return s;
}

wsk_status wsk_unf_spec_load(const char *name_or_path, wsk_unf_spec *out) {
  if (!name_or_path || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_spec_load: %s is NULL",
                     !name_or_path ? "name_or_path" : "out");
  for (int i = 0; builtin_names[i]; i++)
    if (strcmp(name_or_path, builtin_names[i]) == 0) return wsk_unf_spec_builtin(name_or_path, out);
  void *data = NULL;
  size_t n = 0;
  wsk_status s = wsk_file_read(name_or_path, &data, &n);
  if (s != WSK_OK) {
    char msg[512], list[128];
    snprintf(msg, sizeof msg, "%s", wsk_last_error());
    builtin_list(list, sizeof list);
    return wsk__fail(s,
                     "weight-space spec \"%s\" is not a built-in (%s) and not a readable file: %s",
                     name_or_path, list, msg);
  }
  s = wsk_unf_spec_parse_json(data, n, name_or_path, out);
  free(data);
  return s;
}

wsk_status wsk_unf_spec_to_json(const wsk_unf_spec *s, wsk_strbuf *out) {
  if (!s || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_spec_to_json: %s is NULL", !s ? "s" : "out");
  wsk_unf_spec chk = *s;
  WSK_TRY(wsk_unf_spec_finish(&chk));
  cJSON *root = cJSON_CreateObject();
  char *text = NULL;
  if (!root || !cJSON_AddStringToObject(root, "name", s->name[0] ? s->name : "spec")) goto nomem;
  cJSON *ids = cJSON_AddObjectToObject(root, "ids");
  if (!ids) goto nomem;
  for (int k = 0; k < s->n_ids; k++)
    if (!cJSON_AddNumberToObject(ids, s->id_name[k], (double)chk.id_size[k])) goto nomem;
  cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
  if (!ts) goto nomem;
  for (int i = 0; i < s->n_tensors; i++) {
    const wsk_unf_tensor *t = &s->t[i];
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddItemToArray(ts, e)) {
      cJSON_Delete(e);
      goto nomem;
    }
    if (!cJSON_AddStringToObject(e, "name", t->name)) goto nomem;
    cJSON *sh = cJSON_AddArrayToObject(e, "shape"), *pm = cJSON_AddArrayToObject(e, "perm");
    if (!sh || !pm) goto nomem;
    for (int a = 0; a < t->rank; a++) {
      cJSON *v = cJSON_CreateNumber((double)t->shape[a]);
      if (!v || !cJSON_AddItemToArray(sh, v)) {
        cJSON_Delete(v);
        goto nomem;
      }
      cJSON *p = cJSON_CreateString(s->id_name[t->ids[a]]);
      if (!p || !cJSON_AddItemToArray(pm, p)) {
        cJSON_Delete(p);
        goto nomem;
      }
    }
  }
  text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_spec_to_json: out of memory");
  wsk_status st = wsk_strbuf_append(out, text);
  if (st == WSK_OK) st = wsk_strbuf_append(out, "\n");
  free(text);
  return st;
nomem:
  cJSON_Delete(root);
  return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_spec_to_json: out of memory");
}

/* ---- MLP specs -------------------------------------------------------------------- */

int wsk_unf_spec_is_mlp(const wsk_unf_spec *s, int *layers, int64_t *n) {
  if (!s || s->n_tensors < 2 || s->n_tensors % 2) return 0;
  const int L = s->n_tensors / 2;
  int h[WSK_UNF_MAX_TENSORS / 2 + 1];
  for (int i = 0; i < L; i++) {
    const wsk_unf_tensor *w = &s->t[2 * i], *b = &s->t[2 * i + 1];
    if (w->rank != 2 || b->rank != 1 || b->ids[0] != w->ids[0]) return 0;
    if (b->shape[0] != w->shape[0]) return 0;
    if (i == 0)
      h[0] = w->ids[1];
    else if (w->ids[1] != h[i] || w->shape[1] != s->t[2 * i - 2].shape[0])
      return 0;
    h[i + 1] = w->ids[0];
  }
  for (int i = 0; i <= L; i++)
    for (int j = 0; j < i; j++)
      if (h[i] == h[j]) return 0;
  if (layers) *layers = L;
  if (n) {
    n[0] = s->t[0].shape[1];
    for (int i = 1; i <= L; i++) n[i] = s->t[2 * i - 2].shape[0];
  }
  return 1;
}

/* ---- the group action --------------------------------------------------------------- */

wsk_status wsk_unf_permute(const wsk_unf_spec *s, int64_t channels, const int64_t *const *perm,
                           const float *x, float *y) {
  if (!s || !perm || !x || !y)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_permute: %s is NULL",
                     !s      ? "s"
                     : !perm ? "perm"
                     : !x    ? "x"
                             : "y");
  if (channels < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_unf_permute: channels = %lld", (long long)channels);
  if (x == y) return wsk__fail(WSK_ERR_ARG, "wsk_unf_permute: x and y are the same buffer");
  int64_t maxn = 1;
  for (int k = 0; k < s->n_ids; k++) maxn = s->id_size[k] > maxn ? s->id_size[k] : maxn;
  unsigned char *seen = calloc((size_t)maxn, 1);
  if (!seen) return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_permute: out of memory");
  for (int k = 0; k < s->n_ids; k++) {
    if (!perm[k]) {
      free(seen);
      return wsk__fail(WSK_ERR_NULL, "wsk_unf_permute: perm[%d] (id \"%s\") is NULL", k,
                       s->id_name[k]);
    }
    memset(seen, 0, (size_t)maxn);
    for (int64_t i = 0; i < s->id_size[k]; i++) {
      const int64_t p = perm[k][i];
      if (p < 0 || p >= s->id_size[k] || seen[p]) {
        free(seen);
        return wsk__fail(WSK_ERR_ARG,
                         "wsk_unf_permute: perm[%d] (id \"%s\", size %lld) is not a permutation: "
                         "entry %lld is %lld",
                         k, s->id_name[k], (long long)s->id_size[k], (long long)i, (long long)p);
      }
      seen[p] = 1;
    }
  }
  free(seen);
  const size_t C = (size_t)channels;
  for (int i = 0; i < s->n_tensors; i++) {
    const wsk_unf_tensor *t = &s->t[i];
    const float *xt = x + t->offset * C;
    float *yt = y + t->offset * C;
    int64_t stride[WSK_UNF_MAX_RANK], idx[WSK_UNF_MAX_RANK] = {0};
    int64_t st = (int64_t)C;
    for (int a = t->rank - 1; a >= 0; a--) stride[a] = st, st *= t->shape[a];
    for (size_t e = 0; e < t->numel; e++) {
      int64_t src = 0;
      for (int a = 0; a < t->rank; a++) src += perm[t->ids[a]][idx[a]] * stride[a];
      memcpy(yt + e * C, xt + src, C * sizeof(float));
      for (int a = t->rank - 1; a >= 0; a--) {
        if (++idx[a] < t->shape[a]) break;
        idx[a] = 0;
      }
    }
  }
  return WSK_OK;
}
