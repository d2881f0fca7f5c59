/*  commands.h -- one function per `offramp <command>`, each in its own file
    (harness/cmd_<name>.c unless noted). argv[0] is the command name; each
    handles --help itself and returns the process exit status (0 ok, 1 error,
    2 usage). */
#ifndef OFR_COMMANDS_H
#define OFR_COMMANDS_H

int ofr_cmd_run      (int argc, char **argv);   /* harness/cmd_run.c      */
int ofr_cmd_worker   (int argc, char **argv);   /* workers/cmd_worker.c   */
int ofr_cmd_plugins  (int argc, char **argv);   /* workers/cmd_plugins.c  */
int ofr_cmd_suites   (int argc, char **argv);   /* suites/cmd_suites.c    */
int ofr_cmd_models   (int argc, char **argv);   /* workers/cmd_models.c   */
int ofr_cmd_report   (int argc, char **argv);   /* results/cmd_report.c   */
int ofr_cmd_bench    (int argc, char **argv);   /* workers/engine/cmd_bench.c */
int ofr_cmd_score    (int argc, char **argv);   /* suites/cmd_score.c     */
int ofr_cmd_generate (int argc, char **argv);   /* workers/models/cmd_generate.c */
int ofr_cmd_import   (int argc, char **argv);   /* workers/models/cmd_import.c */
int ofr_cmd_translate (int argc, char **argv);  /* workers/models/cmd_translate.c */
int ofr_cmd_tui      (int argc, char **argv);   /* tui/cmd_tui.c          */
int ofr_cmd_keygen   (int argc, char **argv);   /* harness/cmd_keygen.c   */
int ofr_cmd_fit      (int argc, char **argv);   /* harness/cmd_fit.c      */

#endif
