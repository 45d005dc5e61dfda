/* model/safetensors.c — writing and reading safetensors files of F32 tensors
 * (format: github.com/huggingface/safetensors, README "Format"); see
 * model/safetensors.h. The JSON header is built and parsed with cJSON. */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "model/io.h"

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER (100u * 1000u * 1000u)
/* JSON numbers are doubles: integers are exact up to 2^53. */
#define ST_MAX_INT 9007199254740992.0

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ST_BIG_ENDIAN 1
#else
#define ST_BIG_ENDIAN 0
#endif

/* n floats to/from little-endian bytes. */
static void floats_to_le(unsigned char *dst, const float *src, size_t n) {
  if (n == 0) return; /* src may be NULL */
  memcpy(dst, src, n * 4);
#if ST_BIG_ENDIAN
  for (size_t i = 0; i < n; i++) {
    unsigned char *b = dst + 4 * i, t;
    t = b[0], b[0] = b[3], b[3] = t;
    t = b[1], b[1] = b[2], b[2] = t;
  }
#endif
}
static void floats_from_le(float *dst, const unsigned char *src, size_t n) {
  if (n == 0) return;
  memcpy(dst, src, n * 4);
#if ST_BIG_ENDIAN
  floats_to_le((unsigned char *)dst, dst, n);
#endif
}

/* ---- writing ---------------------------------------------------------------------- */

/* numel of a shape, or 0 with *ok = 0 on overflow past 2^53 / 4 floats. */
static uint64_t shape_numel(int rank, const int64_t *shape, int *ok) {
  uint64_t n = 1;
  *ok = 1;
  for (int k = 0; k < rank; k++) {
    if (shape[k] < 0) {
      *ok = 0;
      return 0;
    }
    if (shape[k] == 0)
      n = 0;
    else if (n > ((uint64_t)1 << 51) / (uint64_t)shape[k]) {
      *ok = 0;
      return 0;
    } else
      n *= (uint64_t)shape[k];
  }
  return n;
}

wsk_status wsk_safetensors_write(const char *path, const wsk_tensor_ref *t, size_t n,
                                 const char *const *meta) {
  if (!path || (!t && n)) return wsk__fail(WSK_ERR_NULL, "wsk_safetensors_write: NULL argument");
  wsk_status s = WSK_OK;
  cJSON *root = cJSON_CreateObject();
  char *json = NULL;
  unsigned char *file = NULL;
  uint64_t *numel = calloc(n ? n : 1, sizeof *numel);
  if (!root || !numel) goto nomem;

  if (meta && meta[0]) {
    cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
    if (!m) goto nomem;
    for (size_t i = 0; meta[i]; i += 2) {
      if (!meta[i + 1]) {
        s = wsk__fail(WSK_ERR_ARG, "writing %s: metadata key \"%s\" has no value (NULL)", path,
                      meta[i]);
        goto out;
      }
      if (cJSON_GetObjectItemCaseSensitive(m, meta[i])) {
        s = wsk__fail(WSK_ERR_ARG, "writing %s: metadata key \"%s\" given twice", path, meta[i]);
        goto out;
      }
      if (!cJSON_AddStringToObject(m, meta[i], meta[i + 1])) goto nomem;
    }
  }

  uint64_t offset = 0;
  for (size_t i = 0; i < n; i++) {
    const wsk_tensor_ref *r = &t[i];
    if (!r->name || !*r->name || strcmp(r->name, "__metadata__") == 0) {
      s = wsk__fail(WSK_ERR_ARG, "writing %s: tensor %zu has an invalid name \"%s\"", path, i,
                    r->name ? r->name : "(NULL)");
      goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, r->name)) {
      s = wsk__fail(WSK_ERR_ARG, "writing %s: tensor name \"%s\" used twice", path, r->name);
      goto out;
    }
    if (r->rank < 0 || r->rank > WSK_ST_MAX_RANK) {
      s = wsk__fail(WSK_ERR_ARG, "writing %s: tensor \"%s\" has rank %d (0..%d)", path, r->name,
                    r->rank, WSK_ST_MAX_RANK);
      goto out;
    }
    int ok;
    numel[i] = shape_numel(r->rank, r->shape, &ok);
    if (!ok) {
      s = wsk__fail(WSK_ERR_ARG, "writing %s: tensor \"%s\" has a negative or too large shape",
                    path, r->name);
      goto out;
    }
    if (numel[i] && !r->data) {
      s = wsk__fail(WSK_ERR_NULL, "writing %s: tensor \"%s\" has no data", path, r->name);
      goto out;
    }
    cJSON *e = cJSON_AddObjectToObject(root, r->name);
    if (!e || !cJSON_AddStringToObject(e, "dtype", "F32")) goto nomem;
    cJSON *shape = cJSON_AddArrayToObject(e, "shape");
    cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
    if (!shape || !offs) goto nomem;
    for (int k = 0; k < r->rank; k++) {
      cJSON *v = cJSON_CreateNumber((double)r->shape[k]);
      if (!v || !cJSON_AddItemToArray(shape, v)) {
        cJSON_Delete(v);
        goto nomem;
      }
    }
    const uint64_t end = offset + 4 * numel[i];
    if (end > (uint64_t)ST_MAX_INT) {
      s = wsk__fail(WSK_ERR_ARG, "writing %s: more than 2^53 bytes of data", path);
      goto out;
    }
    cJSON *b = cJSON_CreateNumber((double)offset), *en = cJSON_CreateNumber((double)end);
    if (!b || !en || !cJSON_AddItemToArray(offs, b)) {
      cJSON_Delete(b);
      cJSON_Delete(en);
      goto nomem;
    }
    if (!cJSON_AddItemToArray(offs, en)) {
      cJSON_Delete(en);
      goto nomem;
    }
    offset = end;
  }

  json = cJSON_PrintUnformatted(root);
  if (!json) goto nomem;
  const size_t jlen = strlen(json);
  const size_t hlen = (jlen + 7) / 8 * 8; /* padded with spaces to a multiple of 8 */
  if (offset > (uint64_t)SIZE_MAX - 8 - hlen) {
    s = wsk__fail(WSK_ERR_OVERFLOW, "writing %s: too much data for memory", path);
    goto out;
  }
  const size_t total = 8 + hlen + (size_t)offset;
  file = malloc(total);
  if (!file) goto nomem;
  for (int k = 0; k < 8; k++) file[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
  memcpy(file + 8, json, jlen);
  memset(file + 8 + jlen, ' ', hlen - jlen);
  unsigned char *p = file + 8 + hlen;
  for (size_t i = 0; i < n; i++) {
    floats_to_le(p, t[i].data, (size_t)numel[i]);
    p += 4 * numel[i];
  }
  s = wsk_file_write_atomic(path, file, total);
  goto out;
nomem:
  s = wsk__fail(WSK_ERR_NOMEM, "out of memory writing %s", path);
out:
  free(file);
  free(json);
  free(numel);
  cJSON_Delete(root);
  return s;
}

