/*  plan.h -- evaluation plans: YAML file (libyaml) or command-line flags ->
    the list of cells (model x suite x method configuration) of a run.

    Plan file layout (unknown keys are errors):

        name: sst2-compare              # optional, default: file stem
        settings:                       # optional
          batch_size: 16                # rows per model batch (default 16)
          shard_size: 64                # examples per task (default 64)
          seed: 1                       # base seed (default 1)
        models: [testnet]               # list of names, or maps {name: X}
        suites:
          - sst2                        # a name, or a map:
          - {name: rte, split: dev, limit: 100}
        methods:
          - full                        # a name, or a map:
          - name: entropy
            params:
              threshold: [0.1, 0.2]     # a list value is a sweep (grid)
              min_layer: 1

    Cells are enumerated models-major, then suites, then methods in file
    order, then the sweep grid with the first parameter varying slowest.
    Errors read "plan.yaml:12: methods[1].params: expected a mapping". */
#ifndef OFR_PLAN_H
#define OFR_PLAN_H

#include "../common/ofr_types.h"
#include <stddef.h>

typedef struct ofr_plan ofr_plan;

/* Parse a YAML plan. `origin` names it in messages (the file path). */
int  ofr_plan_load_file (const char *path, ofr_plan **out, char *err, size_t errlen);
int  ofr_plan_load_string (const char *yaml, size_t len, const char *origin,
                           ofr_plan **out, char *err, size_t errlen);

/* Build a plan from `run` flags: models and suites are comma-separated name
   lists; each method spec is "NAME[:key=value[,key=value]...]" where a value
   may be a sweep "0.1|0.2|0.4". limit > 0 caps examples per suite. */
int  ofr_plan_from_args (const char *models, const char *suites,
                         const char *const *methods, int n_methods, int limit,
                         ofr_plan **out, char *err, size_t errlen);

void ofr_plan_destroy (ofr_plan **self);

const char     *ofr_plan_name (const ofr_plan *self);
int             ofr_plan_n_cells (const ofr_plan *self);
const ofr_cell *ofr_plan_cell (const ofr_plan *self, int i);
/* Source line of the method entry that produced cell i (0 for flags). */
int             ofr_plan_cell_line (const ofr_plan *self, int i);
const char     *ofr_plan_origin (const ofr_plan *self);
/* Canonical YAML source of the plan, owned by the plan (store it with the
   run): the text given to load_*, or for from_args an equivalent generated
   plan that re-loads to the same cells. ofr_plan_set_limit does not edit it. */
const char     *ofr_plan_text (const ofr_plan *self);
int             ofr_plan_shard_size (const ofr_plan *self);
/* Override the limit of every cell (e.g. `run --limit`), 0 = keep. */
void            ofr_plan_set_limit (ofr_plan *self, int limit);

#endif
