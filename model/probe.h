/* model/probe.h — linear probes of hyper-representations (Schürholt,
 * Kostadinov, Borth 2021, §4 and Table 2): how much of a network's
 * properties a linear map can read off a representation of its weights.
 *
 * Protocol (the same for every feature set, so the columns compare):
 *  - split by model: the distinct model_ids of the zoo are shuffled with the
 *    seed (model/rng.h, stream WSK_PROBE_RNG_STREAM) and cut 70/15/15 into
 *    train / validation / test models; every checkpoint of a model lands in
 *    its model's split, so no probe sees a sibling (another epoch) of a test
 *    model. The split depends only on the seed and the set of model_ids
 *    (wsk_probe_split).
 *  - continuous properties (test accuracy, generalization gap, epoch): ridge
 *    regression (model/linalg.h) on standardized features for each lambda of
 *    WSK_PROBE_RIDGE_GRID, fitted on the training rows; lambda minimizes the
 *    squared error on the validation rows; the model fitted on the training
 *    rows with that lambda (no refit on train+val) is scored once on the test
 *    rows by R^2.
 *  - categorical properties (activation, initialization, optimizer): a
 *    linear softmax (multinomial logistic) classifier on standardized
 *    features, minimizing
 *        (1/n) sum_i [log sum_c exp(s_ic) - s_i,y_i] + (lambda/2) ||W||_F^2,
 *        s_i = W z_i + b   (the bias is not penalized),
 *    by L-BFGS in double precision (memory 10, backtracking Armijo line
 *    search, at most WSK_PROBE_LOGISTIC_MAXIT iterations, stopping when the
 *    largest gradient entry is below 1e-6 or the loss stops decreasing), for
 *    each lambda of WSK_PROBE_LOGISTIC_GRID from the largest down, each fit
 *    starting from the previous one's solution; lambda maximizes validation
 *    accuracy (ties: the lower validation cross-entropy, then the larger
 *    lambda), fitted on the training rows; reported: test accuracy.
 *  - rows whose weights, embedding or continuous properties are not finite
 *    are left out of every feature set (counted in the results).
 * All arithmetic is in a fixed order (model/linalg.h), so results are
 * bit-identical on every CPU, ISA tier and thread count.
 */
#ifndef WSK_MODEL_PROBE_H
#define WSK_MODEL_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "model/io.h"
#include "model/linalg.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- splits ---- */
enum { WSK_SPLIT_TRAIN = 0, WSK_SPLIT_VAL = 1, WSK_SPLIT_TEST = 2 };
#define WSK_PROBE_RNG_STREAM 0x70726f6265ull /* "probe" */
/* the fewest models a split can be made from (3 train, 1 validation, 1 test) */
#define WSK_PROBE_MIN_MODELS 5

/* Assigns each of nrows rows to a split by its model id (model_ids[i] is
 * row i's id; equal strings = one model): the M distinct ids, sorted by
 * strcmp, are shuffled (wsk_rng_shuffle_u32 with seed and
 * WSK_PROBE_RNG_STREAM); the first n_train are train, the next n_val
 * validation, the rest test, with n_val = n_test = max(1, round(0.15 M)) and
 * n_train = M - n_val - n_test. So the split depends only on the seed and
 * the set of ids, not on the order of the rows. split[i] gets WSK_SPLIT_*;
 * models[3] (may be NULL) the number of models per split. Fewer than
 * WSK_PROBE_MIN_MODELS models is WSK_ERR_SIZE. */
wsk_status wsk_probe_split(const char *const *model_ids, size_t nrows, uint64_t seed,
                           uint8_t *split, size_t models[3]);

/* ---- the linear softmax classifier ---- */
typedef struct wsk_logistic {
  size_t d;
  int ncls;
  double lambda;
  int iterations;       /* L-BFGS iterations taken */
  wsk_standardizer std; /* training statistics */
  double *w;            /* ncls x d, on standardized features */
  double *b;            /* ncls */
} wsk_logistic;

#define WSK_PROBE_LOGISTIC_MAXIT 300

/* Fits on x (n x d) with labels in [0, ncls) (ncls >= 2). warm: NULL, or a
 * model of the same d and ncls whose w and b start the optimization (its
 * standardizer must be the one these rows give). */
wsk_status wsk_logistic_fit(const double *x, size_t n, size_t d, const int *labels, int ncls,
                            double lambda, const wsk_logistic *warm, wsk_logistic *out);
/* argmax_c of b + W standardize(x) per row (the lowest class on ties). */
wsk_status wsk_logistic_predict(const wsk_logistic *m, const double *x, size_t n, int *pred);
void wsk_logistic_free(wsk_logistic *m);

/* ---- one feature set, one kind of property ---- */
#define WSK_PROBE_RIDGE_GRID_N 11   /* 1e-4, 1e-3, ..., 1e6 */
#define WSK_PROBE_LOGISTIC_GRID_N 6 /* 10, 1, 0.1, ..., 1e-4 */
extern const double wsk_probe_ridge_grid[WSK_PROBE_RIDGE_GRID_N];
extern const double wsk_probe_logistic_grid[WSK_PROBE_LOGISTIC_GRID_N];

/* Ridge probes of nt continuous targets: x is n x d (all splits), y n x nt,
 * split[i] the row's split; the grid may be NULL for the default. Per target
 * t: lambda[t] chosen on validation, val_r2[t] and test_r2[t] (NaN when the
 * split's targets are constant). Needs >= 2 train rows and >= 1 validation
 * and test row. */