/* ---- reading ---------------------------------------------------------------------- */

void wsk_safetensors_free(wsk_safetensors *st) {
  if (!st) return;
  for (size_t i = 0; i < st->count; i++) {
    if (st->names) free(st->names[i]);
    if (st->data) free(st->data[i]);
  }
  for (size_t i = 0; i < st->nmeta; i++) {
    if (st->meta_keys) free(st->meta_keys[i]);
    if (st->meta_values) free(st->meta_values[i]);
  }
  free(st->names);
  free(st->ranks);
  free(st->shapes);
  free(st->data);
  free(st->meta_keys);
  free(st->meta_values);
  memset(st, 0, sizeof *st);
}

/* A non-negative integer JSON number below 2^53, or -1. */
static int64_t json_uint(const cJSON *v) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!(d >= 0.0) || d > ST_MAX_INT || floor(d) != d) return -1;
  return (int64_t)d;
}

/* One tensor of the header, before its data is copied. */
typedef struct st_entry {
  const char *name;
  int rank;
  int64_t shape[WSK_ST_MAX_RANK];
  uint64_t begin, end;
} st_entry;

static int entry_cmp(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return strcmp(x->name, y->name);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

wsk_status wsk_safetensors_parse(const void *bytes, size_t n, const char *name,
                                 wsk_safetensors *out) {
  if (!out) return wsk__fail(WSK_ERR_NULL, "wsk_safetensors_parse: out is NULL");
  memset(out, 0, sizeof *out);
  if (!bytes && n) return wsk__fail(WSK_ERR_NULL, "wsk_safetensors_parse: bytes is NULL");
  if (!name) name = "safetensors data";
  const unsigned char *b = bytes;
  if (n < 8)
    return wsk__fail(WSK_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file", name, n);
  uint64_t hlen = 0;
  for (int k = 0; k < 8; k++) hlen |= (uint64_t)b[k] << (8 * k);
  if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > n - 8)
    return wsk__fail(WSK_ERR_FORMAT,
                     "%s: header length %llu does not fit the file (%zu bytes; at most 100 MB)",
                     name, (unsigned long long)hlen, n);
  const char *json = (const char *)b + 8;
  const unsigned char *data = b + 8 + hlen;
  const uint64_t dlen = n - 8 - hlen;
  if (json[0] != '{')
    return wsk__fail(WSK_ERR_FORMAT, "%s: the header does not start with '{'", name);

  wsk_status s = WSK_OK;
  st_entry *ent = NULL;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)hlen, &end, 0);
  if (!root || !cJSON_IsObject(root)) {
    long off = end && end >= json && end <= json + hlen ? (long)(end - json) : -1;
    cJSON_Delete(root);
    return wsk__fail(WSK_ERR_FORMAT, "%s: the header is not a JSON object (error near byte %ld)",
                     name, off);
  }
  /* cJSON stops at the end of the object; only padding may follow it */
  for (const char *p = end; p && p < json + hlen; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      cJSON_Delete(root);
      return wsk__fail(WSK_ERR_FORMAT, "%s: bytes after the JSON header (at byte %ld of %llu)",
                       name, (long)(p - json), (unsigned long long)hlen);
    }
  }
  size_t ntensors = 0, nmeta = 0;
  const cJSON *meta = NULL;
  for (const cJSON *e = root->child; e; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0) {
      if (meta) {
        s = wsk__fail(WSK_ERR_FORMAT, "%s: \"__metadata__\" appears twice", name);
        goto out;
      }
      meta = e;
      if (!cJSON_IsObject(e)) {
        s = wsk__fail(WSK_ERR_FORMAT, "%s: \"__metadata__\" is not an object", name);
        goto out;
      }
      for (const cJSON *m = e->child; m; m = m->next) {
        if (!cJSON_IsString(m)) {
          s = wsk__fail(WSK_ERR_FORMAT, "%s: metadata \"%s\" is not a string", name, m->string);
          goto out;
        }
        nmeta++;
      }
    } else {
      ntensors++;
    }
  }
  ent = calloc(ntensors ? ntensors : 1, sizeof *ent);
  if (!ent) goto nomem;
  size_t t = 0;
  for (const cJSON *e = root->child; e; e = e->next) {
    if (e == meta) continue;
    st_entry *en = &ent[t++];
    en->name = e->string;
    for (size_t u = 0; u + 1 < t; u++) {
      if (strcmp(ent[u].name, en->name) == 0) {
        s = wsk__fail(WSK_ERR_FORMAT, "%s: tensor \"%s\" appears twice", name, en->name);
        goto out;
      }
    }
    if (!cJSON_IsObject(e)) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s: tensor \"%s\": not a JSON object", name, en->name);
      goto out;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of)) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s: tensor \"%s\": needs \"dtype\" (string), \"shape\" and \"data_offsets\" "
                    "(arrays)",
                    name, en->name);
      goto out;
    }
    if (strcmp(dt->valuestring, "F32") != 0) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s: tensor \"%s\" has dtype %s; only F32 is supported (convert with "
                    "tensor.float() before saving)",
                    name, en->name, dt->valuestring);
      goto out;
    }
    int rank = cJSON_GetArraySize(sh);
    if (rank > WSK_ST_MAX_RANK) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s: tensor \"%s\" has rank %d (at most %d)", name, en->name,
                    rank, WSK_ST_MAX_RANK);
      goto out;
    }
    en->rank = rank;
    int k = 0;
    for (const cJSON *v = sh->child; v; v = v->next, k++) {
      en->shape[k] = json_uint(v);
      if (en->shape[k] < 0) {
        s = wsk__fail(WSK_ERR_FORMAT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer",
                      name, en->name, k);
        goto out;
      }
    }
    int64_t ob = -1, oe = -1;
    if (cJSON_GetArraySize(of) == 2) {
      ob = json_uint(of->child);
      oe = json_uint(of->child->next);
    }
    if (ob < 0 || oe < 0 || oe < ob) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s: tensor \"%s\": data_offsets must be [begin, end] with 0 <= begin <= end",
                    name, en->name);
      goto out;
    }
    en->begin = (uint64_t)ob;
    en->end = (uint64_t)oe;
    int ok;
    const uint64_t numel = shape_numel(rank, en->shape, &ok);
    if (!ok || numel * 4 != en->end - en->begin) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s: tensor \"%s\": its shape holds %llu floats (%llu bytes) but data_offsets "
                    "[%llu, %llu] span %llu bytes",
                    name, en->name, (unsigned long long)numel, (unsigned long long)numel * 4,
                    (unsigned long long)en->begin, (unsigned long long)en->end,
                    (unsigned long long)(en->end - en->begin));
      goto out;
    }
    if (en->end > dlen) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s: tensor \"%s\": data_offsets [%llu, %llu] go past the %llu data bytes "
                    "(file truncated?)",
                    name, en->name, (unsigned long long)en->begin, (unsigned long long)en->end,
                    (unsigned long long)dlen);
      goto out;
    }
  }

  /* In offset order the tensors must tile the data exactly: no gap, no overlap. */
  qsort(ent, ntensors, sizeof *ent, entry_cmp);
  uint64_t pos = 0;
  for (size_t i = 0; i < ntensors; i++) {
    if (ent[i].begin != pos) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s: tensor \"%s\" starts at data byte %llu, %s at %llu", name,
                    ent[i].name, (unsigned long long)ent[i].begin,
                    ent[i].begin < pos ? "overlapping the previous tensor, which ends"
                                       : "leaving a gap after the previous tensor, which ends",
                    (unsigned long long)pos);
      goto out;
    }
    pos = ent[i].end;
  }
  if (pos != dlen) {
    s = wsk__fail(WSK_ERR_FORMAT,
                  "%s: the tensors cover %llu data bytes but the file holds %llu after the header",
                  name, (unsigned long long)pos, (unsigned long long)dlen);
    goto out;
  }

  out->names = calloc(ntensors ? ntensors : 1, sizeof *out->names);
  out->ranks = calloc(ntensors ? ntensors : 1, sizeof *out->ranks);
  out->shapes = calloc(ntensors ? ntensors : 1, sizeof *out->shapes);
  out->data = calloc(ntensors ? ntensors : 1, sizeof *out->data);
  out->meta_keys = calloc(nmeta ? nmeta : 1, sizeof *out->meta_keys);
  out->meta_values = calloc(nmeta ? nmeta : 1, sizeof *out->meta_values);
  if (!out->names || !out->ranks || !out->shapes || !out->data || !out->meta_keys ||
      !out->meta_values)
    goto nomem;
  for (size_t i = 0; i < ntensors; i++) {
    out->count = i + 1;
    const size_t nb = (size_t)(ent[i].end - ent[i].begin);
    out->names[i] = strdup(ent[i].name);
    out->data[i] = malloc(nb ? nb : 4);
    if (!out->names[i] || !out->data[i]) goto nomem;
    out->ranks[i] = ent[i].rank;
    for (int k = 0; k < WSK_ST_MAX_RANK; k++)
      out->shapes[i][k] = k < ent[i].rank ? ent[i].shape[k] : 0;
    floats_from_le(out->data[i], data + ent[i].begin, nb / 4);
  }
  if (meta) {
    for (const cJSON *m = meta->child; m; m = m->next) {
      size_t i = out->nmeta++;
      out->meta_keys[i] = dup_or_null(m->string);
      out->meta_values[i] = dup_or_null(m->valuestring);
      if (!out->meta_keys[i] || !out->meta_values[i]) goto nomem;
    }
  }
  goto out;
