/*  blas_setup.c -- see blas_setup.h. */
#include "blas_setup.h"

#include <cblas.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#  include <cpuid.h>
#endif

/* Set (to the core OpenBLAS first picked) only in the re-executed process,
   and removed at once, so a process re-executes at most once and its own
   children start from a clean slate. */
#define OFR_REEXEC_ENV "OFR_BLAS_REEXECED"

/*  ISA levels of the kernels: 3 AVX-512, 2 AVX2+FMA, 1 AVX, 0 older. */
enum { LEVEL_UNKNOWN = -1, LEVEL_OLD = 0, LEVEL_AVX = 1, LEVEL_AVX2 = 2,
       LEVEL_AVX512 = 3 };

#if defined(__x86_64__) || defined(__i386__)
static unsigned long long
s_xgetbv0 (void)
{
    unsigned eax, edx;
    __asm__ volatile ("xgetbv" : "=a" (eax), "=d" (edx) : "c" (0));
    return ((unsigned long long) edx << 32) | eax;
}

/*  The CPU may have the instructions while the OS does not save the
    registers (XCR0): then using them faults, so both must agree. */
static int
s_cpu_level (void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid (1, &a, &b, &c, &d))
        return LEVEL_OLD;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX))
        return LEVEL_OLD;
    unsigned long long xcr0 = s_xgetbv0 ();
    if ((xcr0 & 0x6) != 0x6)              /* SSE + AVX state */
        return LEVEL_OLD;
    int fma = (c & bit_FMA) != 0;
    if (!__get_cpuid_count (7, 0, &a, &b, &c, &d))
        return LEVEL_AVX;
    if (!(b & bit_AVX2) || !fma)
        return LEVEL_AVX;
    const unsigned avx512 = bit_AVX512F | bit_AVX512DQ | bit_AVX512BW | bit_AVX512VL;
    if ((b & avx512) == avx512 && (xcr0 & 0xe0) == 0xe0)   /* opmask + ZMM state */
        return LEVEL_AVX512;
    return LEVEL_AVX2;
}
#else
static int
s_cpu_level (void)
{
    return LEVEL_UNKNOWN;
}
#endif

const char *
ofr_blas_wanted_core (void)
{
    switch (s_cpu_level ()) {
        case LEVEL_AVX512: return "SkylakeX";
        case LEVEL_AVX2:   return "Haswell";
        case LEVEL_AVX:    return "Sandybridge";
        default:           return NULL;
    }
}

static const char *
s_level_desc (int level)
{
    switch (level) {
        case LEVEL_AVX512: return "AVX-512 CPU";
        case LEVEL_AVX2:   return "AVX2 CPU";
        case LEVEL_AVX:    return "AVX CPU";
        default:           return "pre-AVX CPU";
    }
}

/*  ISA level of OpenBLAS 0.3.21's x86-64 core names. A core at the wanted
    level is good enough (Cooperlake is SkylakeX plus bf16); names this table
    does not know (newer OpenBLAS) are left alone rather than downgraded. */
static int
s_core_level (const char *core)
{
    static const struct { const char *name; int level; } table[] = {
        { "SkylakeX", LEVEL_AVX512 }, { "Cooperlake", LEVEL_AVX512 },
        { "SapphireRapids", LEVEL_AVX512 },
        { "Haswell", LEVEL_AVX2 }, { "Zen", LEVEL_AVX2 },
        { "Sandybridge", LEVEL_AVX }, { "Bulldozer", LEVEL_AVX },
        { "Piledriver", LEVEL_AVX }, { "Steamroller", LEVEL_AVX },
        { "Excavator", LEVEL_AVX },
        { "Unknown", LEVEL_OLD }, { "Katmai", LEVEL_OLD }, { "Coppermine", LEVEL_OLD },
        { "Northwood", LEVEL_OLD }, { "Prescott", LEVEL_OLD }, { "Banias", LEVEL_OLD },
        { "Atom", LEVEL_OLD }, { "Core2", LEVEL_OLD }, { "Penryn", LEVEL_OLD },
        { "Dunnington", LEVEL_OLD }, { "Nehalem", LEVEL_OLD }, { "Athlon", LEVEL_OLD },
        { "Opteron", LEVEL_OLD }, { "Opteron_SSE3", LEVEL_OLD }, { "Barcelona", LEVEL_OLD },
        { "Nano", LEVEL_OLD },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcasecmp (core, table[i].name) == 0)
            return table[i].level;
    return LEVEL_UNKNOWN;
}

const char *
ofr_blas_core (void)
{
    const char *name = openblas_get_corename ();
    return name ? name : "unknown";
}

int
ofr_blas_threads (void)
{
    return openblas_get_num_threads ();
}

void
ofr_blas_set_threads (int threads)
{
    if (threads > 0)
        openblas_set_num_threads (threads);
}

