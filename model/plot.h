/* model/plot.h — PNG plots through gnuplot, when it is installed.
 *
 * A plot is a gnuplot script that writes NAME.png; the script is saved as
 * DIR/NAME.gp (atomically, so a user can edit and rerun it) and run with DIR
 * as the working directory. A missing gnuplot is not an error: the PNG is
 * simply not drawn.
 */
#ifndef WSK_MODEL_PLOT_H
#define WSK_MODEL_PLOT_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when `gnuplot --version` runs. */
int wsk_plot_available(void);

/* Writes DIR/NAME.gp and runs it in DIR; 1 when DIR/NAME.png exists and is
 * not empty afterwards, 0 otherwise (no gnuplot, a failing script). */
int wsk_plot_gnuplot(const char *dir, const char *name, const char *script);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_PLOT_H */
