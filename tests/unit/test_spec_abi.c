/*  test_spec_abi.c -- ABI 1.3 on the host side: `speculate` and
    `cell_kv_policy` are read only from descriptors that have them (a 1.2
    plugin loads and does not speculate), `speculate` outside decoders is
    refused naming the rule, the selfspec method hands its k / draft to the
    driver and refuses k >= layers, and calm's kv parameter sets the
    cell's KV policy. Plugins from OFR_PLUGIN_DIR and OFR_BUILD_DIR/tests. */
#include "workers/plugin_host.h"
#include "common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
    fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); } } while (0)

static ofr_plugin *
load (const char *dir, const char *file, char *err, size_t errlen)
{
    char path[2048];
    snprintf (path, sizeof path, "%s/%s", dir, file);
    ofr_plugin *p = NULL;
    if (ofr_plugin_load (path, ofr_host_listing (), &p, err, errlen) != 0)
        return NULL;
    return p;
}

/* create() the method of p with one user parameter; NULL state on error. */
static int
create (const ofr_method *m, const char *key, const char *val, ofr_params **params,
        void **state, char *err, size_t errlen)
{
    ofr_kv kv = { (char *) key, (char *) val };
    if (ofr_params_new (m, &kv, key ? 1 : 0, params, err, errlen) != 0)
        return -1;
    return m->create (ofr_host_listing (), ofr_params_values (*params), state, err, errlen);
}

int
main (void)
{
    const char *pdir = getenv ("OFR_PLUGIN_DIR"), *bdir = getenv ("OFR_BUILD_DIR");
    if (!pdir || !bdir) {
        fprintf (stderr, "OFR_PLUGIN_DIR and OFR_BUILD_DIR must be set (ctest does)\n");
        return 1;
    }
    char tdir[2048], err[OFR_ERRLEN] = "";
    snprintf (tdir, sizeof tdir, "%s/tests/specabi", bdir);

    ofr_plugin *p = load (tdir, "spec_abi_old.so", err, sizeof err);
    CHECK (p, "a 1.2 descriptor must load: %s", err);
    if (p) {
        const ofr_method *m = ofr_plugin_method (p);
        CHECK (!OFR_METHOD_HAS (m, speculate) && !OFR_METHOD_HAS (m, cell_kv_policy)
               && ofr_method_kv_policy (m, NULL) == OFR_KV_MASK,
               "1.2 descriptor read past its end");
        ofr_plugin_destroy (&p);
    }
    p = load (tdir, "spec_abi_encoder.so", err, sizeof err);
    CHECK (!p && strstr (err, "spec_abi_encoder.so") && strstr (err, "kinds = decoder only"),
           "speculate for encoders: %s", err);
    ofr_plugin_destroy (&p);

    p = load (pdir, "selfspec.so", err, sizeof err);
    CHECK (p, "selfspec: %s", err);
    if (p) {
        const ofr_method *m = ofr_plugin_method (p);
        ofr_params *params = NULL;
        void *st = NULL;
        CHECK (OFR_METHOD_HAS (m, speculate) && m->speculate, "selfspec does not speculate");
        CHECK (create (m, "draft", "3", &params, &st, err, sizeof err) == 0, "%s", err);
        int row = 0, k = 0, d = 0;
        ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_DECODER, .batch_size = 1,
                        .n_rows = 1, .row_ids = &row, .n_layers = 5, .n_outputs = 512 };
        CHECK (st && m->speculate (st, &b, &k, &d) == 0 && k == 1 && d == 3,
               "speculate: k %d draft %d", k, d);
        b.n_layers = 1;
        CHECK (st && m->speculate (st, &b, &k, &d) != 0, "k = layers accepted");
        if (st)
            m->destroy (st);
        ofr_params_destroy (&params);
        ofr_plugin_destroy (&p);
    }

    p = load (pdir, "calm.so", err, sizeof err);
    CHECK (p, "calm: %s", err);
    if (p) {
        const ofr_method *m = ofr_plugin_method (p);
        const char *vals[] = { "copy_up", "recompute", "mask" };
        const int want[] = { OFR_KV_COPY_UP, OFR_KV_RECOMPUTE, OFR_KV_MASK };
        for (int i = 0; i < 3; i++) {
            ofr_params *params = NULL;
            void *st = NULL;
            CHECK (create (m, "kv", vals[i], &params, &st, err, sizeof err) == 0
                   && ofr_method_kv_policy (m, st) == want[i], "kv=%s: %s", vals[i], err);
            if (st)
                m->destroy (st);
            ofr_params_destroy (&params);
        }
        ofr_params *params = NULL;
        void *st = NULL;
        CHECK (create (m, "kv", "lazy", &params, &st, err, sizeof err) != 0
               && strstr (err, "kv 'lazy'"), "kv=lazy: %s", err);
        if (st)
            m->destroy (st);
        ofr_params_destroy (&params);
        ofr_plugin_destroy (&p);
    }
    if (failures)
        fprintf (stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
