/*  test_artifacts.c -- the fitted-artifact store (workers/artifacts.h):
    save then load round trip with the sidecar's fields, a missing
    artifact's message quoting the fit command, refusal of an artifact
    fitted on the evaluated split, of a blob changed after fitting, of bad
    names, and of saving outside `offramp fit`. */
#include "workers/artifacts.h"
#include "common/ofr_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fprintf (stderr, "\n"); s_failures++; } } while (0)

static ofr_artifacts *
s_store (const char *root, const char *split, const char *out_dir, const char *desc)
{
    ofr_artifacts_opts o = { .model = "models/testnet/", .method = "linear_exit",
                             .suite = "synthetic", .split = split, .search_path = root,
                             .out_dir = out_dir, .split_desc = desc, .n_examples = 2000,
                             .params = "{\"l2\": \"1.0\"}",
                             .fit_command = "offramp fit --model testnet --suite synthetic "
                                            "--method linear_exit" };
    ofr_artifacts *a = NULL;
    char err[OFR_ERRLEN];
    if (ofr_artifacts_new (&o, &a, err, sizeof err) != 0) {
        fprintf (stderr, "test_artifacts: %s\n", err);
        exit (1);
    }
    return a;
}

static void
test_round_trip (const char *root)
{
    const char blob[] = "0123456789abcdef";
    ofr_artifacts *fit = s_store (root, NULL, root, "synthetic/train[0:2000]");
    CHECK (!ofr_artifacts_any (fit), "an empty root has no artifacts");
    CHECK (ofr_artifacts_save (fit, "heads", blob, sizeof blob) == 0, "save: %s",
           ofr_artifacts_error (fit));
    CHECK (ofr_artifacts_n_saved (fit) == 1, "one saved");
    CHECK (ofr_artifacts_save (fit, "../evil", blob, 4) != 0, "a path as name is refused");
    CHECK (ofr_artifacts_save (fit, ".hidden", blob, 4) != 0, "a hidden name is refused");
    ofr_artifacts_destroy (&fit);
    CHECK (fit == NULL, "destroy clears the pointer");

    char side[4096];
    snprintf (side, sizeof side, "%s/testnet/linear_exit/heads.json", root);
    json_t *j = json_load_file (side, 0, NULL);
    CHECK (j, "sidecar %s is JSON", side);
    const char *split_desc = "", *model = "", *sha = "", *created = "", *split = "";
    int n = 0;
    json_t *params = NULL;
    CHECK (j && json_unpack (j, "{s:s, s:s, s:s, s:s, s:s, s:i, s:o}", "split_desc", &split_desc,
                             "model", &model, "sha256", &sha, "created", &created,
                             "split", &split, "n_examples", &n, "params", &params) == 0,
           "sidecar fields");
    CHECK (strcmp (split_desc, "synthetic/train[0:2000]") == 0, "split_desc %s", split_desc);
    CHECK (strcmp (split, "train") == 0, "split %s", split);
    CHECK (strcmp (model, "testnet") == 0, "model dir name %s", model);
    CHECK (strlen (sha) == 64 && n == 2000 && strlen (created) == 20, "sha, n, date");
    CHECK (params && json_is_object (params) && json_object_get (params, "l2"), "params object");
    json_decref (j);

    ofr_artifacts *run = s_store (root, "dev", NULL, NULL);
    CHECK (ofr_artifacts_any (run), "the root now has an artifact");
    size_t size = 0;
    const char *got = ofr_artifacts_load (run, "heads", &size);
    CHECK (got && size == sizeof blob && memcmp (got, blob, size) == 0, "load: %s",
           ofr_artifacts_error (run));
    CHECK (ofr_artifacts_save (run, "heads", blob, 4) != 0
           && strstr (ofr_artifacts_error (run), "offramp fit"), "evaluation cannot save");
    CHECK (!ofr_artifacts_load (run, "gates", &size)
           && strstr (ofr_artifacts_error (run), "fit it first: offramp fit --model testnet"),
           "a miss quotes the fit command: %s", ofr_artifacts_error (run));
    ofr_artifacts_destroy (&run);

    /* Evaluating the very split it was fitted on is refused. */
    ofr_artifacts *leak = s_store (root, "train", NULL, NULL);
    CHECK (!ofr_artifacts_load (leak, "heads", &size)
           && strstr (ofr_artifacts_error (leak), "the split this cell evaluates"),
           "fitted-on-evaluated refused: %s", ofr_artifacts_error (leak));
    ofr_artifacts_destroy (&leak);

    /* A blob changed after fitting no longer matches its sidecar. */
    char bin[4096];
    snprintf (bin, sizeof bin, "%s/testnet/linear_exit/heads.bin", root);
    FILE *f = fopen (bin, "r+b");
    CHECK (f && fputc ('X', f) != EOF, "tamper %s", bin);
    if (f)
        fclose (f);
    ofr_artifacts *bad = s_store (root, "dev", NULL, NULL);
    CHECK (!ofr_artifacts_load (bad, "heads", &size)
           && strstr (ofr_artifacts_error (bad), "does not match"), "tampered blob refused: %s",
           ofr_artifacts_error (bad));
    ofr_artifacts_destroy (&bad);
}

int
main (void)
{
    char root[] = "/tmp/ofr-artifacts.XXXXXX";
    if (!mkdtemp (root)) {
        perror ("mkdtemp");
        return 1;
    }
    test_round_trip (root);
    char cmd[4200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system (cmd) != 0)
        fprintf (stderr, "test_artifacts: could not remove %s\n", root);
    if (s_failures)
        fprintf (stderr, "test_artifacts: %d failure(s)\n", s_failures);
    else
        printf ("test_artifacts: ok\n");
    return s_failures ? 1 : 0;
}
