/* apps/commands.h — the subcommands of `wsk` that live in their own files.
 * Each has run(argc, argv) (argv[0] is the command name; returns the exit
 * status) and usage(out). */
#ifndef WSK_APPS_COMMANDS_H
#define WSK_APPS_COMMANDS_H

#include <stdio.h>

int wsk_cmd_bench(int argc, char **argv);
void wsk_cmd_bench_usage(FILE *out);

int wsk_cmd_bench_compare(int argc, char **argv);
void wsk_cmd_bench_compare_usage(FILE *out);

int wsk_cmd_probe(int argc, char **argv);
void wsk_cmd_probe_usage(FILE *out);

int wsk_cmd_ssl(int argc, char **argv);
void wsk_cmd_ssl_usage(FILE *out);

int wsk_cmd_zoo(int argc, char **argv);
void wsk_cmd_zoo_usage(FILE *out);

int wsk_cmd_unf(int argc, char **argv);
void wsk_cmd_unf_usage(FILE *out);
/* `wsk unf meta-train` and `wsk unf eval` (apps/cmd_unf_lo.c) */
int wsk_cmd_unf_meta_train(int argc, char **argv);
void wsk_cmd_unf_meta_train_usage(FILE *out);
int wsk_cmd_unf_eval(int argc, char **argv);
void wsk_cmd_unf_eval_usage(FILE *out);

int wsk_cmd_pipeline(int argc, char **argv);
void wsk_cmd_pipeline_usage(FILE *out);

#endif
