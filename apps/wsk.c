/* apps/wsk.c — the `wsk` command-line program.
 *
 *   wsk [--help|--version] <command> [args]
 *
 * Commands live in one table (name, one-line help, function); adding a
 * command (bench, zoo, ssl, probe, unf, pipeline) is one row and one
 * function, which may live in its own apps/cmd_<name>.c.
 *
 * Exit status: 0 success, 1 the command failed, 2 usage error or an invalid
 * environment (WSK_ISA, WSK_NUM_THREADS). Before a command runs,
 * wsk_dispatch_init() and wsk_threads_init() check the environment, so a bad
 * WSK_ISA fails at once with the list of valid tiers;
 * `wsk <command> --help` still works then, to help fix it.
 */
#include <stdio.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#include <string.h>

#include "apps/commands.h"
#include "dispatch/cpu.h"
#include "wsk/wsk.h"

typedef struct wsk_command {
  const char *name;
  const char *help; /* one line, for the command list */
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
  void (*usage)(FILE *out);
} wsk_command;

static const char env_help[] =
    "Environment:\n"
    "  WSK_ISA=avx512|avx2|neon|scalar\n"
    "                 highest instruction-set tier the kernels may use (case-\n"
    "                 insensitive). Lower tiers remain allowed; a tier this\n"
    "                 machine or build lacks, or an unknown name, is an error.\n"
    "                 Unset or empty: the best tier available.\n"
    "  WSK_VERBOSE=1  log each kernel family's choice of tier to stderr.\n"
    "  WSK_NUM_THREADS=n\n"
    "                 threads of the pool (1..1024; default: one per physical\n"
    "                 core); an invalid value is an error.\n";

/* ---- wsk info ---------------------------------------------------------------- */

static void info_usage(FILE *out) {
  fprintf(out,
          "usage: wsk info [--isas | --raw]\n"
          "\n"
          "Prints the CPU and the features wsk checks, the instruction-set tiers\n"
          "compiled into this build, supported by this CPU and available (both),\n"
          "the cap in force, the topology (packages, cores, PUs, cache sizes, from\n"
          "hwloc) and the tier chosen for every kernel family.\n"
          "\n"
          "Options:\n"
          "  --isas   print only the available tiers, best first, space-separated\n"
          "           on one line (e.g. \"avx512 avx2 scalar\"), for scripts\n"
          "  --raw    print the raw values the detection reads (CPUID leaves 0, 1\n"
          "           and 7 and XCR0 on x86-64; AT_HWCAP and AT_HWCAP2 on Linux\n"
          "           aarch64), to report or record a CPU\n"
          "  --help   print this help\n"
          "\n"
          "%s",
          env_help);
}

/* The available tiers, best first, on one line. */
static void print_isas(FILE *out) {
  static const wsk_isa best_first[] = {WSK_ISA_AVX512, WSK_ISA_AVX2, WSK_ISA_NEON,
                                       WSK_ISA_SCALAR};
  uint32_t avail = wsk_isas_available();
  const char *sep = "";
  for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++) {
    if (!(avail & WSK_ISA_BIT(best_first[i]))) continue;
    fprintf(out, "%s%s", sep, wsk_isa_name(best_first[i]));
    sep = " ";
  }
  fputc('\n', out);
}

/* The raw register values behind the detection (dispatch/cpu.h). */
static int print_raw(FILE *out) {
#if defined(__x86_64__) || defined(_M_X64)
  wsk_x86_regs r;
  if (!wsk_cpu_read_x86(&r)) {
    fprintf(stderr, "wsk info: CPUID could not be read\n");
    return 1;
  }
  fprintf(out,
          "x86 max_leaf=0x%08x leaf1_ecx=0x%08x leaf1_edx=0x%08x leaf7_ebx=0x%08x "
          "leaf7_ecx=0x%08x leaf7_edx=0x%08x xcr0=0x%llx\n",
          r.max_leaf, r.leaf1_ecx, r.leaf1_edx, r.leaf7_ebx, r.leaf7_ecx, r.leaf7_edx,
          (unsigned long long)r.xcr0);
#elif defined(__aarch64__) && defined(__linux__)
  fprintf(out, "linux-aarch64 hwcap=0x%lx hwcap2=0x%lx\n", getauxval(AT_HWCAP),
          getauxval(AT_HWCAP2));
#else
  fprintf(out, "no raw detection values on this platform\n");
#endif
  return fflush(out) == 0 ? 0 : 1;
}

static int cmd_info(int argc, char **argv) {
  int isas_only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--isas") == 0) {
      isas_only = 1;
    } else if (strcmp(argv[i], "--raw") == 0) {
      return print_raw(stdout);
    } else {
      fprintf(stderr, "wsk info: unknown argument '%s'\n\n", argv[i]);
      info_usage(stderr);
      return 2;
    }
  }
  if (isas_only) {
    print_isas(stdout);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  if (wsk_info_print(stdout) != WSK_OK) {
    fprintf(stderr, "wsk info: %s\n", wsk_last_error());
    return 1;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- the command table ---------------------------------------------------------- */

static const wsk_command commands[] = {
    {"info", "print the CPU, its features and topology, and the kernel tier per family",
     cmd_info, info_usage},
    {"bench", "benchmark every kernel on every tier against this machine's roofline",
     wsk_cmd_bench, wsk_cmd_bench_usage},
    {"bench-compare", "merge the JSON of several `wsk bench` runs into one table and plots",
     wsk_cmd_bench_compare, wsk_cmd_bench_compare_usage},
    {"zoo", "train a model zoo of small FashionMNIST classifiers (checkpoints + zoo.csv)",
     wsk_cmd_zoo, wsk_cmd_zoo_usage},
    {"ssl", "train the self-supervised hyper-representation of a zoo; embed its checkpoints",
     wsk_cmd_ssl, wsk_cmd_ssl_usage},
    {"probe", "linear probes of a zoo: hyper-representation vs s(W) vs W", wsk_cmd_probe,
     wsk_cmd_probe_usage},
    {"unf", "universal neural functionals: basis terms, learned optimizer, accuracy predictor",
     wsk_cmd_unf, wsk_cmd_unf_usage},
    {"pipeline", "zoo -> SSL -> probes, then UNF: learned optimizers, predictor; a report",
     wsk_cmd_pipeline, wsk_cmd_pipeline_usage},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out,
          "usage: wsk [--help|--version] <command> [args]\n"
          "\n"
          "wsk (weight-space kernels): learning on neural-network weights on CPUs.\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].help);
  fprintf(out,
          "\n"
          "Run 'wsk <command> --help' for the options of a command.\n"
          "\n"
          "%s",
          env_help);
}

static int is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (is_help(name) || strcmp(name, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(name, "--version") == 0) {
    printf("wsk %s\n", WSK_VERSION_STRING);
    return 0;
  }
  if (name[0] == '-') {
    fprintf(stderr, "wsk: unknown option '%s'\n\n", name);
    usage(stderr);
    return 2;
  }

  const wsk_command *cmd = NULL;
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) cmd = &commands[i];
  if (cmd == NULL) {
    fprintf(stderr, "wsk: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
  }

  int cargc = argc - 1;
  char **cargv = argv + 1;
  for (int i = 1; i < cargc; i++) {
    if (is_help(cargv[i])) {
      cmd->usage(stdout);
      return 0;
    }
  }

  if (wsk_dispatch_init() != WSK_OK || wsk_threads_init() != WSK_OK) {
    fprintf(stderr, "wsk: %s\n", wsk_last_error());
    return 2;
  }
  return cmd->run(cargc, cargv);
}
