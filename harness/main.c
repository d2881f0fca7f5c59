/*  main.c -- `offramp <command>`: one binary for coordinator, workers and
    tools. Sets up logging and the BLAS library, then hands over to the
    command's own function (harness/commands.h). */
#include "commands.h"
#include "../common/ofr_common.h"
#include "../workers/engine/blas_setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn) (int argc, char **argv);
    const char *summary;
} command;

static const command s_commands[] = {
    { "run",      ofr_cmd_run,      "run an evaluation plan (coordinator + local or remote workers)" },
    { "worker",   ofr_cmd_worker,   "serve a coordinator: take tasks, run models and plugins" },
    { "report",   ofr_cmd_report,   "print the results of a run (table, csv, json)" },
    { "tui",      ofr_cmd_tui,      "live dashboard of a running coordinator (--connect ADDR)" },
    { "keygen",   ofr_cmd_keygen,   "write CURVE key pairs for the coordinator, workers and dashboards" },
    { "plugins",  ofr_cmd_plugins,  "list method plugins with their parameters" },
    { "suites",   ofr_cmd_suites,   "list evaluation suites and where their data was found" },
    { "models",   ofr_cmd_models,   "list models and where they were found" },
    { "score",    ofr_cmd_score,    "score hypothesis files with sacreBLEU-exact BLEU and chrF" },
    { "fit",      ofr_cmd_fit,      "fit exit heads / thresholds of a method on a train split (frozen model)" },
    { "bench",    ofr_cmd_bench,    "measure the machine (sgemm peak, ...)" },
    { "generate", ofr_cmd_generate, "generate text with a decoder LM, optionally through a method" },
    { "import",   ofr_cmd_import,   "convert a PyTorch checkpoint (offline, python3-torch) to safetensors" },
    { "translate", ofr_cmd_translate, "translate a file with a CTranslate2 encoder-decoder (greedy / beam)" },
    { NULL, NULL, NULL }
};

static void
usage (FILE *out)
{
    fprintf (out, "usage: offramp <command> [options]   (offramp <command> --help)\n\n"
                  "An evaluation harness for dynamic inference (early exit, layer skipping,\n"
                  "adaptive precision) with a coordinator and workers over ZeroMQ.\n\ncommands:\n");
    for (const command *c = s_commands; c->name; c++)
        fprintf (out, "  %-9s %s\n", c->name, c->summary);
    fprintf (out, "\nenvironment: OFFRAMP_DATA, OFFRAMP_MODELS, OFFRAMP_PLUGINS, OFFRAMP_ARTIFACTS\n"
                  "  (search paths), OFFRAMP_KEYS (CURVE keys: offramp keygen),\n"
                  "  OFFRAMP_LOG=debug|info|warn|error, OFFRAMP_BLAS_CORE=auto|none|<core>\n");
}

static int
log_level_from_env (void)
{
    const char *v = getenv ("OFFRAMP_LOG");
    if (!v)
        return OFR_INFO;
    if (strcmp (v, "debug") == 0) return OFR_DEBUG;
    if (strcmp (v, "warn") == 0) return OFR_WARN;
    if (strcmp (v, "error") == 0) return OFR_ERROR;
    return OFR_INFO;
}

int
main (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
        || strcmp (argv[1], "help") == 0) {
        usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp (argv[1], "--version") == 0) {
        printf ("offramp 0.1.0 (plugin ABI 1.0, protocol 1)\n");
        return 0;
    }
    const command *cmd = NULL;
    for (const command *c = s_commands; c->name; c++)
        if (strcmp (c->name, argv[1]) == 0)
            cmd = c;
    if (!cmd) {
        fprintf (stderr, "offramp: unknown command '%s'\n\n", argv[1]);
        usage (stderr);
        return 2;
    }
    char tag[32];
    snprintf (tag, sizeof tag, "%s", strcmp (argv[1], "run") == 0 ? "coord" : argv[1]);
    ofr_log_setup (tag, log_level_from_env ());
    /* May re-exec this binary so that OpenBLAS picks the right kernels. */
    char msg[256] = "";
    if (ofr_blas_setup (argc, argv, 0, msg, sizeof msg) != 0)
        ofr_log (OFR_WARN, "%s", msg[0] ? msg : "OpenBLAS set-up failed");
    else if (msg[0])
        ofr_log (OFR_DEBUG, "%s", msg);   /* a worker logs its threads once set */
    return cmd->fn (argc - 1, argv + 1);
}
