/*  cmd_import.c -- `offramp import MODEL.pth --arch espnet-p2q8 --out DIR`:
    convert a PyTorch state_dict into the runtime's layout (config.json +
    model.safetensors), then load the result with the C runtime to prove it
    is usable.

    Reading a PyTorch pickle needs PyTorch, so the conversion itself is the
    offline helper tools/import_pth.py run with Debian's /usr/bin/python3
    (python3-torch). This is the only place offramp runs Python; models
    already in safetensors form never need it. */
#include "espnet.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"
#include "../../harness/commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_PYTHON "/usr/bin/python3"
#define HELPER "import_pth.py"

typedef struct {
    const char *model;
    const char *arch;
    const char *out;
    const char *python;
    const char *helper;
} import_args;

static void
usage (FILE *f)
{
    fprintf (f,
        "usage: offramp import MODEL.pth --arch ARCH --out DIR [--python PY] [--helper FILE]\n\n"
        "Converts a PyTorch state_dict into DIR/model.safetensors + DIR/config.json\n"
        "(tensor names: docs/IMPORT.md) and checks that the runtime loads it.\n\n"
        "  --arch ARCH     espnet-p<P>q<Q>, e.g. espnet-p2q8 (ESPNet, P ESP blocks at 1/4,\n"
        "                  Q at 1/8; classes are read from the checkpoint)\n"
        "  --out DIR       output directory (created)\n"
        "  --python PY     interpreter with python3-torch (default $OFFRAMP_PYTHON or\n"
        "                  " DEFAULT_PYTHON ")\n"
        "  --helper FILE   the converter (default: tools/" HELPER " next to the\n"
        "                  build or install, or $OFFRAMP_TOOLS/" HELPER ")\n");
}

static int
parse_args (int argc, char **argv, import_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **dst = strcmp (s, "--arch") == 0 ? &a->arch
                         : strcmp (s, "--out") == 0 ? &a->out
                         : strcmp (s, "--python") == 0 ? &a->python
                         : strcmp (s, "--helper") == 0 ? &a->helper : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf (stderr, "offramp import: %s needs a value\n", s);
                return 2;
            }
            *dst = argv[++i];
        }
        else if (s[0] == '-' || a->model) {
            fprintf (stderr, "offramp import: unexpected argument '%s' (see --help)\n", s);
            return 2;
        }
        else
            a->model = s;
    }
    if (!a->model || !a->arch || !a->out) {
        fprintf (stderr, "offramp import: MODEL, --arch and --out are required (see --help)\n");
        return 2;
    }
    int p, q, used = 0;
    if (sscanf (a->arch, "espnet-p%dq%d%n", &p, &q, &used) != 2 || a->arch[used]
        || p < 0 || q < 0) {
        fprintf (stderr, "offramp import: unknown --arch '%s' (supported: espnet-p<P>q<Q>, "
                 "e.g. espnet-p2q8)\n", a->arch);
        return 2;
    }
    return 0;
}

static bool
is_file (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

/* The converter: --helper, $OFFRAMP_TOOLS, then next to the executable
   (build tree: build/offramp or build/tests/x -> tools/; install: share). */
static char *
find_helper (const char *given, char *err, size_t errlen)
{
    if (given)
        return is_file (given) ? ofr_strdup (given)
                               : (ofr_errf (err, errlen, "%s: no such file", given), NULL);
    const char *env = getenv ("OFFRAMP_TOOLS");
    char *exe = ofr_exe_dir ();
    if (!exe) {
        ofr_errf (err, errlen, "out of memory");
        return NULL;
    }
    const char *rel[] = { "../tools", "../../tools", "../share/offramp/tools" };
    ofr_buf tried;
    ofr_buf_init (&tried);
    char *found = NULL;
    for (int i = -1; i < 3 && !found; i++) {
        ofr_buf b;
        ofr_buf_init (&b);
        if (i < 0 && env && *env)
            ofr_buf_printf (&b, "%s/%s", env, HELPER);
        else if (i >= 0)
            ofr_buf_printf (&b, "%s/%s/%s", exe, rel[i], HELPER);
        if (b.data && !b.oom && is_file (b.data))
            found = b.data;
        else {
            if (b.data)
                ofr_buf_printf (&tried, "%s%s", tried.len ? ", " : "", b.data);
            ofr_buf_free (&b);
        }
    }
    if (!found)
        ofr_errf (err, errlen, "the converter " HELPER " was not found (tried %s); "
                  "pass --helper FILE or set OFFRAMP_TOOLS", tried.data ? tried.data : "");
    ofr_buf_free (&tried);
    free (exe);
    return found;
}

static int
run_helper (const char *python, const char *helper, const import_args *a, char *err,
            size_t errlen)
{
    char *const argv[] = { (char *) python, (char *) helper, (char *) a->model,
                           "--arch", (char *) a->arch, "--out", (char *) a->out, NULL };
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0)
        return ofr_errf (err, errlen, "fork: %s", strerror (errno));
    if (pid == 0) {
        execv (python, argv);
        fprintf (stderr, "offramp import: %s: %s\n", python, strerror (errno));
        _exit (127);
    }
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return ofr_errf (err, errlen, "waitpid: %s", strerror (errno));
    if (WIFSIGNALED (status))
        return ofr_errf (err, errlen, "%s %s: killed by signal %d", python, helper,
                         WTERMSIG (status));
    if (WEXITSTATUS (status) == 127)
        return ofr_errf (err, errlen, "%s could not run (install python3-torch, or pass "
                         "--python)", python);
    if (WEXITSTATUS (status) != 0)
        return ofr_errf (err, errlen, "%s failed (exit %d, message above)", helper,
                         WEXITSTATUS (status));
    return 0;
}

/* Load the imported model with the C runtime: proves the files are usable. */
static int
verify (const char *dir, char *err, size_t errlen)
{
    ofr_espnet *m = NULL;
    if (ofr_espnet_load (dir, &m, err, errlen) != 0)
        return -1;
    double flops = 0;
    for (int b = 0; b < ofr_espnet_n_blocks (m); b++)
        flops += ofr_espnet_block_flops (m, b, 360, 480);
    printf ("verified %s: ESPNet p=%d q=%d, %d classes, %d blocks, %.2f GFLOPs per "
            "480x360 image\n", dir, ofr_espnet_p (m), ofr_espnet_q (m),
            ofr_espnet_classes (m), ofr_espnet_n_blocks (m), flops / 1e9);
    ofr_espnet_destroy (&m);
    return 0;
}

int
ofr_cmd_import (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            usage (stdout);
            return 0;
        }
    import_args a = { 0 };
    int rc = parse_args (argc, argv, &a);
    if (rc != 0)
        return rc;
    char err[OFR_ERRLEN];
    const char *python = a.python ? a.python
                       : getenv ("OFFRAMP_PYTHON") ? getenv ("OFFRAMP_PYTHON") : DEFAULT_PYTHON;
    if (!is_file (a.model)) {
        fprintf (stderr, "offramp import: %s: no such file\n", a.model);
        return 1;
    }
    char *helper = find_helper (a.helper, err, sizeof err);
    if (!helper) {
        fprintf (stderr, "offramp import: %s\n", err);
        return 1;
    }
    rc = run_helper (python, helper, &a, err, sizeof err) == 0
         && verify (a.out, err, sizeof err) == 0 ? 0 : 1;
    if (rc)
        fprintf (stderr, "offramp import: %s\n", err);
    free (helper);
    return rc;
}
