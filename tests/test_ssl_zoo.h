/* tests/test_ssl_zoo.h — a small synthetic model zoo in the layout of
 * model/zoo.h (DIR/zoo.csv and the checkpoints in DIR/ckpt), temporary
 * directories, and reading tensors back, for the SSL tests. Including files
 * define _XOPEN_SOURCE 700 before any header (nftw, mkdtemp). */
#ifndef WSK_TEST_SSL_ZOO_H
#define WSK_TEST_SSL_ZOO_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/io.h"
#include "model/net.h"
#include "model/rng.h"
#include "model/safetensors.h"

/* Writes `models` MLPs x `epochs` checkpoints: model i starts from
 * initialization i % 6 (drawn from stream i of seed) and "trains" by
 * shrinking towards a model-specific direction, so checkpoints of one model
 * are alike and differ across models. Returns 0 on success. */
static inline int ssl_test_write_zoo(const char *dir, int models, int epochs, uint64_t seed) {
  wsk_net net;
  if (wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f) != WSK_OK) return -1;
  char path[1024];
  snprintf(path, sizeof path, "%s/ckpt", dir);
  if (wsk_mkdir_p(path) != WSK_OK) return -1;
  wsk_strbuf csv = WSK_STRBUF_INIT;
  wsk_strbuf_printf(&csv,
                    "model_id,epoch,arch,seed,init,activation,optimizer,lr,weight_decay,dropout,"
                    "train_frac,train_acc,test_acc,train_loss,test_loss,gap,file\n");
  float *p0 = malloc(net.n_params * sizeof(float)), *dir_v = malloc(net.n_params * sizeof(float));
  float *p = malloc(net.n_params * sizeof(float));
  int rc = 0;
  for (int m = 0; m < models && rc == 0; m++) {
    wsk_rng rng;
    wsk_rng_seed(&rng, seed, (uint64_t)m);
    wsk_net_init_params(&net, (wsk_init)(m % 6), &rng, p0);
    for (size_t i = 0; i < net.n_params; i++) dir_v[i] = wsk_rng_range(&rng, -0.2f, 0.2f);
    for (int e = 0; e < epochs && rc == 0; e++) {
      const float t = (float)e / (float)(epochs > 1 ? epochs - 1 : 1);
      for (size_t i = 0; i < net.n_params; i++) p[i] = (1.0f - 0.5f * t) * p0[i] + t * dir_v[i];
      wsk_tensor_ref refs[WSK_NET_MAX_TENSORS];
      memset(refs, 0, sizeof refs);
      for (int k = 0; k < net.n_tensors; k++) {
        refs[k].name = net.tensors[k].name;
        refs[k].rank = net.tensors[k].rank;
        for (int d = 0; d < net.tensors[k].rank; d++) refs[k].shape[d] = net.tensors[k].shape[d];
        refs[k].data = p + net.tensors[k].offset;
      }
      snprintf(path, sizeof path, "%s/ckpt/m%04d_e%03d.safetensors", dir, m, e);
      if (wsk_safetensors_write(path, refs, (size_t)net.n_tensors, NULL) != WSK_OK) rc = -1;
      const double acc = 0.1 + 0.05 * m + 0.1 * e;
      wsk_strbuf_printf(&csv,
                        "m%04d,%d,mlp,%d,%s,relu,sgd,0.01,0,0,1,%.3f,%.3f,1.0,1.1,0.01,"
                        "ckpt/m%04d_e%03d.safetensors\n",
                        m, e, m, wsk_init_name((wsk_init)(m % 6)), acc, acc - 0.01, m, e);
    }
  }
  snprintf(path, sizeof path, "%s/zoo.csv", dir);
  if (rc == 0 && wsk_file_write_atomic(path, csv.s, csv.len) != WSK_OK) rc = -1;
  wsk_strbuf_free(&csv);
  free(p0);
  free(dir_v);
  free(p);
  return rc;
}

/* A fresh directory /tmp/wsk-test-ssl-<tag>-XXXXXX (static storage per call site). */
static inline char *ssl_test_tmpdir(char *buf, size_t n, const char *tag) {
  snprintf(buf, n, "/tmp/wsk-test-ssl-%s-XXXXXX", tag);
  return mkdtemp(buf);
}

static inline int ssl_test_rm_one(const char *path, const struct stat *sb, int flag,
                                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}
static inline void ssl_test_rm_rf(const char *dir) {
  nftw(dir, ssl_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The bytes of a file (malloc'd, *n set), or NULL. */
static inline char *ssl_test_slurp(const char *path, size_t *n) {
  void *d = NULL;
  if (wsk_file_read(path, &d, n) != WSK_OK) return NULL;
  return d;
}

#endif
