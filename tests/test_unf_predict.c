/* tests/test_unf_predict.c — the invariant UNF predictor of test accuracy
 * (model/unf_predict.h) and Kendall's tau:
 *  - tau-b against values worked out by hand (ties included) and its
 *    degenerate cases;
 *  - on a small synthetic zoo whose "accuracy" is the scale of the weights
 *    (a permutation-invariant property the UNF must find), the predictor
 *    ranks the test checkpoints well, and the same seed gives the same bits
 *    on 1 and 2 threads;
 *  - a missing zoo and bad settings are errors with a message.
 */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/unf_predict.h"
#include "test_ssl_zoo.h"
#include "testutil.h"
#include "wsk/threads.h"

static void test_kendall(void **state) {
  (void)state;
  const double a[5] = {1, 2, 3, 4, 5};
  const double up[5] = {10, 20, 30, 40, 50}, down[5] = {5, 4, 3, 2, 1};
  assert_true(fabs(wsk_kendall_tau(a, up, 5) - 1.0) < 1e-15);
  assert_true(fabs(wsk_kendall_tau(a, down, 5) + 1.0) < 1e-15);
  /* one swapped pair of 10: (9 - 1) / 10 */
  const double sw[5] = {1, 3, 2, 4, 5};
  assert_true(fabs(wsk_kendall_tau(a, sw, 5) - 0.8) < 1e-15);
  /* ties: x = (1,1,2,3), y = (1,2,2,3): pairs (0,1) tie in x, (1,2) tie in y;
   * concordant 4, discordant 0; tau-b = 4 / sqrt(5 * 5) = 0.8 */
  const double x[4] = {1, 1, 2, 3}, y[4] = {1, 2, 2, 3};
  assert_true(fabs(wsk_kendall_tau(x, y, 4) - 0.8) < 1e-15);
  const double c[3] = {2, 2, 2};
  assert_true(isnan(wsk_kendall_tau(a, c, 3)));
  assert_true(isnan(wsk_kendall_tau(a, up, 1)));
  assert_true(isnan(wsk_kendall_tau(NULL, up, 5)));
}

/* models x epochs MLP checkpoints: checkpoint (m, e) is a random network
 * times a scale s, and its test_acc column is s */
static int write_scale_zoo(const char *dir, int models, int epochs) {
  wsk_net net;
  if (wsk_net_make(&net, WSK_ARCH_MLP, WSK_NET_RELU, 0.0f) != WSK_OK) return -1;
  char path[1024];
  snprintf(path, sizeof path, "%s/ckpt", dir);
  if (wsk_mkdir_p(path) != WSK_OK) return -1;
  wsk_strbuf csv = WSK_STRBUF_INIT;
  wsk_strbuf_printf(&csv, "model_id,epoch,arch,test_acc,file\n");
  float *p = malloc(net.n_params * sizeof(float));
  int rc = p ? 0 : -1;
  for (int m = 0; m < models && rc == 0; m++)
    for (int e = 0; e < epochs && rc == 0; e++) {
      wsk_rng rng;
      wsk_rng_seed(&rng, 5, (uint64_t)(m * epochs + e));
      const float scale = 0.25f + 0.05f * (float)((m * 7 + e * 3) % 16);
      for (size_t i = 0; i < net.n_params; i++) p[i] = scale * wsk_rng_range(&rng, -1.0f, 1.0f);
      wsk_tensor_ref refs[WSK_NET_MAX_TENSORS];
      memset(refs, 0, sizeof refs);
      for (int k = 0; k < net.n_tensors; k++) {
        refs[k].name = net.tensors[k].name;
        refs[k].rank = net.tensors[k].rank;
        for (int d = 0; d < net.tensors[k].rank; d++) refs[k].shape[d] = net.tensors[k].shape[d];
        refs[k].data = p + net.tensors[k].offset;
      }
      snprintf(path, sizeof path, "%s/ckpt/m%02d_e%d.safetensors", dir, m, e);
      if (wsk_safetensors_write(path, refs, (size_t)net.n_tensors, NULL) != WSK_OK) rc = -1;
      wsk_strbuf_printf(&csv, "m%02d,%d,mlp,%.4f,ckpt/m%02d_e%d.safetensors\n", m, e, (double)scale,
                        m, e);
    }
  snprintf(path, sizeof path, "%s/zoo.csv", dir);
  if (rc == 0 && wsk_file_write_atomic(path, csv.s, csv.len) != WSK_OK) rc = -1;
  wsk_strbuf_free(&csv);
  free(p);
  return rc;
}

static void run_on(const char *dir, int threads, wsk_unf_predict_result *r) {
  assert_int_equal(wsk_threads_set_count(threads), WSK_OK);
  wsk_unf_predict_config c;
  wsk_unf_predict_config_default(&c);
  c.zoo_dir = dir;
  c.seed = 3;
  c.hidden = 4;
  c.epochs = 8;
  c.batch = 8;
  c.lr = 3e-3f;
  c.quiet = 1;
  assert_int_equal(wsk_unf_predict_run(&c, r), WSK_OK);
}

static void test_predict_zoo(void **state) {
  (void)state;
  char buf[128];
  char *dir = ssl_test_tmpdir(buf, sizeof buf, "unfpred");
  assert_non_null(dir);
  assert_int_equal(write_scale_zoo(dir, 20, 4), 0);
  wsk_unf_predict_result a, b;
  run_on(dir, 1, &a);
  run_on(dir, 2, &b);
  assert_string_equal(a.spec, "mlp");
  assert_int_equal(a.rows, 80);
  assert_int_equal(a.rows_used, 80);
  assert_int_equal(a.split_rows[0] + a.split_rows[1] + a.split_rows[2], 80);
  assert_true(a.pred_count == a.split_rows[2] && a.pred_count >= 8);
  assert_true(a.best_epoch >= 1 && a.best_epoch <= 8);
  /* the scale is easy to read off the weights: a good ranking of the test
   * checkpoints (chance is a tau near 0) */
  assert_true(a.tau_test > 0.6);
  /* the same bits for any thread count */
  assert_int_equal(a.pred_count, b.pred_count);
  assert_memory_equal(a.pred, b.pred, a.pred_count * sizeof(double));
  assert_true(a.tau_test == b.tau_test);
  wsk_unf_predict_result_free(&a);
  wsk_unf_predict_result_free(&b);
  assert_int_equal(wsk_threads_set_count(1), WSK_OK);
  ssl_test_rm_rf(dir);
}

static void test_predict_errors(void **state) {
  (void)state;
  wsk_unf_predict_config c;
  wsk_unf_predict_config_default(&c);
  wsk_unf_predict_result r;
  assert_int_equal(wsk_unf_predict_run(NULL, &r), WSK_ERR_NULL);
  assert_int_equal(wsk_unf_predict_run(&c, &r), WSK_ERR_ARG); /* no zoo */
  c.zoo_dir = "/nonexistent-wsk-zoo";
  assert_int_not_equal(wsk_unf_predict_run(&c, &r), WSK_OK);
  assert_non_null(strstr(wsk_last_error(), "/nonexistent-wsk-zoo/zoo.csv"));
  c.hidden = 0;
  assert_int_equal(wsk_unf_predict_run(&c, &r), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "hidden"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kendall),
      cmocka_unit_test(test_predict_zoo),
      cmocka_unit_test(test_predict_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
