/*  replay_main.c -- runs a fuzz target's LLVMFuzzerTestOneInput once on
    every file named (directories: every file in them), so that the main
    (gcc) build and the ASan build replay the committed corpus and every
    regression input without libFuzzer. A missing directory is skipped. */
#include "fuzz_util.h"
#include "common/ofr_common.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int
replay_file (const char *path)
{
    char *data = NULL;
    size_t size = 0;
    char err[OFR_ERRLEN];
    if (ofr_read_file (path, &data, &size, err, sizeof err) != 0) {
        fprintf (stderr, "replay: %s\n", err);
        return -1;
    }
    LLVMFuzzerTestOneInput ((const uint8_t *) data, size);
    free (data);
    return 0;
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
    ofr_log_setup ("fuzz-replay", OFR_ERROR + 1);
    int n = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat (argv[i], &st) != 0) {
            if (errno != ENOENT) {
                fprintf (stderr, "replay: %s: %s\n", argv[i], strerror (errno));
                bad++;
            }
            continue;
        }
        if (!S_ISDIR (st.st_mode)) {
            bad += replay_file (argv[i]) != 0;
            n++;
            continue;
        }
        DIR *d = opendir (argv[i]);
        if (!d) {
            fprintf (stderr, "replay: %s: %s\n", argv[i], strerror (errno));
            bad++;
            continue;
        }
        char **names = NULL;
        size_t cap = 0, k = 0;
        struct dirent *e;
        while ((e = readdir (d)) != NULL) {
            if (e->d_name[0] == '.' || strcmp (e->d_name, "README.md") == 0)
                continue;
            char *full = malloc (strlen (argv[i]) + strlen (e->d_name) + 2);
            if (!full || ofr_grow ((void **) &names, &cap, k + 1, sizeof *names) != 0) {
                free (full);
                fprintf (stderr, "replay: out of memory\n");
                return 1;
            }
            sprintf (full, "%s/%s", argv[i], e->d_name);
            names[k++] = full;
        }
        closedir (d);
        qsort (names, k, sizeof *names, cmp_str);   /* a stable order in logs */
        for (size_t j = 0; j < k; j++) {
            bad += replay_file (names[j]) != 0;
            n++;
            free (names[j]);
        }
        free (names);
    }
    printf ("replayed %d input(s)%s\n", n, bad ? ", some unreadable" : "");
    return bad ? 1 : 0;
}
