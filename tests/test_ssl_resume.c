/* tests/test_ssl_resume.c — an SSL training run killed with SIGKILL resumes
 * from its last checkpoint to the same bits as a run that was never
 * interrupted (model/ssl_train.h).
 *
 * A child process (forked before this process touches the thread pool, so
 * the child starts its own) trains on a synthetic zoo; the parent polls for
 * the first checkpoint, kills the child at once (mid-training: the final
 * files are not there yet), then resumes the run in-process and trains the
 * same settings from scratch in another directory. Asserted: the resumed run
 * started after an epoch >= 1 and before the last; the final model files
 * hold bit-identical tensors, the embeddings and the loss curve are the same
 * bytes, and the digests agree.
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/ssl_train.h"
#include "test_ssl_zoo.h"
#include "testutil.h"

#define EPOCHS 12

static void config(wsk_ssl_config *c, const char *zoo, const char *out) {
  wsk_ssl_config_smoke(c);
  c->zoo_dir = zoo;
  c->out_dir = out;
  c->epochs = EPOCHS;
  c->progress = 0;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static void same_file(const char *a, const char *b) {
  size_t na, nb;
  char *x = ssl_test_slurp(a, &na), *y = ssl_test_slurp(b, &nb);
  assert_non_null(x);
  assert_non_null(y);
  assert_int_equal(na, nb);
  assert_memory_equal(x, y, na);
  free(x);
  free(y);
}

static void test_sigkill_resume(void **state) {
  (void)state;
  char zoo[64], killed[1024], straight[1024], ckpt[1100], pa[1100], pb[1100];
  assert_non_null(ssl_test_tmpdir(zoo, sizeof zoo, "resume"));
  assert_int_equal(ssl_test_write_zoo(zoo, 10, 2, 13), 0);
  snprintf(killed, sizeof killed, "%s/killed", zoo);
  snprintf(straight, sizeof straight, "%s/straight", zoo);
  snprintf(ckpt, sizeof ckpt, "%s/ssl_ckpt.safetensors", killed);

  fflush(stdout);
  const pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    wsk_ssl_config c;
    config(&c, zoo, killed);
    _exit(wsk_ssl_run(&c, NULL) == WSK_OK ? 0 : 1);
  }
  /* wait for the first checkpoint (up to 120 s: emulators are slow) */
  const struct timespec tick = {0, 1000000};
  int status = 0, waited = 0;
  while (!exists(ckpt)) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      print_error("the child ended (status %d) before writing a checkpoint\n", status);
      fail();
    }
    nanosleep(&tick, NULL);
    if (++waited > 120000) {
      kill(pid, SIGKILL);
      fail_msg("no checkpoint after 120 s");
    }
  }
  assert_int_equal(kill(pid, SIGKILL), 0);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  snprintf(pa, sizeof pa, "%s/ssl.safetensors", killed);
  assert_false(exists(pa)); /* killed mid-training */

  /* resume, and an uninterrupted run */
  wsk_ssl_config c;
  config(&c, zoo, killed);
  wsk_ssl_result r1, r2;
  assert_int_equal(wsk_ssl_run(&c, &r1), WSK_OK);
  printf("  killed after epoch %d of %d; resumed\n", r1.epochs_resumed, EPOCHS);
  assert_true(r1.epochs_resumed >= 1 && r1.epochs_resumed < EPOCHS);
  assert_int_equal(r1.epochs_done, EPOCHS);
  config(&c, zoo, straight);
  assert_int_equal(wsk_ssl_run(&c, &r2), WSK_OK);
  assert_int_equal(r2.epochs_resumed, 0);

  /* the final model, tensor by tensor */
  wsk_safetensors a, b;
  snprintf(pb, sizeof pb, "%s/ssl.safetensors", straight);
  assert_int_equal(wsk_safetensors_read(pa, &a), WSK_OK);
  assert_int_equal(wsk_safetensors_read(pb, &b), WSK_OK);
  assert_int_equal(a.count, b.count);
  for (size_t i = 0; i < a.count; i++) {
    const long j = wsk_safetensors_find(&b, a.names[i]);
    assert_true(j >= 0);
    const size_t n = wsk_safetensors_numel(&a, i);
    assert_int_equal(n, wsk_safetensors_numel(&b, (size_t)j));
    tu_assert_bits(a.data[i], b.data[j], n, a.names[i]);
  }
  printf("  %zu tensors of the final model: bit-identical to the uninterrupted run\n", a.count);
  wsk_safetensors_free(&a);
  wsk_safetensors_free(&b);
  snprintf(pa, sizeof pa, "%s/embeddings.safetensors", killed);
  snprintf(pb, sizeof pb, "%s/embeddings.safetensors", straight);
  same_file(pa, pb);
  snprintf(pa, sizeof pa, "%s/ssl_loss.csv", killed);
  snprintf(pb, sizeof pb, "%s/ssl_loss.csv", straight);
  same_file(pa, pb);
  assert_true(r1.param_digest == r2.param_digest);
  assert_true(r1.embedding_digest == r2.embedding_digest);
  wsk_ssl_result_free(&r1);
  wsk_ssl_result_free(&r2);
  ssl_test_rm_rf(zoo);
}

int main(void) {
  /* one test, and it forks first: nothing may start the thread pool before */
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sigkill_resume)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
