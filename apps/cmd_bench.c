/* apps/cmd_bench.c — `wsk bench`: runs the benchmark harness (bench/), prints
 * the table and writes the JSON that `wsk bench-compare` merges. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"

#if WSK_HAVE_BENCH
#include "bench.h"
#endif

void wsk_cmd_bench_usage(FILE *out) {
  fprintf(out,
          "usage: wsk bench [options] [--benchmark_<flag>=<value> ...]\n"
          "\n"
          "Benchmarks every kernel family on every instruction-set tier of this CPU\n"
          "(tiers it lacks are listed as skipped) over model shapes and over\n"
          "footprints that sit in L1, L2, L3 and DRAM, measures this machine's\n"
          "roofline in the same run (peak FMA throughput per tier, read bandwidth\n"
          "per memory level, one core and all cores), and prints one line per case:\n"
          "family, op, tier, shape, level, threads, median time, GFLOP/s, GB/s and\n"
          "%% of the roofline bound that applies (compute or bandwidth).\n"
          "\n"
          "Options:\n"
          "  --filter REGEX      run only the cases whose name matches (names are\n"
          "                      family/op/tier/shape/level, e.g. 'permsum/rows/avx512');\n"
          "                      the roofline cases (and memcpy, the roof of kernels\n"
          "                      that write as much as they read) always run\n"
          "  --out FILE          write the JSON report there (default wsk-bench.json),\n"
          "                      atomically; '-' for none\n"
          "  --min-time SEC      minimum time per measurement (default 0.05)\n"
          "  --repetitions N     repetitions per case; the table shows the median\n"
          "                      (default 3)\n"
          "  --benchmark_...     any Google Benchmark flag, e.g. --benchmark_filter,\n"
          "                      --benchmark_min_time, --benchmark_repetitions\n"
          "\n"
          "Threads are pinned to cores with hwloc where the OS allows it. Results from\n"
          "several machines (or runs with WSK_ISA=...) merge with `wsk bench-compare`.\n"
          "`wsk-bench` runs the same cases with Google Benchmark's own output.\n");
}

#if WSK_HAVE_BENCH
static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int wsk_cmd_bench(int argc, char **argv) {
  const char *out = "wsk-bench.json";
  char *filter = NULL;
  const char *min_time = "0.05", *reps = "3";
  /* Google Benchmark's argv: defaults first, so the user's flags override */
  char **gargv = calloc((size_t)argc + 8, sizeof *gargv);
  int gargc = 0;
  if (!gargv) return 1;
  gargv[gargc++] = argv[0];
  char mt[64], rp[64], flt[1024];
  int rc = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int has_next = i + 1 < argc;
    if (strcmp(a, "--out") == 0 && has_next) {
      out = argv[++i];
    } else if (strcmp(a, "--filter") == 0 && has_next) {
      filter = argv[++i];
    } else if (strcmp(a, "--min-time") == 0 && has_next) {
      min_time = argv[++i];
    } else if (strcmp(a, "--repetitions") == 0 && has_next) {
      reps = argv[++i];
    } else if (starts(a, "--benchmark_filter=")) {
      filter = (char *)a + strlen("--benchmark_filter=");
    } else if (starts(a, "--benchmark_")) {
      continue; /* passed through below, after the defaults */
    } else {
      fprintf(stderr, "wsk bench: unknown or incomplete argument '%s'\n\n", a);
      wsk_cmd_bench_usage(stderr);
      goto done;
    }
  }
  if (atof(min_time) <= 0 || atoi(reps) < 1) {
    fprintf(stderr, "wsk bench: --min-time must be > 0 and --repetitions >= 1\n");
    goto done;
  }
  snprintf(mt, sizeof mt, "--benchmark_min_time=%s", min_time);
  snprintf(rp, sizeof rp, "--benchmark_repetitions=%s", reps);
  gargv[gargc++] = mt;
  gargv[gargc++] = rp;
  if (filter) {
    if (snprintf(flt, sizeof flt, "--benchmark_filter=(%s)|^roofline/|^peer/memcpy/", filter) >=
        (int)sizeof flt) {
      fprintf(stderr, "wsk bench: --filter is too long\n");
      goto done;
    }
    gargv[gargc++] = flt;
  }
  for (int i = 1; i < argc; i++)
    if (starts(argv[i], "--benchmark_") && !starts(argv[i], "--benchmark_filter="))
      gargv[gargc++] = argv[i];
  gargv[gargc] = NULL;

  fprintf(stderr, "wsk bench: measuring the roofline and the kernels (%s s per measurement, %s "
                  "repetitions)...\n",
          min_time, reps);
  wsk_bench_report rep;
  if (wsk_bench_run(&gargc, gargv, 1, &rep) != 0) {
    fprintf(stderr, "wsk bench: out of memory\n");
    rc = 1;
    goto done;
  }
  if (gargc > 1) {
    fprintf(stderr, "wsk bench: unrecognized Google Benchmark flag '%s'\n", gargv[1]);
    wsk_bench_report_free(&rep);
    goto done;
  }
  wsk_bench_print(stdout, &rep);
  rc = 0;
  if (strcmp(out, "-") != 0) {
    if (wsk_bench_write_json(out, &rep) != 0) {
      fprintf(stderr, "wsk bench: cannot write %s: %s\n", out, strerror(errno));
      rc = 1;
    } else {
      printf("JSON report: %s\n", out);
    }
  }
  wsk_bench_report_free(&rep);
done:
  free(gargv);
  return rc;
}
#else
int wsk_cmd_bench(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr,
          "wsk bench: this wsk was built without the benchmark harness (configure with "
          "-DWSK_BUILD_BENCH=ON; it needs Google Benchmark: apt-get install libbenchmark-dev)\n");
  return 1;
}
#endif
