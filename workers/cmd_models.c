/*  cmd_models.c -- `offramp models`: built-in models and what the model
    path holds. */
#include "model.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../harness/commands.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ofr_cmd_models (int argc, char **argv)
{
    const char *given = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            printf ("usage: offramp models [--models DIRS]\n\n"
                    "Lists built-in models and the model directories found on the model\n"
                    "path ($OFFRAMP_MODELS, ./models, ../shared/models by default).\n");
            return 0;
        }
        if (strcmp (argv[i], "--models") == 0 && i + 1 < argc)
            given = argv[++i];
        else {
            fprintf (stderr, "offramp models: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    char *path = given ? ofr_strdup (given) : ofr_default_models_path ();
    if (!path)
        return 1;
    printf ("built in:\n  %-24s %s\n", "testnet, testnet-L<n>",
            "generated 16-d residual classifier with an exit per layer "
            "(test double; runs on suite 'synthetic')");
    printf ("\non the model path (%s):\n", path);
    char *save = NULL;
    int found = 0;
    for (char *dir = strtok_r (path, ":", &save); dir; dir = strtok_r (NULL, ":", &save)) {
        DIR *d = opendir (dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir (d)))
            if (e->d_name[0] != '.') {
                printf ("  %-24s %s/%s\n", e->d_name, dir, e->d_name);
                found++;
            }
        closedir (d);
    }
    if (!found)
        printf ("  (none)\n");
    free (path);
    return 0;
}
