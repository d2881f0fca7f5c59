/*  test_seg_badinputs.c -- bad inputs of the CamVid / ESPNet path each give
    a clear error naming the file, and nothing crashes:
      - an image PNG of the wrong size, a 16-bit image, a gray label map
        of the wrong size, a 16-bit label map;
      - a label map with out-of-range values (12, 255);
      - a truncated checkpoint: model.safetensors cut short (and, with
        python3-torch, a truncated .pth through `offramp import`);
      - a checkpoint of another architecture: the p2q8 tensors under a
        config saying p=2 q=3, a config of another architecture, and a
        safetensors file that is not ESPNet's.
    Uses the imported model (models/espnet-camvid under the source tree,
    `offramp import`) for the checkpoint cases and skips them without it. */
#include "check.h"
#include "common/ofr_common.h"
#include "suites/camvid.h"
#include "suites/image_png.h"
#include "workers/models/espnet.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define W   OFR_CAMVID_WIDTH
#define H   OFR_CAMVID_HEIGHT
#define NPIX ((size_t) W * H)

static char s_dir[4096];

static void
path_in (char *out, size_t n, const char *rel)
{
    snprintf (out, n, "%s/%s", s_dir, rel);
}

static void
write_text (const char *rel, const char *text, size_t len)
{
    char path[4400];
    path_in (path, sizeof path, rel);
    FILE *f = fopen (path, "wb");
    CHECK (f != NULL, "cannot write %s", path);
    if (f) {
        fwrite (text, 1, len, f);
        fclose (f);
    }
}

static void
write_png (const char *rel, const uint8_t *px, int w, int h, int ch)
{
    char path[4400], err[OFR_ERRLEN];
    path_in (path, sizeof path, rel);
    CHECK (ofr_png_write (path, px, w, h, ch, err, sizeof err) == 0, "%s", err);
}

