/*  registry.c -- open a model by name (see model.h). */
#include "../model.h"
#include "../../common/ofr_common.h"
#include "../../tests/testnet/testnet.h"

#include <stdlib.h>
#include <string.h>

int
ofr_model_open (const char *name, const char *models_path, ofr_model **out,
                char *err, size_t errlen)
{
    (void) models_path;
    if (!name || !*name)
        return ofr_errf (err, errlen, "model: empty name");
    if (strncmp (name, "testnet", 7) == 0)
        return ofr_testnet_open (name, out, err, errlen);
    return ofr_errf (err, errlen,
                     "model '%s': unknown (built in: testnet, testnet-L<n>; "
                     "see `offramp models`)", name);
}

void
ofr_model_destroy (ofr_model **m)
{
    if (m && *m) {
        (*m)->ops->destroy (*m);
        *m = NULL;
    }
}
