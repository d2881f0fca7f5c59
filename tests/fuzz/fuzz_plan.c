/*  fuzz_plan.c -- plan YAML (harness/plan.c, libyaml) on arbitrary text:
    load, then walk every cell. Errors are fine; crashes, leaks and UB
    are not. An accepted plan's cells must be well formed. */
#include "fuzz_util.h"
#include "harness/plan.h"
#include "common/ofr_common.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    ofr_plan *p = NULL;
    char err[OFR_ERRLEN];
    if (ofr_plan_load_string ((const char *) data, size, "fuzz.yaml", &p, err, sizeof err) != 0) {
        OFR_FUZZ_ASSERT (p == NULL && err[0]);
        return 0;
    }
    OFR_FUZZ_ASSERT (ofr_plan_name (p) != NULL);
    int n = ofr_plan_n_cells (p);
    OFR_FUZZ_ASSERT (n >= 0);
    for (int i = 0; i < n; i++) {
        const ofr_cell *c = ofr_plan_cell (p, i);
        OFR_FUZZ_ASSERT (c && c->model && c->suite && c->method);
        char *s = ofr_cell_params_str (c);
        free (s);
        (void) ofr_plan_cell_line (p, i);
    }
    (void) ofr_plan_shard_size (p);
    /* The plan's text re-loads to the same cells (plan.h promises it). */
    const char *text = ofr_plan_text (p);
    ofr_plan *q = NULL;
    if (text) {
        int rc = ofr_plan_load_string (text, strlen (text), "fuzz-reload.yaml", &q,
                                       err, sizeof err);
        if (rc != 0)
            fprintf (stderr, "plan text does not re-load: %s\n", err);
        OFR_FUZZ_ASSERT (rc == 0 && ofr_plan_n_cells (q) == n);
        for (int i = 0; i < n; i++) {
            char *a = ofr_cell_params_str (ofr_plan_cell (p, i));
            char *b = ofr_cell_params_str (ofr_plan_cell (q, i));
            const ofr_cell *ca = ofr_plan_cell (p, i), *cb = ofr_plan_cell (q, i);
            OFR_FUZZ_ASSERT (a && b && strcmp (a, b) == 0);
            OFR_FUZZ_ASSERT (strcmp (ca->model, cb->model) == 0
                             && strcmp (ca->suite, cb->suite) == 0
                             && strcmp (ca->method, cb->method) == 0);
            free (a);
            free (b);
        }
        ofr_plan_destroy (&q);
    }
    ofr_plan_set_limit (p, 3);
    ofr_plan_destroy (&p);
    return 0;
}
