/*  bench_encoder_torch.c -- run tools/bench_encoder_torch.py (python3-torch,
    an offline reference measurement) and read what it prints. */
#include "bench_encoder.h"
#include "../../common/ofr_common.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
skip (ofr_bench_torch *t, const char *fmt, const char *a, const char *b)
{
    t->ok = false;
    snprintf (t->reason, sizeof t->reason, fmt, a, b);
}

/* Last non-empty line of the child's stderr, for the skip reason. */
static void
last_line (const char *path, char *out, size_t size)
{
    char *data = NULL;
    size_t n = 0;
    out[0] = 0;
    if (ofr_read_file (path, &data, &n, NULL, 0) != 0)
        return;
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == ' '))
        data[--n] = 0;
    char *s = strrchr (data, '\n');
    snprintf (out, size, "%s", s ? s + 1 : data);
    free (data);
}

/* Run argv with stdout into *out, stderr into err_path; the exit status. */
static int
run_capture (char *const argv[], const char *err_path, ofr_buf *out)
{
    int fd[2];
    if (pipe (fd) != 0)
        return -1;
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0) {
        close (fd[0]);
        close (fd[1]);
        return -1;
    }
    if (pid == 0) {
        int e = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (e < 0 || dup2 (fd[1], STDOUT_FILENO) < 0 || dup2 (e, STDERR_FILENO) < 0)
            _exit (126);
        close (fd[0]);
        execv (argv[0], argv);
        fprintf (stderr, "%s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    close (fd[1]);
    char buf[4096];
    ssize_t k;
    while ((k = read (fd[0], buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
        if (k > 0)
            ofr_buf_append (out, buf, (size_t) k);
    close (fd[0]);
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static int
parse (json_t *root, const int *batches, int n_batches, int repeat, int K,
       ofr_bench_torch *t)
{
    json_t *res = json_object_get (root, "results"), *lg = json_object_get (root, "logits");
    if (!json_is_array (res) || json_array_size (res) != (size_t) n_batches
        || !json_is_array (lg))
        return -1;
    const char *v = json_string_value (json_object_get (root, "torch"));
    snprintf (t->version, sizeof t->version, "%s", v ? v : "?");
    t->threads = (int) json_integer_value (json_object_get (root, "threads"));
    double *ms = ofr_calloc ((size_t) repeat, sizeof *ms);
    t->ms = ofr_calloc ((size_t) n_batches, sizeof *t->ms);
    t->rows = (int) json_array_size (lg);
    t->logits = ofr_calloc ((size_t) t->rows * K + 1, sizeof *t->logits);
    int rc = ms && t->ms && t->logits ? 0 : -1;
    for (int i = 0; rc == 0 && i < n_batches; i++) {
        json_t *r = json_array_get (res, (size_t) i), *a = json_object_get (r, "ms");
        if (json_integer_value (json_object_get (r, "batch")) != batches[i]
            || !json_is_array (a) || json_array_size (a) != (size_t) repeat)
            rc = -1;
        for (int j = 0; rc == 0 && j < repeat; j++)
            ms[j] = json_number_value (json_array_get (a, (size_t) j));
        if (rc == 0)
            ofr_bench_stat_of (ms, repeat, &t->ms[i]);
    }
    for (int i = 0; rc == 0 && i < t->rows; i++) {
        json_t *row = json_array_get (lg, (size_t) i);
        if (!json_is_array (row) || json_array_size (row) != (size_t) K)
            rc = -1;
        for (int j = 0; rc == 0 && j < K; j++)
            t->logits[(size_t) i * K + j] = (float) json_number_value (json_array_get (row, (size_t) j));
    }
    free (ms);
    return rc;
}

void
ofr_bench_torch_run (const char *python, const char *script, const char *model_dir,
                     const char *ids_path, const char *err_path, const int *batches,
                     int n_batches, int threads, int repeat, int num_labels,
                     ofr_bench_torch *t)
{
    memset (t, 0, sizeof *t);
    if (access (python, X_OK) != 0) {
        skip (t, "skipped (%s: %s)", python, strerror (errno));
        return;
    }
    if (!script) {
        skip (t, "skipped (%s%s not found)", "tools/bench_encoder_torch.py", "");
        return;
    }
    ofr_buf list, out;
    ofr_buf_init (&list);
    ofr_buf_init (&out);
    for (int i = 0; i < n_batches; i++)
        ofr_buf_printf (&list, "%s%d", i ? "," : "", batches[i]);
    char th[16], rep[16];
    snprintf (th, sizeof th, "%d", threads);
    snprintf (rep, sizeof rep, "%d", repeat);
    char *argv[] = { (char *) python, (char *) script, (char *) model_dir,
                     (char *) ids_path, list.data, th, rep, NULL };
    int status = list.oom ? -1 : run_capture (argv, err_path, &out);
    json_t *root = status == 0 && !out.oom ? json_loads (out.data, 0, NULL) : NULL;
    if (status != 0) {
        char why[200];
        last_line (err_path, why, sizeof why);
        char st[32];
        snprintf (st, sizeof st, "exit status %d", status);
        skip (t, "skipped (%s: %s)", why[0] ? why : st, st);
    } else if (!root || parse (root, batches, n_batches, repeat, num_labels, t) != 0) {
        ofr_bench_torch_free (t);
        skip (t, "skipped (%s printed %s)", script, "no valid JSON");
    } else {
        t->ok = true;
    }
    json_decref (root);
    ofr_buf_free (&list);
    ofr_buf_free (&out);
}

void
ofr_bench_torch_free (ofr_bench_torch *t)
{
    free (t->ms);
    free (t->logits);
    t->ms = NULL;
    t->logits = NULL;
}
