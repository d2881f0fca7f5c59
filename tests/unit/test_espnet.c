/*  test_espnet.c -- the C ESPNet against a PyTorch reference, block by block.

    Imports the published CamVid checkpoint with `offramp import` (the
    ofr_cmd_import function) into a temporary directory of the build tree,
    then runs tests/ref/espnet_ref.py (python3-torch, the architecture
    rebuilt from the imported weights) and the C runtime on the same CamVid
    crops and compares every block output (max abs error <= 1e-4): a
    96x120 crop, the same crop with some and with all residual ESP blocks
    skipped (a skipped block is BR(x), same bound), the image downscaled 2x (240x176) and the full
    480x360 image. Also checks the analytic FLOPs (2.67 GFLOPs per image),
    block names, skip rules and coarse exits.

    Skips (77) if ../shared or /usr/bin/python3 with torch is missing. */
#include "common/ofr_common.h"
#include "harness/commands.h"
#include "suites/camvid.h"
#include "workers/models/espnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PY "/usr/bin/python3"
/* Max abs error per block output, skipped blocks included. (With the old
   identity skip, which also dropped the block's post-add BR, activations
   left the trained range (~400) and the bound had to be relative; a
   skipped block is now BR(x), activations stay in range, so 1e-4 holds.) */
#define TOL     1e-4

#include "tests/unit/check.h"

typedef struct {
    const char *src;                  /* $OFR_SOURCE_DIR */
    char        tmp[4096];            /* scratch directory (removed at the end) */
    char        model[4200];          /* imported model directory */
    char        camvid[4200];
    char        pth[4200];
} env;

/* Runs argv[0] with argv; returns its exit status, or -1. */
static int
run (char *const argv[], bool quiet)
{
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (quiet && !freopen ("/dev/null", "w", stderr))
            _exit (126);
        execv (argv[0], argv);
        _exit (127);
    }
    int st;
    if (waitpid (pid, &st, 0) < 0 || !WIFEXITED (st))
        return -1;
    return WEXITSTATUS (st);
}

static bool
exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

static int
setup (env *e)
{
    e->src = getenv ("OFR_SOURCE_DIR");
    const char *build = getenv ("OFR_BUILD_DIR");
    if (!e->src || !build) {
        fprintf (stderr, "test_espnet: OFR_SOURCE_DIR / OFR_BUILD_DIR not set (run via ctest)\n");
        return 1;
    }
    snprintf (e->pth, sizeof e->pth, "%s/../shared/models/espnet-camvid/espnet_p_2_q_8_camvid.pth",
              e->src);
    snprintf (e->camvid, sizeof e->camvid, "%s/../shared/data/segmentation/camvid", e->src);
    if (!exists (e->pth) || !exists (e->camvid)) {
        printf ("test_espnet: SKIP: %s or %s is absent\n", e->pth, e->camvid);
        return 77;
    }
    char *const probe[] = { PY, "-c", "import torch, numpy", NULL };
    if (run (probe, true) != 0) {
        printf ("test_espnet: SKIP: %s with torch and numpy is not available\n", PY);
        return 77;
    }
    snprintf (e->tmp, sizeof e->tmp, "%s/tmp-test-espnet-XXXXXX", build);
    if (!mkdtemp (e->tmp)) {
        perror (e->tmp);
        return 1;
    }
    snprintf (e->model, sizeof e->model, "%s/model", e->tmp);
    return 0;
}

static void
cleanup (env *e)
{
    const char *files[] = { "model/config.json", "model/model.safetensors", "model",
                            "input.f32", "ref.f32" };
    char path[8400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf (path, sizeof path, "%s/%s", e->tmp, files[i]);
        remove (path);
    }
    rmdir (e->tmp);
}