nomem:
  s = wsk__fail(WSK_ERR_NOMEM, "out of memory reading %s", name);
out:
  free(ent);
  cJSON_Delete(root);
  if (s != WSK_OK) wsk_safetensors_free(out);
  return s;
}

wsk_status wsk_safetensors_read(const char *path, wsk_safetensors *out) {
  if (!path || !out) return wsk__fail(WSK_ERR_NULL, "wsk_safetensors_read: NULL argument");
  memset(out, 0, sizeof *out);
  void *bytes;
  size_t n;
  WSK_TRY(wsk_file_read(path, &bytes, &n));
  wsk_status s = wsk_safetensors_parse(bytes, n, path, out);
  free(bytes);
  return s;
}

long wsk_safetensors_find(const wsk_safetensors *st, const char *name) {
  if (!st || !name) return -1;
  for (size_t i = 0; i < st->count; i++)
    if (strcmp(st->names[i], name) == 0) return (long)i;
  return -1;
}

const char *wsk_safetensors_meta(const wsk_safetensors *st, const char *key) {
  if (!st || !key) return NULL;
  for (size_t i = 0; i < st->nmeta; i++)
    if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
  return NULL;
}

size_t wsk_safetensors_numel(const wsk_safetensors *st, size_t i) {
  if (!st || i >= st->count) return 0;
  size_t n = 1;
  for (int k = 0; k < st->ranks[i]; k++) n *= (size_t)st->shapes[i][k];
  return n;
}
