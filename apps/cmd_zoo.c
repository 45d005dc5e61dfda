/* apps/cmd_zoo.c — `wsk zoo`: trains the model zoo (model/zoo.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"
#include "model/data.h"
#include "model/zoo.h"
#include "wsk/wsk.h"

void wsk_cmd_zoo_usage(FILE *out) {
  wsk_zoo_config d, s;
  wsk_zoo_config_default(&d);
  wsk_zoo_config_smoke(&s);
  fprintf(out,
          "usage: wsk zoo [options]\n"
          "\n"
          "Trains a model zoo (Schurholt et al. 2021): a population of small FashionMNIST\n"
          "classifiers, each with hyper-parameters drawn from the seed (initialization,\n"
          "activation, optimizer, learning rate, weight decay, dropout, train fraction),\n"
          "saved at epoch 0, every --save-every epochs and at the last epoch as\n"
          "safetensors (PyTorch nn.Sequential names), with zoo.csv listing every\n"
          "checkpoint: model_id, epoch, hyper-parameters, train/test accuracy and loss,\n"
          "generalization gap and file. Members train in parallel on the thread pool;\n"
          "the files are the same bits for any thread count and instruction set.\n"
          "\n"
          "Options:\n"
          "  --out DIR          output directory (default %s)\n"
          "  --arch mlp|cnn|cnn16\n"
          "                     mlp: 64-32-10 on 8x8 images (default); cnn: the paper's\n"
          "                     2,464-parameter CNN on 28x28 images; cnn16: convs of 16\n"
          "                     and 32 channels (3x3, stride 2), global average pool and\n"
          "                     a linear head on 16x16 images (the learned optimizer's\n"
          "                     CNN task)\n"
          "  --members N        networks (default %d)\n"
          "  --epochs E         training epochs of each (default %d)\n"
          "  --save-every K     checkpoint every K epochs (default %d)\n"
          "  --seed S           the zoo's seed (default %llu)\n"
          "  --data DIR         FashionMNIST IDX files (default $WSK_DATA_DIR, else\n"
          "                     %s)\n"
          "  --train-limit N    use the first N training images (default %zu; 0: all\n"
          "                     60,000)\n"
          "  --test-limit N     use the first N test images (default %zu; 0: all 10,000)\n"
          "  --batch B          minibatch size (default %d)\n"
          "  --smoke            a seconds-long zoo: %d members, %d epochs, %zu training\n"
          "                     and %zu test images (explicit options still apply)\n"
          "  --force            start over in a DIR made with other settings (removes\n"
          "                     its zoo.csv and member files)\n"
          "  --quiet            no progress on stderr\n"
          "  --help             print this help\n"
          "\n"
          "Rerunning with the same settings resumes: members whose checkpoints are all\n"
          "present and valid are kept, the rest are trained, zoo.csv is rewritten.\n"
          "Files: DIR/zoo.json (settings), DIR/zoo.csv, DIR/ckpt/m0007_e005.safetensors,\n"
          "DIR/ckpt/m0007.csv (member 7's rows).\n",
          d.out_dir, d.members, d.epochs, d.save_every, (unsigned long long)d.seed,
          "/usr/share/datasets/fashion-mnist", d.train_limit, d.test_limit, d.batch, s.members,
          s.epochs, s.train_limit, s.test_limit);
}

/* A whole non-negative decimal number within [lo, hi]. */
static int parse_u64(const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out) {
  char *end = NULL;
  errno = 0;
  if (!s || !*s || *s == '-' || *s == '+') goto bad;
  const unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) goto bad;
  *out = v;
  return 1;
bad:
  fprintf(stderr, "wsk zoo: %s needs a whole number in %llu..%llu, not '%s'\n", opt, lo, hi,
          s ? s : "");
  return 0;
}

