/*  slurm.c -- `offramp run --slurm`: render and submit the batch script
    (see slurm.h; docs/SLURM.md shows a rendered script). */
#include "slurm.h"
#include "security.h"
#include "../common/ofr_paths.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* What sbatch's output we keep (its messages are short). */
#define SBATCH_OUT_MAX (64 * 1024)

void
ofr_slurm_opts_init (ofr_slurm_opts *o)
{
    memset (o, 0, sizeof *o);
    o->nodes = 1;
}

int
ofr_slurm_opts_add_arg (ofr_slurm_opts *o, const char *arg)
{
    char *copy = ofr_strdup (arg);
    char **grown = copy ? realloc (o->sbatch_args,
                                   ((size_t) o->n_sbatch_args + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free (copy);
        return -1;
    }
    o->sbatch_args = grown;
    o->sbatch_args[o->n_sbatch_args++] = copy;
    return 0;
}

void
ofr_slurm_opts_clear (ofr_slurm_opts *o)
{
    for (int i = 0; i < o->n_sbatch_args; i++)
        free (o->sbatch_args[i]);
    free (o->sbatch_args);
    o->sbatch_args = NULL;
    o->n_sbatch_args = 0;
}

void
ofr_shell_quote (ofr_buf *b, const char *s)
{
    ofr_buf_puts (b, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            ofr_buf_puts (b, "'\\''");
        else
            ofr_buf_append (b, p, 1);
    }
    ofr_buf_puts (b, "'");
}

/* ------------------------------------------------------------------ */
/* Paths                                                                */

/* PATH made absolute against base, with its directory resolved (it must
   exist; the file itself need not). *dir gets that directory. */
static int
abs_file (const char *path, const char *base, char **out, char **dir,
          char *err, size_t errlen)
{
    *out = *dir = NULL;
    char *full = path[0] == '/' ? ofr_strdup (path) : ofr_path_join (base, path);
    if (!full)
        return ofr_errf (err, errlen, "out of memory");
    char *slash = strrchr (full, '/');
    const char *leaf = slash[1] ? slash + 1 : NULL;
    if (!leaf || strcmp (leaf, ".") == 0 || strcmp (leaf, "..") == 0) {
        ofr_errf (err, errlen, "--db %s: not a file name", path);
        free (full);
        return -1;
    }
    *slash = '\0';
    char *real = realpath (full[0] ? full : "/", NULL);
    if (!real) {
        ofr_errf (err, errlen, "--db %s: directory %s: %s", path, full[0] ? full : "/",
                  strerror (errno));
        free (full);
        return -1;
    }
    *out = ofr_path_join (real, leaf);
    free (full);
    if (!*out) {
        free (real);
        return ofr_errf (err, errlen, "out of memory");
    }
    *dir = real;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rendering                                                            */

static bool
only_chars (const char *s, const char *allowed)
{
    return *s && strspn (s, allowed) == strlen (s);
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* The heredoc delimiter: a word that is no line of the text. */
static void
heredoc_word (const char *text, ofr_buf *word)
{
    for (int n = 0;; n++) {
        ofr_buf_reset (word);
        if (n == 0)
            ofr_buf_puts (word, "OFFRAMP_PLAN_EOF");
        else
            ofr_buf_printf (word, "OFFRAMP_PLAN_EOF_%d", n);
        if (word->oom)
            return;
        bool clash = false;
        for (const char *line = text; line && *line && !clash;) {
            const char *nl = strchr (line, '\n');
            size_t len = nl ? (size_t) (nl - line) : strlen (line);
            clash = len == word->len && memcmp (line, word->data, len) == 0;
            line = nl ? nl + 1 : NULL;
        }
        if (!clash)
            return;
    }
}

/* Arguments passed to both the coordinator and the workers. */
static void
path_args (const ofr_slurm_opts *o, ofr_buf *b)
{
    const char *flag[] = { "--plugins", "--models", "--data", "--artifacts" };
    const char *val[] = { o->plugins, o->models, o->data, o->artifacts };
    for (int i = 0; i < 4; i++) {
        if (!val[i])
            continue;
        ofr_buf_printf (b, " %s ", flag[i]);
        ofr_shell_quote (b, val[i]);
    }
}

/* Render with every path absolute already. */
static int
render (const ofr_slurm_opts *o, const char *exe, const char *db, const char *dbdir,
        const char *workdir, ofr_buf *b, char *err, size_t errlen)
{
    if (o->nodes < 1 || o->nodes > 1000000)
        return ofr_errf (err, errlen, "--nodes %d: expected 1 or more", o->nodes);
    if (o->time && !only_chars (o->time, "0123456789:-"))
        return ofr_errf (err, errlen, "--time '%s': expected a Slurm time (MINUTES, "
                         "HH:MM:SS, D-HH:MM...)", o->time);
    if (o->partition && !only_chars (o->partition, NAME_CHARS ","))
        return ofr_errf (err, errlen, "--partition '%s': expected a partition name", o->partition);
    for (int i = 0; i < o->n_sbatch_args; i++) {
        const char *a = o->sbatch_args[i];
        if (!*a || strpbrk (a, "\n\r"))
            return ofr_errf (err, errlen, "--sbatch-arg '%s': expected one non-empty line", a);
    }
    /* #SBATCH lines are parsed by sbatch, not the shell: it takes "..."
       quoting but expands % patterns and \ escapes in file names. */
    if (strpbrk (dbdir, "\"%\\\n\r"))
        return ofr_errf (err, errlen, "--db: its directory '%s' has a character sbatch cannot "
                         "take in --output (\" %% \\ or a newline); use another directory", dbdir);
    if (o->bind && strpbrk (o->bind, "\n\r"))
        return ofr_errf (err, errlen, "--bind: expected one line");
    if (!o->plan_text && o->resume <= 0)
        return ofr_errf (err, errlen, "no plan and no run to resume");

    const char *pname = o->plan_name && *o->plan_name ? o->plan_name : "plan";
    /* Job name: offramp-<plan name>, in characters squeue shows plainly. */
    ofr_buf_puts (b, "#!/bin/bash\n"
                  "# An offramp run as a Slurm batch job, written by `offramp run --slurm`.\n"
                  "# The coordinator runs on the batch node and `srun` starts one worker\n"
                  "# per node; submit with `sbatch FILE` (docs/SLURM.md).\n");
    ofr_buf_puts (b, "#SBATCH --job-name=offramp-");
    if (o->resume > 0)
        ofr_buf_printf (b, "resume-%lld", o->resume);
    else
        for (const char *p = pname; *p && p - pname < 64; p++)
            ofr_buf_append (b, strchr (NAME_CHARS, *p) ? p : "_", 1);
    ofr_buf_printf (b, "\n#SBATCH --nodes=%d\n#SBATCH --ntasks-per-node=1\n", o->nodes);
    if (o->threads > 0)
        ofr_buf_printf (b, "#SBATCH --cpus-per-task=%d\n", o->threads);
    if (o->time)
        ofr_buf_printf (b, "#SBATCH --time=%s\n", o->time);
    if (o->partition)
        ofr_buf_printf (b, "#SBATCH --partition=%s\n", o->partition);
    ofr_buf_printf (b, "#SBATCH --output=\"%s%sofframp-slurm-%%j.out\"\n", dbdir,
                    strcmp (dbdir, "/") == 0 ? "" : "/");
    for (int i = 0; i < o->n_sbatch_args; i++)
        ofr_buf_printf (b, "#SBATCH %s\n", o->sbatch_args[i]);

    ofr_buf_puts (b, "set -u\nOFFRAMP=");
    ofr_shell_quote (b, exe);
    ofr_buf_puts (b, "\nDB=");
    ofr_shell_quote (b, db);
    ofr_buf_puts (b, "\nJOBDIR=");
    ofr_shell_quote (b, dbdir);
    ofr_buf_printf (b, "%s\"offramp-slurm-${SLURM_JOB_ID:-0}\"\ncd ",
                    strcmp (dbdir, "/") == 0 ? "" : "/");
    ofr_shell_quote (b, workdir);
    ofr_buf_puts (b, " || exit 1\nmkdir -p \"$JOBDIR\" || exit 1\n");

    ofr_buf args;                 /* what the coordinator runs after `run` */
    ofr_buf_init (&args);
    if (o->resume > 0) {
        ofr_buf_printf (&args, "--resume %lld", o->resume);
    } else {
        /* The plan travels inside the script; its file stem is the plan's
           name (the default name of a plan without one). */
        bool stem_ok = !strchr (pname, '/');
        ofr_buf_puts (b, "PLAN=\"$JOBDIR\"/");
        ofr_shell_quote (b, stem_ok ? pname : "plan");
        ofr_buf word;
        ofr_buf_init (&word);
        heredoc_word (o->plan_text, &word);
        size_t tl = strlen (o->plan_text);
        ofr_buf_printf (b, ".yaml\ncat > \"$PLAN\" <<'%s'\n%s%s%s\n",
                        word.data ? word.data : "", o->plan_text,
                        tl && o->plan_text[tl - 1] != '\n' ? "\n" : "",
                        word.data ? word.data : "");
        if (word.oom)
            b->oom = true;
        ofr_buf_free (&word);
        ofr_buf_puts (&args, "\"$PLAN\"");
        if (o->limit > 0)
            ofr_buf_printf (&args, " --limit %d", o->limit);
    }

    /* Addresses. */
    bool curve;
    if (!o->bind) {
        /* ZeroMQ binds addresses (or interface names), not host names. */
        ofr_buf_printf (b, "PORT=$(( %d + 3 * (${SLURM_JOB_ID:-0} %% %d) ))\n"
                        "ADDR=$(getent ahostsv4 \"$(hostname)\" | awk '{ print $1; exit }')\n"
                        "BIND=\"tcp://${ADDR:-$(hostname)}:$PORT\"\nCONNECT=\"$BIND\"\n",
                        OFR_SLURM_PORT_BASE, OFR_SLURM_PORT_JOBS);
        curve = !o->insecure;
    } else {
        ofr_buf_puts (b, "BIND=");
        ofr_shell_quote (b, o->bind);
        const char *wild[] = { "tcp://*:", "tcp://0.0.0.0:" };
        const char *port = NULL;
        for (int i = 0; i < 2 && !port; i++)
            if (strncmp (o->bind, wild[i], strlen (wild[i])) == 0)
                port = o->bind + strlen (wild[i]);
        if (port) {
            ofr_buf_puts (b, "\nCONNECT=\"tcp://$(hostname):\"");
            ofr_shell_quote (b, port);
            ofr_buf_puts (b, "\n");
        } else {
            ofr_buf_puts (b, "\nCONNECT=\"$BIND\"\n");
        }
        curve = !o->insecure && !ofr_endpoint_is_local (o->bind);
    }
    /* Threads per worker: --threads (as --cpus-per-task), else what this
       node gives the job. */
    ofr_buf_puts (b, "THREADS=${SLURM_CPUS_PER_TASK:-$(nproc)}\n");

    ofr_buf_puts (b, "COORD_ARGS=(");
    path_args (o, b);
    if (o->heartbeat_ms > 0)
        ofr_buf_printf (b, " --heartbeat-ms %d", o->heartbeat_ms);
    ofr_buf_puts (b, ")\nWORKER_ARGS=(");
    path_args (o, b);
    ofr_buf_puts (b, ")\nCLIENT_ARGS=()\n");
    if (curve) {
        ofr_buf_puts (b,
            "# CURVE (the address is not loopback): keys of this job only; the\n"
            "# workers and dashboards share the one key pair on the allowlist.\n"
            "\"$OFFRAMP\" keygen --dir \"$JOBDIR/keys\" coordinator worker > /dev/null || exit 1\n"
            "cp \"$JOBDIR/keys/worker.pub\" \"$JOBDIR/keys/allowlist\" || exit 1\n"
            "COORD_ARGS+=(--keys \"$JOBDIR/keys\")\n"
            "CLIENT_ARGS=(--key \"$JOBDIR/keys/worker.key\" "
            "--server-key \"$JOBDIR/keys/coordinator.pub\")\n");
    } else if (o->insecure) {
        ofr_buf_puts (b, "COORD_ARGS+=(--insecure)\nCLIENT_ARGS=(--insecure)\n");
    }

    ofr_buf_printf (b,
        "echo \"offramp: job ${SLURM_JOB_ID:-?} on ${SLURM_JOB_NUM_NODES:-?} node(s); "
        "coordinator on $(hostname) at $BIND\"\n"
        "echo \"offramp: dashboard: $(printf '%%q ' \"$OFFRAMP\" tui --connect \"$CONNECT\" "
        "${CLIENT_ARGS[@]+\"${CLIENT_ARGS[@]}\"})\"\n"
        "echo \"offramp: report:    $(printf '%%q ' \"$OFFRAMP\" report --db \"$DB\")\"\n"
        "\"$OFFRAMP\" run %s --workers 0 --bind \"$BIND\" --db \"$DB\" --no-tui --format table \\\n"
        "    ${COORD_ARGS[@]+\"${COORD_ARGS[@]}\"} &\n"
        "COORD=$!\n"
        "srun --ntasks-per-node=1 --kill-on-bad-exit=0 "
        "${SLURM_CPUS_PER_TASK:+--cpus-per-task=$SLURM_CPUS_PER_TASK} \\\n"
        "    \"$OFFRAMP\" worker --connect \"$CONNECT\" --threads \"$THREADS\" \\\n"
        "    ${CLIENT_ARGS[@]+\"${CLIENT_ARGS[@]}\"} ${WORKER_ARGS[@]+\"${WORKER_ARGS[@]}\"} &\n"
        "WORKERS=$!\n"
        "# Wait for the coordinator. If every worker is gone first, give it a\n"
        "# minute to finish, then stop it (`offramp run --resume` finishes a run).\n"
        "while kill -0 \"$COORD\" 2>/dev/null && kill -0 \"$WORKERS\" 2>/dev/null; do sleep 1; done\n"
        "for _ in $(seq 60); do kill -0 \"$COORD\" 2>/dev/null || break; sleep 1; done\n"
        "if kill -0 \"$COORD\" 2>/dev/null; then\n"
        "    echo \"offramp: every worker exited before the run finished; stopping the coordinator\" >&2\n"
        "    kill -TERM \"$COORD\"\n"
        "fi\n"
        "wait \"$COORD\"; rc=$?\n"
        "# The workers leave when the coordinator says bye; stop any that lingers\n"
        "# (at once if the coordinator failed).\n"
        "[ \"$rc\" = 0 ] && for _ in $(seq 30); do kill -0 \"$WORKERS\" 2>/dev/null || break; sleep 1; done\n"
        "kill -TERM \"$WORKERS\" 2>/dev/null\n"
        "wait \"$WORKERS\" 2>/dev/null\n"
        "echo \"offramp: coordinator exited with status $rc\"\n"
        "exit $rc\n", args.data ? args.data : "");
    bool oom = args.oom || b->oom;
    ofr_buf_free (&args);
    return oom ? ofr_errf (err, errlen, "out of memory") : 0;
}

/* Absolute exe, DB and workdir for o (caller frees all four). */
static int
resolve (const ofr_slurm_opts *o, char **exe, char **db, char **dbdir, char **workdir,
         char *err, size_t errlen)
{
    *exe = *db = *dbdir = *workdir = NULL;
    *workdir = o->workdir ? realpath (o->workdir, NULL) : getcwd (NULL, 0);
    if (!*workdir)
        return ofr_errf (err, errlen, "working directory %s: %s",
                         o->workdir ? o->workdir : ".", strerror (errno));
    *exe = realpath (o->exe ? o->exe : "/proc/self/exe", NULL);
    if (!*exe)
        return ofr_errf (err, errlen, "offramp binary %s: %s",
                         o->exe ? o->exe : "/proc/self/exe", strerror (errno));
    return abs_file (o->db ? o->db : "offramp.sqlite", *workdir, db, dbdir, err, errlen);
}

int
ofr_slurm_render (const ofr_slurm_opts *o, ofr_buf *out, char *err, size_t errlen)
{
    char *exe, *db, *dbdir, *workdir;
    int rc = resolve (o, &exe, &db, &dbdir, &workdir, err, errlen);
    if (rc == 0)
        rc = render (o, exe, db, dbdir, workdir, out, err, errlen);
    free (exe);
    free (db);
    free (dbdir);
    free (workdir);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Submission                                                           */

/* cmd on $PATH (or cmd itself if it names a file)? */
static bool
on_path (const char *cmd)
{
    if (strchr (cmd, '/'))
        return access (cmd, X_OK) == 0;
    const char *path = getenv ("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn (path, ":");
        ofr_buf f;
        ofr_buf_init (&f);
        ofr_buf_printf (&f, "%.*s/%s", (int) n, n ? path : ".", cmd);
        bool ok = !f.oom && access (f.data, X_OK) == 0;
        ofr_buf_free (&f);
        if (ok)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* Run argv with stdout and stderr captured; *status is the exit status
   (128 + signal if killed). */
static int
capture (char *const argv[], ofr_buf *out, ofr_buf *errout, int *status,
         char *err, size_t errlen)
{
    int po[2], pe[2];
    if (pipe (po) != 0)
        return ofr_errf (err, errlen, "pipe: %s", strerror (errno));
    if (pipe (pe) != 0) {
        close (po[0]);
        close (po[1]);
        return ofr_errf (err, errlen, "pipe: %s", strerror (errno));
    }
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0) {
        int e = errno;
        close (po[0]); close (po[1]); close (pe[0]); close (pe[1]);
        return ofr_errf (err, errlen, "fork: %s", strerror (e));
    }
    if (pid == 0) {
        int devnull = open ("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2 (devnull, 0);
        dup2 (po[1], 1);
        dup2 (pe[1], 2);
        close (po[0]); close (po[1]); close (pe[0]); close (pe[1]);
        execvp (argv[0], argv);
        fprintf (stderr, "cannot run %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    close (po[1]);
    close (pe[1]);
    struct pollfd fds[2] = { { .fd = po[0], .events = POLLIN }, { .fd = pe[0], .events = POLLIN } };
    ofr_buf *dst[2] = { out, errout };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll (fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t n = read (fds[i].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close (fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (dst[i]->len < SBATCH_OUT_MAX) {
                ofr_buf_append (dst[i], chunk, (size_t) n);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close (fds[i].fd);
    int ws;
    while (waitpid (pid, &ws, 0) < 0)
        if (errno != EINTR)
            return ofr_errf (err, errlen, "waitpid: %s", strerror (errno));
    *status = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + (WIFSIGNALED (ws) ? WTERMSIG (ws) : 0);
    return 0;
}

/* Append DBDIR/offramp-slurm-JOB/LEAF to b, shell-quoted. */
static void
quote_job_file (ofr_buf *b, const char *dbdir, long long job, const char *leaf)
{
    ofr_buf f;
    ofr_buf_init (&f);
    ofr_buf_printf (&f, "%s%sofframp-slurm-%lld/%s", dbdir,
                    strcmp (dbdir, "/") == 0 ? "" : "/", job, leaf);
    if (f.oom)
        b->oom = true;
    else
        ofr_shell_quote (b, f.data);
    ofr_buf_free (&f);
}

static void
chomp (ofr_buf *b)
{
    while (b->len && strchr ("\n\r \t", b->data[b->len - 1]))
        b->data[--b->len] = '\0';
}

int
ofr_slurm_run (const ofr_slurm_opts *o, bool dry_run, FILE *out, char *err, size_t errlen)
{
    char *exe, *db, *dbdir, *workdir;
    ofr_buf script, sout, serr, hint;
    ofr_buf_init (&script);
    ofr_buf_init (&sout);
    ofr_buf_init (&serr);
    ofr_buf_init (&hint);
    ofr_buf tmpl;
    ofr_buf_init (&tmpl);
    char *tmp = NULL;
    int fd = -1, rc = resolve (o, &exe, &db, &dbdir, &workdir, err, errlen);
    if (rc == 0)
        rc = render (o, exe, db, dbdir, workdir, &script, err, errlen);
    if (rc != 0)
        goto out;
    if (dry_run) {
        if (fwrite (script.data, 1, script.len, out) != script.len || fflush (out) != 0)
            rc = ofr_errf (err, errlen, "writing the script: %s", strerror (errno));
        goto out;
    }
    const char *sbatch = getenv ("OFFRAMP_SBATCH");
    if (!sbatch || !*sbatch)
        sbatch = "sbatch";
    if (!on_path (sbatch)) {
        rc = ofr_errf (err, errlen, "--slurm: %s not found on PATH: submitting needs the Slurm "
                       "client tools on this machine (Debian: slurm-client); --dry-run prints "
                       "the script instead", sbatch);
        goto out;
    }
    /* sbatch copies the script when it submits; the file goes right after. */
    const char *tmpdir = getenv ("TMPDIR");
    ofr_buf_printf (&tmpl, "%s/offramp-sbatch-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (tmpl.oom) {
        rc = ofr_errf (err, errlen, "out of memory");
        goto out;
    }
    tmp = tmpl.data;
    fd = mkstemp (tmp);
    if (fd < 0) {
        rc = ofr_errf (err, errlen, "%s: %s", tmp, strerror (errno));
        goto out;
    }
    for (size_t off = 0; off < script.len;) {
        ssize_t n = write (fd, script.data + off, script.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = ofr_errf (err, errlen, "%s: %s", tmp, strerror (errno));
            goto out;
        }
        off += (size_t) n;
    }
    char *argv[] = { (char *) sbatch, (char *) "--parsable", tmp, NULL };
    int status = 0;
    if ((rc = capture (argv, &sout, &serr, &status, err, errlen)) != 0)
        goto out;
    chomp (&sout);
    chomp (&serr);
    char *end = NULL;
    long long job = sout.data ? strtoll (sout.data, &end, 10) : 0;
    if (status != 0 || job <= 0 || !end || (*end && *end != ';')) {
        rc = ofr_errf (err, errlen, "%s failed (exit status %d)%s%s%s%s", sbatch, status,
                       serr.len ? ": " : "", serr.len ? serr.data : "",
                       status == 0 ? "; it printed no job id: " : "",
                       status == 0 && sout.data ? sout.data : "");
        goto out;
    }
    if (serr.len)           /* sbatch warnings */
        fprintf (stderr, "%s\n", serr.data);
    /* How to follow the job: the batch node is known once it runs. */
    const char *sep = strcmp (dbdir, "/") == 0 ? "" : "/";
    ofr_buf_printf (&hint, "Submitted batch job %lld\n", job);
    ofr_buf_printf (&hint, "offramp: output:    %s%sofframp-slurm-%lld.out\n", dbdir, sep, job);
    ofr_buf_printf (&hint, "offramp: status:    squeue -j %lld\n", job);
    ofr_buf_puts (&hint, "offramp: dashboard: ");
    ofr_shell_quote (&hint, exe);
    ofr_buf_puts (&hint, " tui --connect ");
    if (o->bind)
        ofr_shell_quote (&hint, o->bind);
    else
        ofr_buf_printf (&hint, "\"tcp://$(squeue -h -j %lld -o %%B):%lld\"", job,
                        OFR_SLURM_PORT_BASE + 3 * (job % OFR_SLURM_PORT_JOBS));
    if (!o->insecure && (!o->bind || !ofr_endpoint_is_local (o->bind))) {
        ofr_buf_puts (&hint, " --key ");
        quote_job_file (&hint, dbdir, job, "keys/worker.key");
        ofr_buf_puts (&hint, " --server-key ");
        quote_job_file (&hint, dbdir, job, "keys/coordinator.pub");
    } else if (o->insecure) {
        ofr_buf_puts (&hint, " --insecure");
    }
    ofr_buf_puts (&hint, "\n                   (once the job runs)\nofframp: report:    ");
    ofr_shell_quote (&hint, exe);
    ofr_buf_puts (&hint, " report --db ");
    ofr_shell_quote (&hint, db);
    ofr_buf_puts (&hint, "\n");
    if (hint.oom) {
        /* Submitted: the id at least. */
        fprintf (out, "Submitted batch job %lld\n", job);
    } else {
        fputs (hint.data, out);
    }
    fflush (out);
out:
    if (fd >= 0) {
        close (fd);
        unlink (tmp);
    }
    ofr_buf_free (&tmpl);
    ofr_buf_free (&script);
    ofr_buf_free (&sout);
    ofr_buf_free (&serr);
    ofr_buf_free (&hint);
    free (exe);
    free (db);
    free (dbdir);
    free (workdir);
    return rc;
}
