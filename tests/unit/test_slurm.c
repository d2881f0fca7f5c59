/*  test_slurm.c -- the batch script of `offramp run --slurm` (harness/slurm.c):
    flags -> #SBATCH lines, addresses and CURVE, bad options refused, and
    the script itself run by bash with a stand-in offramp and srun from a
    directory whose name has spaces, ' $ and `: every path and the
    embedded plan arrive intact. Then submission with stand-in sbatch
    commands: the job id, a failing sbatch's stderr, a missing sbatch. */
#include "check.h"
#include "harness/slurm.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char s_plan[] =
    "name: tiny\n"
    "models: [testnet]\n"
    "suites: [synthetic]\n"
    "methods: [full]\n";

static char *
render_ok (const ofr_slurm_opts *o)
{
    ofr_buf b;
    ofr_buf_init (&b);
    char err[OFR_ERRLEN] = "";
    int rc = ofr_slurm_render (o, &b, err, sizeof err);
    CHECK (rc == 0, "render: %s", err);
    if (rc != 0) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

static bool
has_line (const char *text, const char *line)
{
    size_t n = strlen (line);
    for (const char *p = text; p && *p;) {
        if (strncmp (p, line, n) == 0 && (p[n] == '\n' || !p[n]))
            return true;
        p = strchr (p, '\n');
        p = p ? p + 1 : NULL;
    }
    return false;
}

static void
base_opts (ofr_slurm_opts *o, const char *dir)
{
    ofr_slurm_opts_init (o);
    o->plan_name = "tiny";
    o->plan_text = s_plan;
    o->workdir = dir;
    o->db = "res.sqlite";
    o->exe = "/bin/sh";
}

static void
test_lines (const char *dir)
{
    ofr_slurm_opts o;
    base_opts (&o, dir);
    char *s = render_ok (&o);
    if (s) {
        CHECK (strncmp (s, "#!/bin/bash\n", 12) == 0, "no shebang");
        CHECK (has_line (s, "#SBATCH --job-name=offramp-tiny"), "job name:\n%s", s);
        CHECK (has_line (s, "#SBATCH --nodes=1"), "nodes");
        CHECK (has_line (s, "#SBATCH --ntasks-per-node=1"), "ntasks-per-node");
        CHECK (!strstr (s, "--time=") && !strstr (s, "--partition=") && !strstr (s, "#SBATCH --cpus-per-task="),
               "defaults add no time/partition/cpus line");
        char want[4096];
        snprintf (want, sizeof want, "#SBATCH --output=\"%s/offramp-slurm-%%j.out\"", dir);
        CHECK (has_line (s, want), "output line '%s'", want);
        snprintf (want, sizeof want, "DB='%s/res.sqlite'", dir);
        CHECK (has_line (s, want), "absolute DB '%s'", want);
        CHECK (has_line (s, "OFFRAMP='/usr/bin/dash'") || has_line (s, "OFFRAMP='/bin/sh'")
               || strstr (s, "OFFRAMP='/"), "absolute binary");
        CHECK (strstr (s, "<<'OFFRAMP_PLAN_EOF'\nname: tiny\n") != NULL, "plan heredoc");
        CHECK (has_line (s, "PORT=$(( 20000 + 3 * (${SLURM_JOB_ID:-0} % 13000) ))"), "port");
        CHECK (has_line (s, "BIND=\"tcp://${ADDR:-$(hostname)}:$PORT\""), "default bind");
        CHECK (strstr (s, "keygen --dir \"$JOBDIR/keys\" coordinator worker") != NULL,
               "non-loopback default: per-job CURVE keys");
        CHECK (has_line (s, "THREADS=${SLURM_CPUS_PER_TASK:-$(nproc)}"), "threads");
        CHECK (strstr (s, "srun --ntasks-per-node=1") != NULL, "srun");
        CHECK (strstr (s, "worker --connect \"$CONNECT\" --threads \"$THREADS\"") != NULL, "worker");
        CHECK (strstr (s, "tui --connect") && strstr (s, "report --db"), "attach hints");
        /* The #SBATCH block comes before the first command. */
        const char *last = strstr (s, "#SBATCH --output"), *first = strstr (s, "set -u");
        CHECK (last && first && last < first, "#SBATCH after a command");
    }
    free (s);

    CHECK (ofr_slurm_opts_add_arg (&o, "--exclusive") == 0, "add arg");
    CHECK (ofr_slurm_opts_add_arg (&o, "--mem=4G") == 0, "add arg");
    o.partition = "gpu-a,cpu_b";
    o.nodes = 3;
    o.time = "1-02:00:00";
    o.threads = 8;
    o.limit = 50;
    o.heartbeat_ms = 250;
    o.plugins = "/opt/my plugins";
    o.bind = "tcp://127.0.0.1:6000";
    s = render_ok (&o);
    if (s) {
        CHECK (has_line (s, "#SBATCH --nodes=3"), "nodes 3");
        CHECK (has_line (s, "#SBATCH --time=1-02:00:00"), "time");
        CHECK (has_line (s, "#SBATCH --partition=gpu-a,cpu_b"), "partition");
        CHECK (has_line (s, "#SBATCH --cpus-per-task=8"), "threads -> cpus-per-task");
        const char *a = strstr (s, "#SBATCH --exclusive\n"), *b = strstr (s, "#SBATCH --mem=4G\n");
        CHECK (a && b && a < b, "extra lines verbatim, in order");
        CHECK (has_line (s, "BIND='tcp://127.0.0.1:6000'"), "given bind");
        CHECK (has_line (s, "CONNECT=\"$BIND\""), "connect = bind");
        CHECK (!strstr (s, "keygen"), "loopback: no CURVE keys");
        CHECK (strstr (s, "\"$PLAN\" --limit 50 --workers 0") != NULL, "limit");
        CHECK (strstr (s, "--plugins '/opt/my plugins' --heartbeat-ms 250)") != NULL, "coord args");
        CHECK (has_line (s, "WORKER_ARGS=( --plugins '/opt/my plugins')"), "worker args");
    }
    free (s);

    o.bind = "tcp://*:7000";
    s = render_ok (&o);
    if (s) {
        CHECK (has_line (s, "CONNECT=\"tcp://$(hostname):\"'7000'"), "wildcard bind: connect to host");
        CHECK (strstr (s, "keygen") != NULL, "wildcard: CURVE");
    }
    free (s);
    o.insecure = true;
    s = render_ok (&o);
    if (s) {
        CHECK (!strstr (s, "keygen") && has_line (s, "COORD_ARGS+=(--insecure)"), "insecure");
    }
    free (s);
    ofr_slurm_opts_clear (&o);

    base_opts (&o, dir);
    o.resume = 7;
    o.plan_text = NULL;
    s = render_ok (&o);
    if (s) {
        CHECK (has_line (s, "#SBATCH --job-name=offramp-resume-7"), "resume job name");
        CHECK (strstr (s, "run --resume 7 --workers 0") && !strstr (s, "PLAN="), "resume");
    }
    free (s);
}

static void
test_refused (const char *dir)
{
    struct { const char *what, *time, *part, *arg, *sub; int nodes; } bad[] = {
        { "time", "5; rm -rf /", NULL, NULL, NULL, 1 },
        { "partition", NULL, "a b", NULL, NULL, 1 },
        { "sbatch-arg", NULL, NULL, "--mem=1G\nrm -rf /", NULL, 1 },
        { "sbatch-arg", NULL, NULL, "", NULL, 1 },
        { "nodes", NULL, NULL, NULL, NULL, 0 },
        { "db dir", NULL, NULL, NULL, "50%", 1 },
        { "db dir", NULL, NULL, NULL, "q\"uote", 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ofr_slurm_opts o;
        base_opts (&o, dir);
        o.time = bad[i].time;
        o.partition = bad[i].part;
        o.nodes = bad[i].nodes;
        if (bad[i].arg)
            ofr_slurm_opts_add_arg (&o, bad[i].arg);
        char sub[4096];
        if (bad[i].sub) {
            snprintf (sub, sizeof sub, "%s/%s", dir, bad[i].sub);
            mkdir (sub, 0700);
            o.workdir = sub;
        }
        ofr_buf b;
        ofr_buf_init (&b);
        char err[OFR_ERRLEN] = "";
        CHECK (ofr_slurm_render (&o, &b, err, sizeof err) != 0 && *err,
               "bad %s accepted", bad[i].what);
        ofr_buf_free (&b);
        ofr_slurm_opts_clear (&o);
    }
    ofr_slurm_opts o;
    base_opts (&o, dir);
    o.db = "no/such/dir/x.sqlite";
    ofr_buf b;
    ofr_buf_init (&b);
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_slurm_render (&o, &b, err, sizeof err) != 0 && strstr (err, "no/such"),
           "missing DB directory: '%s'", err);
    ofr_buf_free (&b);
}

static int
write_exe (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fputs (text, f);
    fclose (f);
    return chmod (path, 0755);
}

static char *
slurp (const char *path)
{
    char *data = NULL;
    size_t n;
    char err[OFR_ERRLEN];
    return ofr_read_file (path, &data, &n, err, sizeof err) == 0 ? data : NULL;
}

/* Run the rendered script with bash: a stand-in offramp records each
   command's arguments one per line, a stand-in srun drops its options. */
static void
test_script_runs (const char *top)
{
    char dir[1024], bin[1024], exe[2048], path[4096], cmd[16384];
    snprintf (dir, sizeof dir, "%.900s/it's a dir $HOME `x`", top);
    snprintf (bin, sizeof bin, "%.900s/bin", top);
    snprintf (exe, sizeof exe, "%.1024s/off ramp", dir);
    CHECK (mkdir (dir, 0700) == 0 && mkdir (bin, 0700) == 0, "mkdir");
    CHECK (write_exe (exe, "#!/bin/sh\nout=\"$(dirname \"$0\")/called.$1\"\n"
                      ": > \"$out\"; for a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$out\"; done\n"
                      "[ \"$1\" = keygen ] && mkdir -p \"$3\" && : > \"$3/worker.pub\"\n"
                      "exit 0\n") == 0, "fake offramp");
    snprintf (path, sizeof path, "%.1024s/srun", bin);
    CHECK (write_exe (path, "#!/bin/sh\nwhile [ $# -gt 0 ]; do case \"$1\" in -*) shift;; "
                      "*) break;; esac; done\nexec \"$@\"\n") == 0, "fake srun");
    snprintf (path, sizeof path, "%.1024s/getent", bin);
    CHECK (write_exe (path, "#!/bin/sh\necho '10.1.2.3        STREAM node7'\n") == 0, "fake getent");

    /* A plan whose text would break an unquoted heredoc, with a line equal
       to the default delimiter and no final newline. */
    const char *plan = "name: odd\n# $HOME `id` \\n '\"\nOFFRAMP_PLAN_EOF\nmethods: [full]";
    ofr_slurm_opts o;
    ofr_slurm_opts_init (&o);
    o.plan_name = "it's odd";          /* the copy's file stem */
    o.plan_text = plan;
    o.workdir = dir;
    o.exe = exe;
    o.db = "my results.sqlite";
    o.models = "models \"dir\"/with 'quote'";
    char *s = render_ok (&o);
    if (!s)
        return;
    CHECK (strstr (s, "<<'OFFRAMP_PLAN_EOF_1'") != NULL, "delimiter avoids a plan line");
    snprintf (path, sizeof path, "%.1024s/job.sh", top);
    FILE *f = fopen (path, "w");
    CHECK (f != NULL, "job.sh");
    if (f) {
        fputs (s, f);
        fclose (f);
    }
    free (s);
    snprintf (cmd, sizeof cmd, "cd / && PATH='%s':\"$PATH\" SLURM_JOB_ID=42 SLURM_CPUS_PER_TASK=3 "
              "bash '%s' > '%s/job.out' 2>&1", bin, path, top);
    CHECK (system (cmd) == 0, "the script failed: %s", cmd);

    char want[16384];
    snprintf (path, sizeof path, "%.1024s/offramp-slurm-42/it's odd.yaml", dir);
    char *got = slurp (path);
    CHECK (got && strncmp (got, plan, strlen (plan)) == 0 && strcmp (got + strlen (plan), "\n") == 0,
           "plan copy differs: '%s'", got ? got : "(missing)");
    free (got);

    const char *host = "10.1.2.3";
    snprintf (path, sizeof path, "%.1024s/called.run", dir);
    got = slurp (path);
    snprintf (want, sizeof want,
              "run\n%s/offramp-slurm-42/it's odd.yaml\n--workers\n0\n--bind\ntcp://%s:%d\n"
              "--db\n%s/my results.sqlite\n--no-tui\n--format\ntable\n"
              "--models\nmodels \"dir\"/with 'quote'\n--keys\n%s/offramp-slurm-42/keys\n",
              dir, host, 20000 + 3 * 42, dir, dir);
    CHECK (got && strcmp (got, want) == 0, "coordinator args:\n%s\nwant:\n%s", got ? got : "", want);
    free (got);
    snprintf (path, sizeof path, "%.1024s/called.worker", dir);
    got = slurp (path);
    snprintf (want, sizeof want,
              "worker\n--connect\ntcp://%s:%d\n--threads\n3\n--key\n%s/offramp-slurm-42/keys/worker.key\n"
              "--server-key\n%s/offramp-slurm-42/keys/coordinator.pub\n--models\nmodels \"dir\"/with 'quote'\n",
              host, 20000 + 3 * 42, dir, dir);
    CHECK (got && strcmp (got, want) == 0, "worker args:\n%s\nwant:\n%s", got ? got : "", want);
    free (got);
    snprintf (path, sizeof path, "%.1024s/offramp-slurm-42/keys/allowlist", dir);
    CHECK (access (path, F_OK) == 0, "allowlist made");
}

static void
test_submit (const char *top)
{
    char sb[4096], err[OFR_ERRLEN];
    ofr_slurm_opts o;
    base_opts (&o, top);
    o.bind = "tcp://127.0.0.1:6000";

    snprintf (sb, sizeof sb, "%s/sbatch-ok", top);
    CHECK (write_exe (sb, "#!/bin/sh\n[ \"$1\" = --parsable ] && grep -q '^#SBATCH' \"$2\" "
                      "&& echo '4711;cluster'\n") == 0, "fake sbatch");
    setenv ("OFFRAMP_SBATCH", sb, 1);
    FILE *out = tmpfile ();
    CHECK (out != NULL, "tmpfile");
    if (!out)
        return;
    CHECK (ofr_slurm_run (&o, false, out, err, sizeof err) == 0, "submit: %s", err);
    char text[8192] = "";
    rewind (out);
    size_t n = fread (text, 1, sizeof text - 1, out);
    text[n] = '\0';
    CHECK (strncmp (text, "Submitted batch job 4711\n", 25) == 0, "job id line: %s", text);
    CHECK (strstr (text, "tui --connect 'tcp://127.0.0.1:6000'") != NULL, "attach hint: %s", text);
    CHECK (strstr (text, "report --db '") != NULL, "report hint");
    fclose (out);

    snprintf (sb, sizeof sb, "%s/sbatch-bad", top);
    CHECK (write_exe (sb, "#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\n"
                      "exit 1\n") == 0, "fake sbatch");
    setenv ("OFFRAMP_SBATCH", sb, 1);
    *err = 0;
    CHECK (ofr_slurm_run (&o, false, stdout, err, sizeof err) != 0
           && strstr (err, "invalid partition specified: nope") && strstr (err, "exit status 1"),
           "failing sbatch: '%s'", err);

    setenv ("OFFRAMP_SBATCH", "/nonexistent/sbatch", 1);
    *err = 0;
    CHECK (ofr_slurm_run (&o, false, stdout, err, sizeof err) != 0 && strstr (err, "not found"),
           "missing sbatch: '%s'", err);
    unsetenv ("OFFRAMP_SBATCH");
}

int
main (void)
{
    char top[] = "/tmp/offramp-test-slurm-XXXXXX";
    if (!mkdtemp (top)) {
        perror ("mkdtemp");
        return 1;
    }
    char shell[64];
    ofr_buf dummy;
    ofr_buf_init (&dummy);
    ofr_shell_quote (&dummy, "a'b c");
    CHECK (dummy.data && strcmp (dummy.data, "'a'\\''b c'") == 0, "quote: %s", dummy.data);
    ofr_buf_reset (&dummy);
    ofr_shell_quote (&dummy, "");
    CHECK (dummy.data && strcmp (dummy.data, "''") == 0, "empty word");
    ofr_buf_free (&dummy);
    snprintf (shell, sizeof shell, "/bin/bash");

    test_lines (top);
    test_refused (top);
    if (access (shell, X_OK) == 0)
        test_script_runs (top);
    test_submit (top);

    char cmd[4200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", top);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", top);
    if (s_failures)
        fprintf (stderr, "%d check(s) failed\n", s_failures);
    return s_failures != 0;
}
