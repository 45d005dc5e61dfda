/* model/plot.c — PNG plots through gnuplot (see model/plot.h). */
#include "model/plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/io.h"

int wsk_plot_available(void) { return system("gnuplot --version >/dev/null 2>&1") == 0; }

int wsk_plot_gnuplot(const char *dir, const char *name, const char *script) {
  if (!dir || !name || !script || strchr(dir, '\'') || strchr(name, '\'')) return 0;
  char gp[1200], png[1200], cmd[2600];
  snprintf(gp, sizeof gp, "%s/%s.gp", dir, name);
  snprintf(png, sizeof png, "%s/%s.png", dir, name);
  if (wsk_file_write_atomic(gp, script, strlen(script)) != WSK_OK) return 0;
  snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot '%s.gp' >/dev/null 2>&1", dir, name);
  if (system(cmd) != 0) return 0;
  struct stat st;
  return stat(png, &st) == 0 && st.st_size > 0;
}
