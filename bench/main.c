/* bench/main.c — `wsk-bench`: the benchmark harness with Google Benchmark's
 * own console or JSON output (all of its flags apply). `wsk bench` runs the
 * same cases and prints wsk's table instead. */
#include <stdio.h>

#include "bench.h"

int main(int argc, char **argv) {
  wsk_bench_report rep;
  if (wsk_bench_run(&argc, argv, 0, &rep) != 0) {
    fprintf(stderr, "wsk-bench: out of memory\n");
    return 1;
  }
  wsk_bench_report_free(&rep);
  return 0;
}
