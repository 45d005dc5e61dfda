/* model/zoo.h — the model zoo (Schürholt et al. 2021, §4 and appendix: a
 * population of small classifiers trained with varied hyper-parameters, each
 * saved at several epochs) and its files.
 *
 * Member i draws its hyper-parameters from stream i of the zoo's seed
 * (model/rng.h), in this order, one draw per line:
 *   seed          u32: the member's own seed (its init, data order, dropout)
 *   init          below(4): kaiming_uniform, kaiming_normal, xavier_uniform,
 *                 xavier_normal (model/net.h; not its unscaled uniform and
 *                 normal, which saturate the units and make accuracy a
 *                 matter of luck more than of the weights)
 *   activation    below(4): relu, tanh, gelu, sigmoid
 *   optimizer     below(2): sgd (momentum 0.9), adam (0.9, 0.999, 1e-8)
 *   lr            log-uniform: sgd [1e-2, 1e-1], adam [1e-3, 1e-2] (one
 *                 decade each: slower members barely move from their
 *                 initialization in the zoo's epochs)
 *   weight decay  u < 1/2: 0; else log-uniform [1e-5, 1e-2] (next draw)
 *   dropout       u < 1/2: 0; else uniform [0, 0.5) (next draw)
 *   train_frac    uniform [0.5, 1)
 * (log-uniform: exp(log lo + u (log hi - log lo)) with SLEEF's finz exp/log.)
 * Every member draws all ten numbers, so member i's values do not depend on
 * another's. The gradient's L2 norm is clipped to 10 and a step whose loss or
 * gradient is not finite is skipped, so no checkpoint holds Inf or NaN.
 *
 * Files under the output directory DIR:
 *   zoo.json                 the settings (compared on a rerun)
 *   zoo.csv                  one row per checkpoint, sorted by model_id then
 *                            epoch: model_id,epoch,arch,seed,init,activation,
 *                            optimizer,lr,weight_decay,dropout,train_frac,
 *                            train_acc,test_acc,train_loss,test_loss,gap,file
 *                            (gap = train_acc - test_acc; train_* on the
 *                            member's own training subset; file relative to DIR)
 *   ckpt/m0007_e005.safetensors   member 7 after epoch 5 (epoch 0: the
 *                            initialization): the tensors of model/net.h with
 *                            the row's values as metadata
 *   ckpt/m0007.csv           member 7's rows (written when it finished)
 * Checkpoints: epoch 0, every save_every epochs, and the last epoch.
 * Every file is written atomically. A rerun with the same settings keeps every
 * member whose record and checkpoint files are present and valid, trains the
 * others, and writes zoo.csv again from the records; other settings are an
 * error unless force is set (which discards the directory's members).
 *
 * Members train in parallel over the thread pool, one member per task, each
 * serial inside; the results are the same bits for any thread count and ISA.
 */
#ifndef WSK_MODEL_ZOO_H
#define WSK_MODEL_ZOO_H

#include <stddef.h>
#include <stdint.h>

#include "model/data.h"
#include "model/net.h"
#include "model/train.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_zoo_config {
  const char *out_dir; /* required */
  wsk_arch arch;
  int members;    /* 1..100000 */
  int epochs;     /* 1..1000 */
  int save_every; /* 1..epochs */
  uint64_t seed;
  const char *data_dir; /* NULL: wsk_data_default_dir() */
  size_t train_limit;   /* first N training images; 0: all */
  size_t test_limit;    /* first N test images; 0: all */
  int batch;            /* 1..4096 */
  int force;            /* discard a directory made with other settings */
  int progress;         /* progress on stderr */
} wsk_zoo_config;

/* The default zoo (what `wsk zoo` and `wsk pipeline` run): MLP, 600 members,
 * 12 epochs saved every 2 (7 checkpoints each, 4,200 in all), seed 1, the
 * first 5,000 training images (members see 50-100% of them: small enough
 * that learning rate, decay and epoch spread the accuracies) and all 10,000
 * test images, batch 32, out_dir "zoo", progress on. */
void wsk_zoo_config_default(wsk_zoo_config *c);
/* --smoke: 8 members, 2 epochs saved every epoch, 512 training and 512 test
 * images (the rest as the default). */
void wsk_zoo_config_smoke(wsk_zoo_config *c);

/* Member `id`'s hyper-parameters (see above) for the zoo's seed and arch. */
void wsk_zoo_member_hparams(const wsk_zoo_config *c, int id, wsk_train_hparams *hp);

typedef struct wsk_zoo_summary {
  int members_trained, members_kept; /* trained now / kept from an earlier run */
  size_t rows;                       /* rows of zoo.csv */
  double seconds;                    /* wall time of the training (not the loading) */
  double member_epoch_ms;            /* wall ms per trained member-epoch, per thread */
  double test_acc_min, test_acc_mean, test_acc_max; /* at the last epoch */
  int threads;
  uint64_t csv_digest; /* FNV-1a 64 of zoo.csv's bytes */
} wsk_zoo_summary;

/* Trains (or completes) the zoo of c into c->out_dir. train and test: the
 * datasets, both given (with the architecture's image size) or else both
 * loaded (FashionMNIST from c->data_dir at the architecture's size); the
 * limits apply to either. summary may be NULL. */
wsk_status wsk_zoo_run(const wsk_zoo_config *c, const wsk_dataset *train, const wsk_dataset *test,
                       wsk_zoo_summary *summary);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_ZOO_H */