int wsk_cmd_zoo(int argc, char **argv) {
  wsk_zoo_config c;
  wsk_zoo_config_default(&c);
  /* explicit values, applied after --smoke whatever the order */
  const char *out = NULL, *data = NULL;
  int arch = -1, smoke = 0, force = 0, quiet = 0;
  long long members = -1, epochs = -1, save_every = -1, batch = -1;
  long long train_limit = -1, test_limit = -1;
  unsigned long long seed = 0;
  int have_seed = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned long long x = 0;
#define VALUE_OPT(name) (strcmp(a, name) == 0 && (v != NULL || (missing = name, 0)))
    const char *missing = NULL;
    if (VALUE_OPT("--out")) {
      out = v;
      i++;
    } else if (VALUE_OPT("--data")) {
      data = v;
      i++;
    } else if (VALUE_OPT("--arch")) {
      wsk_arch ar;
      if (wsk_arch_parse(v, &ar) != WSK_OK) {
        fprintf(stderr, "wsk zoo: --arch: %s\n", wsk_last_error());
        return 2;
      }
      arch = (int)ar;
      i++;
    } else if (VALUE_OPT("--members")) {
      if (!parse_u64(a, v, 1, 100000, &x)) return 2;
      members = (long long)x;
      i++;
    } else if (VALUE_OPT("--epochs")) {
      if (!parse_u64(a, v, 1, 1000, &x)) return 2;
      epochs = (long long)x;
      i++;
    } else if (VALUE_OPT("--save-every")) {
      if (!parse_u64(a, v, 1, 1000, &x)) return 2;
      save_every = (long long)x;
      i++;
    } else if (VALUE_OPT("--seed")) {
      if (!parse_u64(a, v, 0, UINT64_MAX, &seed)) return 2;
      have_seed = 1;
      i++;
    } else if (VALUE_OPT("--train-limit")) {
      if (!parse_u64(a, v, 0, 100000000, &x)) return 2;
      train_limit = (long long)x;
      i++;
    } else if (VALUE_OPT("--test-limit")) {
      if (!parse_u64(a, v, 0, 100000000, &x)) return 2;
      test_limit = (long long)x;
      i++;
    } else if (VALUE_OPT("--batch")) {
      if (!parse_u64(a, v, 1, 4096, &x)) return 2;
      batch = (long long)x;
      i++;
    } else if (strcmp(a, "--smoke") == 0) {
      smoke = 1;
    } else if (strcmp(a, "--force") == 0) {
      force = 1;
    } else if (strcmp(a, "--quiet") == 0) {
      quiet = 1;
    } else {
      if (missing)
        fprintf(stderr, "wsk zoo: %s needs a value\n\n", missing);
      else
        fprintf(stderr, "wsk zoo: unknown argument '%s'\n\n", a);
      wsk_cmd_zoo_usage(stderr);
      return 2;
    }
#undef VALUE_OPT
  }
  if (smoke) wsk_zoo_config_smoke(&c);
  if (out) c.out_dir = out;
  if (data) c.data_dir = data;
  if (arch >= 0) c.arch = (wsk_arch)arch;
  if (members > 0) c.members = (int)members;
  if (epochs > 0) c.epochs = (int)epochs;
  if (save_every > 0)
    c.save_every = (int)save_every;
  else if (c.save_every > c.epochs)
    c.save_every = c.epochs; /* --epochs below the default interval */
  if (have_seed) c.seed = seed;
  if (train_limit >= 0) c.train_limit = (size_t)train_limit;
  if (test_limit >= 0) c.test_limit = (size_t)test_limit;
  if (batch > 0) c.batch = (int)batch;
  c.force = force;
  c.progress = !quiet;
  if (c.save_every > c.epochs) {
    fprintf(stderr, "wsk zoo: --save-every %d is more than --epochs %d\n", c.save_every, c.epochs);
    return 2;
  }

  wsk_zoo_summary sum;
  if (wsk_zoo_run(&c, NULL, NULL, &sum) != WSK_OK) {
    fprintf(stderr, "wsk zoo: %s\n", wsk_last_error());
    return 1;
  }
  printf(
      "zoo: %s: %d %s members (%d trained, %d kept from an earlier run), %zu checkpoints in "
      "%s/zoo.csv\n",
      c.out_dir, c.members, wsk_arch_name(c.arch), sum.members_trained, sum.members_kept, sum.rows,
      c.out_dir);
  printf("zoo: test accuracy at epoch %d: min %.3f, mean %.3f, max %.3f\n", c.epochs,
         sum.test_acc_min, sum.test_acc_mean, sum.test_acc_max);
  if (sum.members_trained > 0)
    printf("zoo: trained in %.1f s on %d threads: %.2f ms per member-epoch per thread\n",
           sum.seconds, sum.threads, sum.member_epoch_ms);
  printf("zoo: zoo.csv digest 0x%016llx\n", (unsigned long long)sum.csv_digest);
  return fflush(stdout) == 0 ? 0 : 1;
}
