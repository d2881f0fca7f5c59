/*  registry.c -- the built-in suite classes. A new suite is one file that
    defines a `const ofr_suite_class` and one line here. */
#include "suite.h"

#include <string.h>

#include "camvid.h"
#include "coqa.h"
#include "glue.h"
#include "lm_suite.h"
#include "mt_suites.h"

extern const ofr_suite_class ofr_suite_synthetic;   /* tests/testnet/ */
extern const ofr_suite_class ofr_suite_aren_translit;   /* translit_suite.c */

static const ofr_suite_class *const s_suites[] = {
    &ofr_suite_sst2, &ofr_suite_mrpc, &ofr_suite_rte, &ofr_suite_qnli,
    &ofr_suite_stsb, &ofr_suite_cola,
    &ofr_suite_camvid,
    &ofr_suite_wmt22_en_de, &ofr_suite_wmt22_de_en, &ofr_suite_multi30k_en_de,
    &ofr_suite_aren_translit,
    &ofr_suite_tinystories_gen, &ofr_suite_truthfulqa_mc1, &ofr_suite_truthfulqa_mc2,
    &ofr_suite_coqa,
    &ofr_suite_synthetic,
    NULL
};

const ofr_suite_class *const *
ofr_suite_all (void)
{
    return s_suites;
}

const ofr_suite_class *
ofr_suite_find (const char *name)
{
    for (int i = 0; name && s_suites[i]; i++)
        if (strcmp (s_suites[i]->name, name) == 0)
            return s_suites[i];
    return NULL;
}
