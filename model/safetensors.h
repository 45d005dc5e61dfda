/* model/safetensors.h — the safetensors format (huggingface/safetensors),
 * F32 tensors only.
 *
 * A file is: 8 bytes little-endian u64 N, N bytes of JSON header (padded with
 * spaces to a multiple of 8), then the tensor data, little-endian. The header
 * maps each tensor name to {"dtype":"F32","shape":[...],"data_offsets":[b,e]}
 * (offsets relative to the start of the data) and may hold "__metadata__", a
 * map of strings to strings. Files written here load with
 * safetensors.numpy.load_file / safetensors.torch.load_file and back.
 */
#ifndef WSK_MODEL_SAFETENSORS_H
#define WSK_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_ST_MAX_RANK 8

typedef struct wsk_tensor_ref {
  const char *name;
  int rank; /* 0..8; rank 0 is a scalar (one float) */
  int64_t shape[8];
  const float *data;
} wsk_tensor_ref;

/* Tensors in the given order; meta: NULL or NULL-terminated key,value,key,value,...
 * strings stored in "__metadata__"; written atomically. Names must be unique,
 * non-empty and not "__metadata__". */
wsk_status wsk_safetensors_write(const char *path, const wsk_tensor_ref *t, size_t n,
                                 const char *const *meta);

typedef struct wsk_safetensors {
  size_t count;
  char **names;
  int *ranks;
  int64_t (*shapes)[8];
  float **data; /* in file data-offset order, owned */
  size_t nmeta;
  char **meta_keys;
  char **meta_values;
} wsk_safetensors;

/* Reads and validates a file: header length within the file, JSON, dtype F32
 * only, shape product * 4 = offset span, offsets in bounds, increasing,
 * non-overlapping and covering the data. Errors are WSK_ERR_IO (cannot read)
 * or WSK_ERR_FORMAT (malformed) with a message naming the file and tensor. */
wsk_status wsk_safetensors_read(const char *path, wsk_safetensors *out);
/* The same on a file's bytes in memory; name is used in messages. */
wsk_status wsk_safetensors_parse(const void *bytes, size_t n, const char *name,
                                 wsk_safetensors *out);
long wsk_safetensors_find(const wsk_safetensors *st, const char *name); /* index or -1 */
/* The value of a "__metadata__" key, or NULL. */
const char *wsk_safetensors_meta(const wsk_safetensors *st, const char *key);
/* Number of floats of tensor i (product of its shape; 1 for rank 0). */
size_t wsk_safetensors_numel(const wsk_safetensors *st, size_t i);
void wsk_safetensors_free(wsk_safetensors *st);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_SAFETENSORS_H */