/*  Write "OpenBLAS core X (<why>), N threads" into msg; returns rc. */
static int
s_say (int rc, char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return rc;
    char why[192];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (why, sizeof why, fmt, ap);
    va_end (ap);
    int n = ofr_blas_threads ();
    snprintf (msg, msglen, "OpenBLAS core %s (%s), %d thread%s",
              ofr_blas_core (), why, n, n == 1 ? "" : "s");
    return rc;
}

/*  OpenBLAS core names are short identifiers; anything else is a typo or
    an attempt to smuggle junk into the environment. */
static int
s_valid_core_name (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > 31)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

/*  Replace this process with itself, OPENBLAS_CORETYPE=core. Only returns
    on failure, with the environment restored and the reason in why. */
static void
s_reexec (char **argv, const char *core, const char *have, char *why, size_t whylen)
{
    const char *old = getenv ("OPENBLAS_CORETYPE");
    int had_old = old != NULL;
    char *saved = old ? strdup (old) : NULL;
    if (had_old && !saved)
        snprintf (why, whylen, "out of memory");
    else if (setenv ("OPENBLAS_CORETYPE", core, 1) != 0
        || setenv (OFR_REEXEC_ENV, have, 1) != 0) {
        snprintf (why, whylen, "setenv: %s", strerror (errno));
    }
    else {
        fflush (stdout);
        fflush (stderr);
        execv ("/proc/self/exe", argv);
        snprintf (why, whylen, "execv /proc/self/exe: %s", strerror (errno));
    }
    unsetenv (OFR_REEXEC_ENV);
    if (saved)
        setenv ("OPENBLAS_CORETYPE", saved, 1);
    else if (!had_old)
        unsetenv ("OPENBLAS_CORETYPE");
    free (saved);
}

/*  What the caller asked for, resolved from the environment. */
typedef struct {
    const char *target;   /* core to run with, NULL = leave OpenBLAS alone   */
    int         forced;   /* explicit user core name: must match exactly     */
    char        source[64]; /* why this target, for the message             */
} choice;

static int
s_choose (choice *ch, int reexeced, char *msg, size_t msglen)
{
    memset (ch, 0, sizeof *ch);
    const char *user = getenv ("OFFRAMP_BLAS_CORE");
    const char *env_core = getenv ("OPENBLAS_CORETYPE");
    const char *wanted = ofr_blas_wanted_core ();
    if (user && *user && strcasecmp (user, "auto") != 0) {
        if (strcasecmp (user, "none") == 0)
            return s_say (1, msg, msglen, "OFFRAMP_BLAS_CORE=none");
        if (!s_valid_core_name (user))
            return s_say (-1, msg, msglen, "OFFRAMP_BLAS_CORE: '%.40s' is not a core name "
                          "(want auto, none, or e.g. SkylakeX, Haswell)", user);
        ch->target = user;
        ch->forced = 1;
        snprintf (ch->source, sizeof ch->source, "OFFRAMP_BLAS_CORE=%s", user);
        return 0;
    }
    if (!(user && *user) && env_core && *env_core && !reexeced)
        return s_say (1, msg, msglen, "OPENBLAS_CORETYPE=%.40s from the environment", env_core);
    if (!wanted)
        return s_say (1, msg, msglen, "no preference for this CPU");
    ch->target = wanted;
    snprintf (ch->source, sizeof ch->source, "%s", s_level_desc (s_core_level (wanted)));
    return 0;
}

static int
s_needs_change (const choice *ch, const char *have)
{
    if (ch->forced)
        return strcasecmp (have, ch->target) != 0;
    int lh = s_core_level (have);
    return lh != LEVEL_UNKNOWN && lh != s_core_level (ch->target);
}

int
ofr_blas_setup (int argc, char **argv, int threads, char *msg, size_t msglen)
{
    char detected[64] = "";
    const char *marker = getenv (OFR_REEXEC_ENV);
    int reexeced = marker != NULL;
    if (reexeced) {
        snprintf (detected, sizeof detected, "%s", marker);
        unsetenv (OFR_REEXEC_ENV);
    }
    ofr_blas_set_threads (threads);

    choice ch;
    int rc = s_choose (&ch, reexeced, msg, msglen);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    const char *have = ofr_blas_core ();
    if (!s_needs_change (&ch, have)) {
        if (reexeced)
            return s_say (0, msg, msglen, "detected %s; %s", detected, ch.source);
        return s_say (0, msg, msglen, "%s", ch.source);
    }
    int fail = ch.forced ? -1 : 0;
    if (reexeced)
        return s_say (fail, msg, msglen, "%s wanted %s but OpenBLAS did not take "
                      "OPENBLAS_CORETYPE=%s; first detected %s", ch.source, ch.target,
                      ch.target, detected);
    if (argc < 1 || !argv || !argv[0] || argv[argc] != NULL)
        return s_say (fail, msg, msglen, "%s wants %s but there is no argv to re-exec",
                      ch.source, ch.target);
    char why[128];
    s_reexec (argv, ch.target, have, why, sizeof why);
    return s_say (fail, msg, msglen, "%s wants %s: %s", ch.source, ch.target, why);
}