/* A 16-bit PNG (gray or RGB), written with libpng directly. */
static void
write_png16 (const char *rel, int w, int h, int rgb)
{
    char path[4400];
    path_in (path, sizeof path, rel);
    FILE *f = fopen (path, "wb");
    png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct (png) : NULL;
    size_t row_bytes = (size_t) w * (rgb ? 6 : 2);
    uint8_t *row = calloc (row_bytes, 1);
    CHECK (f && png && info && row, "cannot set up %s", path);
    if (f && png && info && row && !setjmp (png_jmpbuf (png))) {
        png_init_io (png, f);
        png_set_IHDR (png, info, (png_uint_32) w, (png_uint_32) h, 16,
                      rgb ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                      PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info (png, info);
        for (int y = 0; y < h; y++)
            png_write_row (png, row);
        png_write_end (png, NULL);
    }
    png_destroy_write_struct (&png, &info);
    free (row);
    if (f)
        fclose (f);
}

static void
test_pngs (void)
{
    char err[OFR_ERRLEN] = "";
    uint8_t *rgb = calloc (NPIX * 3, 1), *lab = calloc (NPIX, 1);
    float *chw = calloc (NPIX * 3, sizeof *chw);
    CHECK (rgb && lab && chw, "out of memory");
    if (!rgb || !lab || !chw)
        goto out;
    char dir[4400];
    path_in (dir, sizeof dir, "test");
    mkdir (dir, 0755);
    path_in (dir, sizeof dir, "testannot");
    mkdir (dir, 0755);
    const char *list = "/x/test/a.png /x/testannot/a.png\n";
    write_text ("test.txt", list, strlen (list));
    ofr_camvid *cv = NULL;
    CHECK (ofr_camvid_open (s_dir, "test", &cv, err, sizeof err) == 0, "%s", err);
    if (!cv)
        goto out;

    write_png ("test/a.png", rgb, W / 2, H / 2, 3);
    CHECK (ofr_camvid_load_image (cv, 0, chw, err, sizeof err) == -1
           && strstr (err, "test/a.png") && strstr (err, "240x180"),
           "wrong-size image: %s", err);
    write_png16 ("test/a.png", W, H, 1);
    CHECK (ofr_camvid_load_image (cv, 0, chw, err, sizeof err) == -1
           && strstr (err, "test/a.png") && strstr (err, "16-bit"), "16-bit image: %s", err);
    write_text ("test/a.png", "\x89PNG\r\n\x1a\n trunc", 14);
    CHECK (ofr_camvid_load_image (cv, 0, chw, err, sizeof err) == -1
           && strstr (err, "test/a.png"), "truncated image: %s", err);
    write_png ("test/a.png", rgb, W, H, 3);
    CHECK (ofr_camvid_load_image (cv, 0, chw, err, sizeof err) == 0, "good image: %s", err);

    write_png ("testannot/a.png", rgb, W, H + 8, 1);   /* rgb: big enough */
    CHECK (ofr_camvid_load_labels (cv, 0, lab, err, sizeof err) == -1
           && strstr (err, "testannot/a.png") && strstr (err, "480x368"),
           "wrong-size labels: %s", err);
    write_png16 ("testannot/a.png", W, H, 0);
    CHECK (ofr_camvid_load_labels (cv, 0, lab, err, sizeof err) == -1
           && strstr (err, "testannot/a.png"), "16-bit labels: %s", err);
    memset (lab, 3, NPIX);
    lab[NPIX - 1] = 255;
    write_png ("testannot/a.png", lab, W, H, 1);
    CHECK (ofr_camvid_load_labels (cv, 0, lab, err, sizeof err) == -1
           && strstr (err, "testannot/a.png") && strstr (err, "label 255"),
           "label 255: %s", err);
    memset (lab, 3, NPIX);
    lab[100] = 12;
    write_png ("testannot/a.png", lab, W, H, 1);
    CHECK (ofr_camvid_load_labels (cv, 0, lab, err, sizeof err) == -1
           && strstr (err, "testannot/a.png") && strstr (err, "label 12"),
           "label 12: %s", err);
    ofr_camvid_destroy (&cv);

    /* The held-out parts of test.txt (camvid.h): 14 lines -> fit 3, 10. */
    ofr_buf b;
    ofr_buf_init (&b);
    for (int i = 0; i < 14; i++)
        ofr_buf_printf (&b, "/x/test/i%02d.png /x/testannot/i%02d.png\n", i, i);
    write_text ("test.txt", b.data, b.len);
    ofr_buf_free (&b);
    CHECK (ofr_camvid_open (s_dir, "fit", &cv, err, sizeof err) == 0 && ofr_camvid_count (cv) == 2
           && strcmp (ofr_camvid_id (cv, 0), "i03") == 0
           && strcmp (ofr_camvid_id (cv, 1), "i10") == 0, "fit part: %s", err);
    ofr_camvid_destroy (&cv);
    CHECK (ofr_camvid_open (s_dir, "eval", &cv, err, sizeof err) == 0
           && ofr_camvid_count (cv) == 12 && strcmp (ofr_camvid_id (cv, 3), "i04") == 0,
           "eval part: %s", err);
    ofr_camvid_destroy (&cv);
out:
    free (rgb);
    free (lab);
    free (chw);
}

static int
copy_file (const char *from, const char *to, size_t limit)
{
    char *data = NULL, err[OFR_ERRLEN];
    size_t n = 0;
    if (ofr_read_file (from, &data, &n, err, sizeof err) != 0)
        return -1;
    FILE *f = fopen (to, "wb");
    if (f) {
        fwrite (data, 1, n < limit ? n : limit, f);
        fclose (f);
    }
    free (data);
    return f ? 0 : -1;
}

static void
write_config (const char *mdir, const char *json)
{
    char path[4600];
    snprintf (path, sizeof path, "%s/config.json", mdir);
    FILE *f = fopen (path, "w");
    CHECK (f != NULL, "cannot write %s", path);
    if (f) {
        fputs (json, f);
        fclose (f);
    }
}

static void
test_checkpoints (const char *src)
{
    char model[4200], st[4300], mdir[4400], mst[4500], err[OFR_ERRLEN] = "";
    snprintf (model, sizeof model, "%s/models/espnet-camvid", src);
    snprintf (st, sizeof st, "%s/model.safetensors", model);
    if (access (st, R_OK) != 0) {
        printf ("SKIP checkpoint cases: %s is absent (offramp import, docs/IMPORT.md)\n", st);
        return;
    }
    path_in (mdir, sizeof mdir, "model");
    mkdir (mdir, 0755);
    snprintf (mst, sizeof mst, "%s/model.safetensors", mdir);
    const char *good = "{\"architecture\": \"espnet\", \"variant\": \"train\", \"p\": 2, "
                       "\"q\": 8, \"classes\": 12, \"decoder_conv_in\": 31, \"bn_eps\": 0.001}";
    ofr_espnet *net = NULL;

    /* Truncated: cut inside the header, and inside the tensor data. */
    size_t cuts[] = { 5, 4000, 700000 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_config (mdir, good);
        CHECK (copy_file (st, mst, cuts[i]) == 0, "copy %s", st);
        err[0] = 0;
        CHECK (ofr_espnet_load (mdir, &net, err, sizeof err) == -1 && net == NULL
               && strstr (err, "model.safetensors"), "cut at %zu: %s", cuts[i], err);
    }
    CHECK (copy_file (st, mst, (size_t) -1) == 0, "copy %s", st);
    CHECK (ofr_espnet_load (mdir, &net, err, sizeof err) == 0, "intact copy: %s", err);
    ofr_espnet_destroy (&net);

    /* Another architecture: p2q8 tensors under p=2 q=3; a BERT config. */
    write_config (mdir, "{\"architecture\": \"espnet\", \"variant\": \"train\", \"p\": 2, "
                  "\"q\": 3, \"classes\": 12, \"decoder_conv_in\": 31, \"bn_eps\": 0.001}");
    CHECK (ofr_espnet_load (mdir, &net, err, sizeof err) == -1
           && strstr (err, mdir), "p2q3 config over p2q8 tensors: %s", err);
    write_config (mdir, "{\"architectures\": [\"BertForSequenceClassification\"], "
                  "\"model_type\": \"bert\", \"hidden_size\": 768}");
    CHECK (ofr_espnet_load (mdir, &net, err, sizeof err) == -1
           && strstr (err, "config.json"), "BERT config: %s", err);
    /* Valid safetensors of something else: an empty-ish tensor set. */
    write_config (mdir, good);
    const char hdr[] = "{\"bert.embeddings.word_embeddings.weight\":{\"dtype\":\"F32\","
                       "\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    uint64_t n = sizeof hdr - 1;
    FILE *f = fopen (mst, "wb");
    if (f) {
        float z[4] = { 0 };
        fwrite (&n, 8, 1, f);
        fwrite (hdr, 1, n, f);
        fwrite (z, sizeof z, 1, f);
        fclose (f);
    }
    CHECK (ofr_espnet_load (mdir, &net, err, sizeof err) == -1
           && strstr (err, "model.safetensors"), "BERT tensors: %s", err);
    remove (mst);
    char cfg[4600];
    snprintf (cfg, sizeof cfg, "%s/config.json", mdir);
    remove (cfg);
    rmdir (mdir);

    /* A truncated .pth through `offramp import` (needs python3-torch). */
    const char *offramp = getenv ("OFFRAMP");
    char pth[4200];
    snprintf (pth, sizeof pth, "%s/../shared/models/espnet-camvid/espnet_p_2_q_8_camvid.pth", src);
    if (!offramp || access (offramp, X_OK) != 0 || access (pth, R_OK) != 0
        || system ("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) {
        printf ("SKIP truncated .pth: needs $OFFRAMP, %s and python3-torch\n", pth);
        return;
    }
    char tpth[4400], out[4400], log[4400], cmd[14000];
    path_in (tpth, sizeof tpth, "trunc.pth");
    path_in (out, sizeof out, "trunc-model");
    path_in (log, sizeof log, "import.log");
    CHECK (copy_file (pth, tpth, 300000) == 0, "copy %s", pth);
    snprintf (cmd, sizeof cmd, "'%s' import '%s' --arch espnet-p2q8 --out '%s' > '%s' 2>&1",
              offramp, tpth, out, log);
    int rc = system (cmd);
    char *text = NULL;
    CHECK (ofr_read_file (log, &text, NULL, err, sizeof err) == 0, "%s", err);
    CHECK (rc != 0 && text && strstr (text, "trunc.pth") && !strstr (text, "Traceback"),
           "truncated .pth: rc %d, output: %s", rc, text ? text : "");
    free (text);
    remove (tpth);
    remove (log);
    rmdir (out);
}

int
main (void)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    const char *base = getenv ("OFR_BUILD_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/seg_badinputs.%ld", base ? base : "/tmp", (long) getpid ());
    CHECK (mkdir (s_dir, 0755) == 0, "cannot create %s", s_dir);
    test_pngs ();
    test_checkpoints (src ? src : ".");
    char cmd[4200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    if (s_failures == 0)
        printf ("ok\n");
    return s_failures != 0;
}
