/*  cmd_suites.c -- `offramp suites`: the suites and where their data is. */
#include "suite.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../harness/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
kinds_str (unsigned k, char *buf, size_t n)
{
    static const char *names[] = { "encoder", "decoder", "seq2seq", "cnn" };
    buf[0] = 0;
    for (int i = 0; i < 4; i++)
        if (k & (1u << i))
            snprintf (buf + strlen (buf), n - strlen (buf), "%s%s", buf[0] ? "," : "", names[i]);
    return buf;
}

int
ofr_cmd_suites (int argc, char **argv)
{
    const char *data = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            printf ("usage: offramp suites [--data DIRS]\n\n"
                    "Lists the evaluation suites, the model kinds they apply to, their\n"
                    "primary metric and where their data was found on the data path.\n");
            return 0;
        }
        if (strcmp (argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else {
            fprintf (stderr, "offramp suites: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    char *path = data ? ofr_strdup (data) : ofr_default_data_path ();
    if (!path)
        return 1;
    printf ("%-14s %-8s %-10s %-9s %s\n", "suite", "kinds", "metric", "split", "data");
    for (const ofr_suite_class *const *s = ofr_suite_all (); *s; s++) {
        char kinds[64], err[OFR_ERRLEN];
        char *where = NULL;
        const char *shown = "generated (no files)";
        if ((*s)->data_subdir)
            shown = ofr_path_find (path, (*s)->data_subdir, &where, err, sizeof err) == 0
                    ? where : "NOT FOUND (set --data or OFFRAMP_DATA)";
        printf ("%-14s %-8s %-10s %-9s %s\n    %s\n", (*s)->name,
                kinds_str ((*s)->kinds, kinds, sizeof kinds), (*s)->primary,
                (*s)->default_split, shown, (*s)->summary);
        free (where);
    }
    printf ("\ndata path: %s\n", path);
    free (path);
    return 0;
}