wsk_status wsk_probe_ridge(const double *x, size_t n, size_t d, const uint8_t *split,
                           const double *y, size_t nt, const double *grid, size_t ngrid,
                           double *lambda, double *val_r2, double *test_r2);
/* Classifier probe of one categorical target (labels in [0, ncls)): the
 * lambda chosen on validation and the validation and test accuracies. With
 * one class every prediction is right (accuracy 1, lambda NaN). */
wsk_status wsk_probe_logistic(const double *x, size_t n, size_t d, const uint8_t *split,
                              const int *labels, int ncls, const double *grid, size_t ngrid,
                              double *lambda, double *val_acc, double *test_acc);

/* ---- the probe table of a zoo ---- */
enum { WSK_PROBE_HYPER = 0, WSK_PROBE_STATS = 1, WSK_PROBE_W = 2, WSK_PROBE_NFEAT = 3 };
#define WSK_PROBE_NPROP 6
/* zoo.csv columns of the properties (rows of the table), in table order:
 * test_acc, gap, epoch (continuous), activation, init, optimizer */
extern const char *const wsk_probe_prop_columns[WSK_PROBE_NPROP];
extern const char *const wsk_probe_prop_titles[WSK_PROBE_NPROP]; /* "test accuracy", ... */
extern const int wsk_probe_prop_categorical[WSK_PROBE_NPROP];
extern const char
    *const wsk_probe_feat_titles[WSK_PROBE_NFEAT]; /* "hyper-representation", "s(W)", "W" */

typedef struct wsk_probe_options {
  const char *zoo_dir;    /* holds zoo.csv and the checkpoints it names */
  const char *embeddings; /* NULL, or a safetensors file with one tensor
                             "embeddings" [rows of zoo.csv][d] in zoo.csv order */
  /* or the embeddings in memory (used when emb != NULL instead of the file) */
  const float *emb;
  size_t emb_rows, emb_dim;
  uint64_t seed;
  int quiet;       /* 1: no progress lines on stderr */
  int predictions; /* 1: keep the test rows' predictions of test accuracy
                      (pred_* of the results; free with wsk_probe_results_free) */
} wsk_probe_options;

typedef struct wsk_probe_cell {
  int present;      /* the feature set was given */
  double value;     /* test R^2 (continuous) or test accuracy (categorical); NaN: undefined */
  double val_value; /* the same on the validation split */
  double lambda;    /* chosen on validation (NaN with one class) */
} wsk_probe_cell;

typedef struct wsk_probe_results {
  char zoo_dir[1024];
  uint64_t seed;
  size_t rows;                 /* rows of zoo.csv */
  size_t rows_used;            /* rows left after dropping non-finite ones */
  size_t models;               /* distinct model_ids */
  size_t split_models[3];      /* models per split */
  size_t split_rows[3];        /* rows used per split */
  size_t dim[WSK_PROBE_NFEAT]; /* features of each set (0: absent) */
  int ncls[WSK_PROBE_NPROP];   /* classes of the categorical properties */
  wsk_probe_cell cell[WSK_PROBE_NPROP][WSK_PROBE_NFEAT];
  /* the ridge probes' predictions of test accuracy on the test rows (in
   * zoo.csv order among the rows used), next to the true values; pred[f] is
   * NULL for an absent feature set. Only with opt->predictions; owned:
   * wsk_probe_results_free. */
  size_t pred_count;
  double *pred_true;
  double *pred[WSK_PROBE_NFEAT];
} wsk_probe_results;

/* Frees the predictions of r (the rest needs no freeing). */
void wsk_probe_results_free(wsk_probe_results *r);

/* Reads DIR/zoo.csv and every checkpoint it names (DIR/<file>; all must
 * share one tensor layout), computes W and s(W) and, when given, takes the
 * hyper-representation embeddings; splits by model and runs every probe.
 * Errors name the file, column, row or value at fault: a missing zoo.csv,
 * column or checkpoint, a property that is not a number, checkpoints with
 * different layouts, embeddings of the wrong shape or row count, too few
 * models or rows for the split. */
wsk_status wsk_probe_run(const wsk_probe_options *opt, wsk_probe_results *out);

/* The table alone (Markdown, columns padded): rows = properties, columns =
 * feature sets, "—" where a feature set is absent, "n/a" where undefined. */
wsk_status wsk_probe_table_markdown(const wsk_probe_results *r, wsk_strbuf *out);
/* The full report: a heading, the protocol, the split sizes, the table and
 * the chosen lambdas. */
wsk_status wsk_probe_report_markdown(const wsk_probe_results *r, wsk_strbuf *out);
/* CSV: property,metric,<value per feature set>,<lambda per feature set>
 * (empty fields where a feature set is absent, "nan" where undefined). */
wsk_status wsk_probe_csv(const wsk_probe_results *r, wsk_strbuf *out);
/* Writes the report to md_path and the CSV next to it (md_path with its
 * ".md" replaced by ".csv", or ".csv" appended), each atomically. csv_path
 * (may be NULL) receives the CSV's path, malloc'd. */
wsk_status wsk_probe_write(const wsk_probe_results *r, const char *md_path, char **csv_path);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_PROBE_H */
