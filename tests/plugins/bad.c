/*  bad.c -- deliberately broken plugins, one per BAD_<VARIANT> definition
    (cmake/modules/50-plugins.cmake builds each variant into
    build/tests/badplugins/<variant>.so). Each breaks exactly one rule of the
    loader, so that tests/unit/test_plugin_host.c can check that the
    rejection message names the file and that rule. */
#include "offramp_plugin.h"

#include <stddef.h>

static int
bad_create (const ofr_host *host, const ofr_value *values, void **state,
            char *err, size_t errlen)
{
    (void) host, (void) values, (void) err, (void) errlen;
    *state = NULL;
    return 0;
}

static void
bad_destroy (void *state)
{
    (void) state;
}

static const ofr_param_decl s_params[] = {
    { "x", OFR_PARAM_FLOAT, "0.5", 0, 1, "a fine parameter" },
#if defined(BAD_DUP_PARAM)
    { "x", OFR_PARAM_INT, "1", 0, 9, "the same name again" },
#elif defined(BAD_BAD_DEFAULT)
    { "threshold", OFR_PARAM_FLOAT, "abc", 0, 1, "default is not a number" },
#elif defined(BAD_DEFAULT_RANGE)
    { "layer", OFR_PARAM_INT, "0", 1, 12, "default outside its own range" },
#elif defined(BAD_PARAM_NAME)
    { "Bad Name", OFR_PARAM_INT, "1", 0, 9, "not [a-z0-9_]+" },
#elif defined(BAD_PARAM_TYPE)
    { "y", (ofr_param_type) 9, "1", 0, 9, "no such type" },
#endif
};

/* BAD_NAME_STR is the variant's name, given by the build (wrong_major). */
#define STR_(v) #v
#define STR(v) STR_ (v)

static ofr_method s_method = {
    OFR_METHOD_HEADER,
    .name = STR (BAD_NAME_STR),
    .version = "1.0",
    .summary = "a deliberately broken plugin",
    .kinds = OFR_KIND_ALL,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = bad_create,
    .destroy = bad_destroy,
};

/*  Breaking the descriptor at run time keeps one static initialiser for all
    variants. */
static void
break_it (ofr_method *m)
{
#if defined(BAD_WRONG_MAJOR)
    m->abi_major = OFR_ABI_MAJOR + 1;
#elif defined(BAD_NEWER_MINOR)
    m->abi_minor = OFR_ABI_MINOR + 1;
#elif defined(BAD_SMALL_STRUCT)
    m->struct_size = offsetof (ofr_method, create);
#elif defined(BAD_BAD_NAME)
    m->name = "Bad-Name";
#elif defined(BAD_LONG_NAME)
    m->name = "a_name_that_goes_on_and_on_and_on_well_past_the_sixty_four_characters_allowed";
#elif defined(BAD_NULL_VERSION)
    m->version = NULL;
#elif defined(BAD_NULL_SUMMARY)
    m->summary = NULL;
#elif defined(BAD_NO_KINDS)
    m->kinds = 0;
#elif defined(BAD_BAD_KINDS)
    m->kinds = 0x10;
#elif defined(BAD_KV_POLICY)
    m->kv_policy = 7;
#elif defined(BAD_NO_CREATE)
    m->create = NULL;
#elif defined(BAD_NO_DESTROY)
    m->destroy = NULL;
#elif defined(BAD_TOO_MANY_PARAMS)
    m->n_params = 65;
#elif defined(BAD_NULL_PARAMS)
    m->params = NULL;
#elif defined(BAD_NEGATIVE_PARAMS)
    m->n_params = -1;
#else
    (void) m;
#endif
}

#if defined(BAD_MISSING_SYMBOL)
/* Exported, but under a name the host does not look for. */
OFR_EXPORT const ofr_method *
ofr_method_entry_v2 (const ofr_host *host)
#else
OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
#endif
{
    break_it (&s_method);
#if defined(BAD_NULL_ENTRY)
    host->log (NULL, OFR_LOG_WARN, "null_entry: refusing to load (on purpose)");
    return NULL;
#else
    (void) host;
    return &s_method;
#endif
}
