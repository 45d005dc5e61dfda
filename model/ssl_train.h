/* model/ssl_train.h — training the SSL hyper-representation on a model zoo
 * (Schürholt, Kostadinov, Borth 2021, §3-4) and embedding every checkpoint.
 *
 * Data: DIR/zoo.csv and the checkpoints its `file` column names (the layout
 * of model/zoo.h); every row's tensors are read as model/net.h names them
 * and turned into a token vector (model/ssl_model.h). The models are split
 * as the linear probes split them (wsk_probe_split of model/probe.h with
 * `split_seed`): the SSL model trains on the probes' training models,
 * validates on their validation models and never sees their test models.
 * Each target layer is standardized with the mean and standard deviation of
 * its values over the training rows.
 *
 * Training: minibatches of `batch` models (the training rows shuffled every
 * epoch, the last partial batch dropped when there are at least `batch`
 * rows), two augmented views per model (permutation, erasing, noise), loss
 * γ·NT-Xent + (1−γ)·MSE, Adam (wsk_adam, L2 decay), learning rate reduced
 * on plateaus of the validation loss (PyTorch's ReduceLROnPlateau, mode min,
 * relative threshold: after more than `patience` epochs without a val loss
 * below best·(1 − threshold), lr = max(lr·factor, min_lr)). A step whose loss
 * is not finite is skipped.
 *
 * Randomness: one stream, (seed, WSK_SSL_RNG_STREAM), draws the
 * initialization, then for every epoch the order (a Fisher-Yates shuffle of
 * the training rows in zoo.csv order) and for every step the views of its
 * models in order (model 0's first view, its second, model 1's first, ...).
 * The validation views come from (seed, WSK_SSL_VAL_STREAM), seeded anew at
 * every evaluation, so every epoch is scored on the same views.
 *
 * Files under out_dir (each written atomically):
 *   ssl_ckpt.safetensors   after every epoch: parameters, Adam moments,
 *                          the RNG state, epoch, step, schedule and loss
 *                          history, and the settings; a run with the same
 *                          settings resumes from it (the same bits as an
 *                          uninterrupted run), other settings are an error
 *                          unless force is set
 *   ssl.safetensors        the final model: its tensors by name
 *                          (PyTorch-style names, model/ssl_model.c) plus
 *                          norm.mean / norm.std [layers]
 *   embeddings.safetensors one tensor "embeddings" [rows of zoo.csv]
 *                          [latent + 2 * layers * d_model]: the embedding
 *                          of wsk_ssl_embed (model/ssl_model.h: z and the
 *                          encoder's token outputs averaged per target layer)
 *                          of every row's clean (unaugmented) weights, in
 *                          zoo.csv order (what `wsk probe --embeddings` reads)
 *   ssl_loss.csv           epoch,train_loss,val_loss,train_contrast,
 *                          train_recon,val_contrast,val_recon,lr
 * Results are bit-identical for every ISA tier and thread count.
 */
#ifndef WSK_MODEL_SSL_TRAIN_H
#define WSK_MODEL_SSL_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model/ssl_model.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_SSL_RNG_STREAM 0x73736cull   /* "ssl" */
#define WSK_SSL_VAL_STREAM 0x73736c76ull /* "sslv" */

typedef struct wsk_ssl_config {
  const char *zoo_dir; /* required: holds zoo.csv */
  const char *out_dir; /* NULL: zoo_dir */
  wsk_ssl_arch arch;
  int epochs; /* 1..100000 */
  int batch;  /* models per step, 1..4096 (2 views each) */
  float lr, weight_decay;
  float gamma, tau;
  wsk_ssl_augment aug;
  float plateau_factor;    /* (0, 1) */
  int plateau_patience;    /* >= 0 */
  float plateau_threshold; /* >= 0, relative */
  float min_lr;
  uint64_t seed;
  uint64_t split_seed; /* the probes' split seed (wsk probe --seed) */
  int force;           /* a checkpoint of other settings is discarded, not an error */
  int progress;        /* progress on stderr */
} wsk_ssl_config;

/* The defaults of `wsk ssl` and `wsk pipeline`: d_model 64, 2 heads of 32,
 * 2 encoder and 2 decoder blocks, FFN 256, latent 32, projection 64 -> 32;
 * 100 epochs, batch 32, lr 1e-3, no weight decay, γ 0.5, τ 0.1, the default
 * augmentations, plateau factor 0.5, patience 3, threshold 1e-3, min_lr 1e-5,
 * seed 1, split seed 0, out_dir NULL, progress on. */
void wsk_ssl_config_default(wsk_ssl_config *c);
/* --smoke: d_model 16, 2 heads, 1 + 1 blocks, FFN 32, latent 8,
 * projection 16 -> 8, 2 epochs, batch 4 (the rest as the default). */
void wsk_ssl_config_smoke(wsk_ssl_config *c);

typedef struct wsk_ssl_epoch_stats {
  int epoch; /* 1-based */
  float train_loss, val_loss, train_contrast, train_recon, val_contrast, val_recon;
  float lr; /* the learning rate the epoch trained with */
} wsk_ssl_epoch_stats;

typedef struct wsk_ssl_result {
  int epochs_done;              /* epochs in the history */
  int epochs_resumed;           /* of them, done by an earlier run (from the checkpoint) */
  wsk_ssl_epoch_stats *history; /* epochs_done entries, owned */
  size_t rows, train_rows, val_rows, models;
  size_t n_params;
  int latent;
  long skipped_steps;
  double seconds;            /* wall time of this run's training epochs */
  double step_ms;            /* mean wall ms per training step of this run (0: none) */
  uint64_t param_digest;     /* FNV-1a 64 of the final parameters' bits */
  uint64_t embedding_digest; /* FNV-1a 64 of the embeddings' bits */
} wsk_ssl_result;

/* Trains (or resumes, or finds finished) the model of c and writes the files
 * above. res may be NULL. Errors name the file, row, tensor or setting at
 * fault. */
wsk_status wsk_ssl_run(const wsk_ssl_config *c, wsk_ssl_result *res);
void wsk_ssl_result_free(wsk_ssl_result *r);

/* FNV-1a 64 over bytes (the digests above). */
uint64_t wsk_ssl_fnv1a(uint64_t h, const void *p, size_t n);
#define WSK_SSL_FNV_INIT 0xcbf29ce484222325ull

/* Times a training step (loss, gradient and Adam update) of the model of
 * `arch` on a network of `net_arch`, with `batch` models (2 * batch views;
 * inputs = targets, uniform in [-1, 1)) and no augmentation: `warmup`
 * untimed steps, then `steps` timed ones; *ms = mean milliseconds per step,
 * *loss = the last loss. dump (NULL: none): a safetensors file that gets the
 * initial parameters by name, their gradient (grad.<name>), the batch
 * (batch.<layer>, flattened [views][tokens][width]) and the loss (total,
 * contrastive, reconstruction) of the first step, for bench/ssl_torch.py
 * --check. */
wsk_status wsk_ssl_bench_step(const wsk_ssl_arch *arch, wsk_arch net_arch, float gamma, float tau,
                              int batch, int warmup, int steps, const char *dump, double *ms,
                              double *loss);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_SSL_TRAIN_H */