static int
import (env *e)
{
    char helper[4200];
    snprintf (helper, sizeof helper, "%s/tools/import_pth.py", e->src);
    char *argv[] = { "import", e->pth, "--arch", "espnet-p2q8", "--out", e->model,
                     "--helper", helper, "--python", PY, NULL };
    int rc = ofr_cmd_import (10, argv);
    CHECK (rc == 0, "offramp import returned %d", rc);
    /* A wrong architecture must be refused by the converter. */
    char bad[4300];
    snprintf (bad, sizeof bad, "%s/bad", e->tmp);
    char *argv2[] = { "import", e->pth, "--arch", "espnet-p2q3", "--out", bad,
                      "--helper", helper, "--python", PY, NULL };
    fprintf (stderr, "(an error about unexpected level3 tensors is expected here)\n");
    CHECK (ofr_cmd_import (10, argv2) == 1, "p2q3 import of a p2q8 checkpoint succeeded");
    CHECK (!exists (bad) || rmdir (bad) == 0, "%s left behind", bad);
    char *argv3[] = { "import", e->pth, "--arch", "resnet50", "--out", bad, NULL };
    CHECK (ofr_cmd_import (6, argv3) == 2, "unknown --arch is not a usage error");
    return rc;
}

/* Reads a whole float file. */
static float *
read_floats (const char *path, size_t *n)
{
    char *data;
    size_t size;
    char err[OFR_ERRLEN];
    if (ofr_read_file (path, &data, &size, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        return NULL;
    }
    *n = size / sizeof (float);
    return (float *) (void *) data;
}

/* Is name an element of the comma-separated list? */
static bool
in_list (const char *list, const char *name)
{
    size_t len = strlen (name);
    for (const char *s = list; *s;) {
        size_t n = strcspn (s, ",");
        if (n == len && strncmp (s, name, len) == 0)
            return true;
        s += n + (s[n] == ',');
    }
    return false;
}

/* Runs the C model and the reference on rows y0.. / cols x0.. (h x w) of
   image 0, downscaled by `ds` (1, or 2: 2x2 averages, so the model sees
   h/2 x w/2), and compares all block outputs. `skip` is a comma list of
   block names. */
static void
compare (env *e, ofr_espnet *m, ofr_camvid *cv, const float *full, int y0, int x0, int h,
         int w, int ds, const char *skip)
{
    char err[OFR_ERRLEN], in_path[4300], ref_path[4300];
    ofr_espnet_run *r = NULL;
    int rc = ofr_espnet_run_new (m, h / ds, w / ds, &r, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    if (rc != 0)
        return;
    float *in = ofr_espnet_run_input (r);
    size_t fhw = (size_t) OFR_CAMVID_HEIGHT * OFR_CAMVID_WIDTH;
    const int fw = OFR_CAMVID_WIDTH;
    for (int c = 0; c < 3; c++) {
        const float *src = full + c * fhw + (size_t) y0 * fw + (size_t) x0;
        float *dst = in + (size_t) c * (size_t) (h / ds) * (size_t) (w / ds);
        for (int y = 0; y < h / ds; y++)
            for (int x = 0; x < w / ds; x++) {
                const float *p = src + (size_t) (y * ds) * fw + (size_t) (x * ds);
                /* (a + b) + (c + d), * 0.25: the reference's float32 order */
                dst[(size_t) y * (size_t) (w / ds) + (size_t) x]
                    = ds == 1 ? p[0] : ((p[0] + p[1]) + (p[fw] + p[fw + 1])) * 0.25f;
            }
    }
    h /= ds;
    w /= ds;
    size_t hw = (size_t) h * (size_t) w;
    snprintf (in_path, sizeof in_path, "%s/input.f32", e->tmp);
    snprintf (ref_path, sizeof ref_path, "%s/ref.f32", e->tmp);
    FILE *f = fopen (in_path, "wb");
    CHECK (f && fwrite (in, sizeof (float), 3 * hw, f) == 3 * hw && fclose (f) == 0,
           "cannot write %s", in_path);
    char script[4200], crop[4][16], dsarg[8];
    snprintf (script, sizeof script, "%s/tests/ref/espnet_ref.py", e->src);
    snprintf (dsarg, sizeof dsarg, "%d", ds);
    int vals[4] = { y0, x0, h * ds, w * ds };
    for (int i = 0; i < 4; i++)
        snprintf (crop[i], sizeof crop[i], "%d", vals[i]);
    char *argv[] = { PY, script, "--model", e->model,
                     "--image", (char *) ofr_camvid_image_path (cv, 0),
                     "--crop", crop[0], crop[1], crop[2], crop[3], "--downscale", dsarg,
                     "--c-input", in_path,
                     "--skip", (char *) skip, "--out", ref_path, NULL };
    rc = run (argv, false);
    CHECK (rc == 0, "espnet_ref.py exited with %d (3 = preprocessing differs)", rc);
    size_t n_ref = 0;
    float *ref = rc == 0 ? read_floats (ref_path, &n_ref) : NULL;
    int nb = ofr_espnet_n_blocks (m);
    for (int b = 0; b < nb; b++) {
        bool sk = in_list (skip, ofr_espnet_block_name (m, b));
        rc = ofr_espnet_run_block (r, b, sk, err, sizeof err);
        CHECK (rc == 0, "%s", err);
    }
    size_t at = 0;
    for (int b = 0; ref && b < nb; b++) {
        ofr_fmap o = ofr_espnet_block_output (r, b);
        size_t n = (size_t) o.c * (size_t) o.h * (size_t) o.w;
        if (at + n > n_ref) {
            CHECK (0, "reference output too short at block %d", b);
            break;
        }
        double maxerr = 0, maxval = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs ((double) o.data[i] - ref[at + i]);
            maxerr = d > maxerr || isnan (d) ? d : maxerr;
            maxval = fabs (ref[at + i]) > maxval ? fabs (ref[at + i]) : maxval;
        }
        printf ("  %dx%d%s%s  %-11s %3dx%3dx%3d  max|ref| %8.4f  max abs err %.2e\n", h, w,
                skip[0] ? " skip " : "", skip, ofr_espnet_block_name (m, b), o.c, o.h, o.w,
                maxval, maxerr);
        CHECK (maxerr <= TOL, "block %s: max abs error %g > %g", ofr_espnet_block_name (m, b),
               maxerr, TOL);
        at += n;
    }
    CHECK (!ref || at == n_ref, "reference has %zu floats, C outputs %zu", n_ref, at);
    free (ref);
    ofr_espnet_run_destroy (&r);
}

static void
check_structure (ofr_espnet *m)
{
    char err[OFR_ERRLEN];
    CHECK (ofr_espnet_n_blocks (m) == 16, "%d blocks", ofr_espnet_n_blocks (m));
    CHECK (strcmp (ofr_espnet_block_name (m, 3), "level2.1") == 0, "%s",
           ofr_espnet_block_name (m, 3));
    CHECK (strcmp (ofr_espnet_block_name (m, 12), "level3.7") == 0, "%s",
           ofr_espnet_block_name (m, 12));
    CHECK (strcmp (ofr_espnet_block_name (m, 13), "decoder.l3") == 0, "%s",
           ofr_espnet_block_name (m, 13));
    int skippable = 0;
    for (int b = 0; b < 16; b++)
        skippable += ofr_espnet_block_skippable (m, b);
    CHECK (skippable == 10, "%d skippable blocks (expected p + q = 10)", skippable);
    double total = 0;
    for (int b = 0; b < 16; b++)
        total += ofr_espnet_block_flops (m, b, 360, 480);
    /* shared/README.md: 2.67 GFLOPs of convolution per 480x360 image */
    CHECK (fabs (total / 1e9 - 2.67) < 0.01, "%.4f GFLOPs", total / 1e9);
    ofr_espnet_run *r = NULL;
    CHECK (ofr_espnet_run_new (m, 100, 120, &r, err, sizeof err) == -1, "100x120 accepted");
    CHECK (ofr_espnet_run_new (m, 16, 24, &r, err, sizeof err) == 0, "%s", err);
    if (!r)
        return;
    uint8_t labels[16 * 24];
    CHECK (ofr_espnet_run_block (r, 1, false, err, sizeof err) == -1, "out of order accepted");
    CHECK (ofr_espnet_run_block (r, 0, false, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_espnet_run_block (r, 1, true, err, sizeof err) == -1, "level2_0 skipped");
    CHECK (ofr_espnet_labels (r, 13, labels, err, sizeof err) == -1, "labels before running");
    for (int b = 1; b < 14; b++)
        CHECK (ofr_espnet_run_block (r, b, ofr_espnet_block_skippable (m, b), err, sizeof err) == 0,
               "%s", err);
    /* A skipped residual block is BR(x): its own buffer, not an alias of
       its input (the old identity skip, which dropped the BR too). */
    ofr_fmap a = ofr_espnet_block_output (r, 2), c = ofr_espnet_block_output (r, 1);
    CHECK (a.data && c.data && a.data != c.data && a.c == c.c && a.h == c.h && a.w == c.w,
           "skipped block: output is not a BR of its input");
    bool same = true;
    for (size_t i = 0; a.data && c.data && i < (size_t) a.c * (size_t) a.h * (size_t) a.w; i++)
        same &= a.data[i] == c.data[i];
    CHECK (!same, "skipped block passes its input through unchanged (BR not applied)");
    /* Skipped: the BR alone, 3 FLOPs per element (level2: 64 x 90 x 120,
       level3: 128 x 45 x 60 at 360x480); nothing for other blocks. */
    CHECK (ofr_espnet_block_skip_flops (m, 3, 360, 480) == 3.0 * 64 * 90 * 120, "%g",
           ofr_espnet_block_skip_flops (m, 3, 360, 480));
    CHECK (ofr_espnet_block_skip_flops (m, 12, 360, 480) == 3.0 * 128 * 45 * 60, "%g",
           ofr_espnet_block_skip_flops (m, 12, 360, 480));
    CHECK (ofr_espnet_block_skip_flops (m, 1, 360, 480) == 0.0, "level2_0 skip flops");
    CHECK (ofr_espnet_labels (r, 12, labels, err, sizeof err) == -1, "labels from an encoder block");
    /* Coarse exit at 1/4: every 4x4 cell of the labels is one value. */
    CHECK (ofr_espnet_labels (r, 13, labels, err, sizeof err) == 0, "%s", err);
    bool blocky = true;
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 24; x++)
            blocky &= labels[y * 24 + x] == labels[(y / 4 * 4) * 24 + x / 4 * 4];
    CHECK (blocky, "coarse exit labels are not pixel-repeated");
    ofr_espnet_run_destroy (&r);
}

int
main (void)
{
    env e;
    memset (&e, 0, sizeof e);
    int rc = setup (&e);
    if (rc != 0)
        return rc;
    char err[OFR_ERRLEN];
    ofr_espnet *m = NULL;
    ofr_camvid *cv = NULL;
    float *full = malloc ((size_t) 3 * OFR_CAMVID_HEIGHT * OFR_CAMVID_WIDTH * sizeof (float));
    if (import (&e) != 0 || !full)
        goto done;
    rc = ofr_espnet_load (e.model, &m, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    rc = ofr_camvid_open (e.camvid, "test", &cv, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    if (!m || !cv)
        goto done;
    rc = ofr_camvid_load_image (cv, 0, full, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    if (rc != 0)
        goto done;
    check_structure (m);
    compare (&e, m, cv, full, 100, 200, 96, 120, 1, "");
    compare (&e, m, cv, full, 100, 200, 96, 120, 1, "level2.1,level3.0,level3.5");
    compare (&e, m, cv, full, 100, 200, 96, 120, 1, "level2.0,level2.1,level3.0,level3.1,"
             "level3.2,level3.3,level3.4,level3.5,level3.6,level3.7");
    /* The whole image downscaled 2x (rows 4..355: 176x240, multiples of 8). */
    compare (&e, m, cv, full, 4, 0, 352, OFR_CAMVID_WIDTH, 2, "");
    compare (&e, m, cv, full, 0, 0, OFR_CAMVID_HEIGHT, OFR_CAMVID_WIDTH, 1, "");
done:
    free (full);
    ofr_camvid_destroy (&cv);
    ofr_espnet_destroy (&m);
    cleanup (&e);
    if (s_failures)
        fprintf (stderr, "test_espnet: %d failure(s)\n", s_failures);
    else
        printf ("test_espnet: ok\n");
    return s_failures ? 1 : 0;
}
