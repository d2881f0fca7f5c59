/*  cmd_run.c -- `offramp run`: expand a plan into cells, run them with local
    or remote workers, print the report. */
#include "commands.h"
#include "coordinator.h"
#include "plan.h"
#include "slurm.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../results/store.h"
#include "../workers/plugin_host.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  The embedded default plan: the classification early-exit methods on
    SST-2 dev with the multi-exit encoder shipped in models/ (trained by
    recipes/train_glue.py). Runs from a clone alone (data/glue/sst2). */
static const char s_default_plan[] =
    "name: sst2-compare\n"
    "settings: {batch_size: 16, shard_size: 128, seed: 1}\n"
    "models: [glue-sst2-multiexit]\n"
    "suites: [sst2]\n"
    "methods:\n"
    "  - full\n"
    "  - {name: truncate, params: {layer: [2, 4]}}\n"
    "  - {name: entropy, params: {threshold: [0.1, 0.3]}}\n"
    "  - {name: maxprob, params: {threshold: [0.8, 0.9]}}\n"
    "  - {name: patience, params: {patience: [1, 2]}}\n"
    "  - {name: palbert, params: {q: [0.3, 0.5, 0.7]}}\n"
    "  - {name: berxit, params: {threshold: [0.8, 0.95]}}\n"
    "  - {name: jei, params: {threshold: [0.5, 0.999]}}\n"
    "  - {name: quee, params: {exit_threshold: 0.9, lowp_threshold: 0.6}}\n"
    "  - oracle\n";

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: offramp run [PLAN.yaml] [options]\n"
        "       offramp run --model M --suite S[,S2] --method NAME[:k=v[,k=v]] ... [options]\n"
        "       offramp run --resume RUN_ID [--db FILE]\n\n"
        "Runs every cell (model x suite x method configuration) of a plan and prints\n"
        "the report. With no PLAN and no --model, runs the embedded default plan.\n\n"
        "options:\n"
        "  --workers N        local worker processes to start (default: one per core;\n"
        "                     with --bind, default 0: remote workers join)\n"
        "  --threads N        BLAS threads per local worker (default: cores / workers)\n"
        "  --bind ADDR        listen for workers on ADDR (e.g. tcp://127.0.0.1:5555);\n"
        "                     default: a private ipc:// socket\n"
        "  --pub ADDR         events socket for dashboards (default: derived from --bind)\n"
        "  --keys DIR         CURVE: DIR/coordinator.key and DIR/allowlist (offramp keygen;\n"
        "                     default $OFFRAMP_KEYS or ./keys). CURVE is on whenever --bind\n"
        "                     is not loopback or ipc://, and with --keys or --allow\n"
        "  --allow FILE       allowed worker/dashboard public keys (default DIR/allowlist)\n"
        "  --insecure         plaintext, unauthenticated, even on a non-loopback --bind\n"
        "  --db FILE          results file (default: offramp.sqlite)\n"
        "  --resume RUN_ID    finish what is missing of an interrupted run\n"
        "  --model M          quick run: model name(s), comma separated\n"
        "  --suite S          quick run: suite name(s), comma separated (name[:split])\n"
        "  --method SPEC      quick run: NAME[:key=value,...]; a|b|c sweeps (repeatable)\n"
        "  --limit N          first N examples per suite\n"
        "  --plugins DIRS     plugin search path (default: $OFFRAMP_PLUGINS or next to the binary)\n"
        "  --models DIRS      model search path (default: $OFFRAMP_MODELS, ./models, ../shared/models)\n"
        "  --data DIRS        data search path (default: $OFFRAMP_DATA, ./data, ../shared/data)\n"
        "  --artifacts DIRS   fitted artifacts (offramp fit) for local workers\n"
        "                     (default: $OFFRAMP_ARTIFACTS, else ./artifacts)\n"
        "  --heartbeat-ms N   worker heartbeat interval (default 500)\n"
        "  --format F         report format after the run: table|csv|json|none (default table)\n"
        "  --ctl ADDR         snapshot/control socket for dashboards (default: derived)\n"
        "  --tui              live dashboard on this terminal (default when stdin and\n"
        "                     stdout are terminals); logs go to DB.log meanwhile\n"
        "  --no-tui           plain progress lines with ETA on stderr\n"
        "  -q, --quiet        no progress lines\n"
        "  --slurm            submit the run as a Slurm batch job (docs/SLURM.md): the\n"
        "                     coordinator on the batch node, one worker per node (srun)\n"
        "  --partition P      --slurm: partition (default: the cluster's)\n"
        "  --nodes N          --slurm: nodes, one worker each (default 1)\n"
        "  --time T           --slurm: time limit (MINUTES, HH:MM:SS, D-HH:MM...)\n"
        "  --sbatch-arg ARG   --slurm: an extra #SBATCH line, verbatim (repeatable)\n"
        "  --dry-run          --slurm: print the batch script, do not submit it\n");
}

enum { O_WORKERS = 256, O_THREADS, O_BIND, O_PUB, O_DB, O_RESUME, O_MODEL, O_SUITE,
       O_METHOD, O_LIMIT, O_PLUGINS, O_MODELS, O_DATA, O_HB, O_FORMAT, O_NOTUI, O_TUI, O_CTL,
       O_ARTIFACTS, O_KEYS, O_ALLOW, O_INSECURE,
       O_SLURM, O_PARTITION, O_NODES, O_TIME, O_SBATCH_ARG, O_DRY_RUN };

static const struct option s_opts[] = {
    { "workers", required_argument, 0, O_WORKERS },
    { "threads", required_argument, 0, O_THREADS },
    { "bind", required_argument, 0, O_BIND },
    { "pub", required_argument, 0, O_PUB },
    { "db", required_argument, 0, O_DB },
    { "resume", required_argument, 0, O_RESUME },
    { "model", required_argument, 0, O_MODEL },
    { "suite", required_argument, 0, O_SUITE },
    { "method", required_argument, 0, O_METHOD },
    { "limit", required_argument, 0, O_LIMIT },
    { "plugins", required_argument, 0, O_PLUGINS },
    { "models", required_argument, 0, O_MODELS },
    { "data", required_argument, 0, O_DATA },
    { "heartbeat-ms", required_argument, 0, O_HB },
    { "format", required_argument, 0, O_FORMAT },
    { "no-tui", no_argument, 0, O_NOTUI },
    { "tui", no_argument, 0, O_TUI },
    { "ctl", required_argument, 0, O_CTL },
    { "artifacts", required_argument, 0, O_ARTIFACTS },
    { "keys", required_argument, 0, O_KEYS },
    { "allow", required_argument, 0, O_ALLOW },
    { "insecure", no_argument, 0, O_INSECURE },
    { "slurm", no_argument, 0, O_SLURM },
    { "partition", required_argument, 0, O_PARTITION },
    { "nodes", required_argument, 0, O_NODES },
    { "time", required_argument, 0, O_TIME },
    { "sbatch-arg", required_argument, 0, O_SBATCH_ARG },
    { "dry-run", no_argument, 0, O_DRY_RUN },
    { "quiet", no_argument, 0, 'q' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 }
};

static int
int_arg (const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    if (ofr_parse_int (v, out) != 0 || *out < lo || *out > hi) {
        fprintf (stderr, "offramp run: %s %s: expected an integer in %lld..%lld\n",
                 flag, v, lo, hi);
        return -1;
    }
    return 0;
}

/*  --slurm: the job runs this plan (or resumes this run) with these
    options; a dry run prints the script. */
static int
run_slurm (ofr_slurm_opts *so, const ofr_coord_opts *o, const ofr_plan *plan,
           long long resume, int threads, bool dry_run)
{
    if (o->keys_dir || o->allow_path) {
        fprintf (stderr, "offramp run: --slurm makes the job's own CURVE keys: "
                 "no --keys or --allow with it\n");
        return 2;
    }
    ofr_coord_opts def;
    ofr_coord_opts_init (&def);
    so->db = o->db_path;
    so->bind = o->bind;
    so->insecure = o->insecure;
    so->artifacts = o->artifacts_path;
    so->heartbeat_ms = o->heartbeat_ms != def.heartbeat_ms ? o->heartbeat_ms : 0;
    so->threads = threads;
    so->resume = resume;
    if (plan) {
        so->plan_name = ofr_plan_name (plan);
        so->plan_text = ofr_plan_text (plan);
    }
    char err[OFR_ERRLEN];
    if (ofr_slurm_run (so, dry_run, stdout, err, sizeof err) != 0) {
        fprintf (stderr, "offramp run: %s\n", err);
        return 1;
    }
    return 0;
}

int
ofr_cmd_run (int argc, char **argv)
{
    ofr_coord_opts o;
    ofr_coord_opts_init (&o);
    long long workers = -1, threads = 0, resume = -1, limit = 0, v;
    const char *model = NULL, *suite = NULL, *format = "table";
    const char **methods = ofr_calloc ((size_t) argc + 1, sizeof (char *));
    int n_methods = 0, rc = 1;
    bool quiet = false, slurm = false, dry_run = false;
    ofr_slurm_opts so;                    /* --slurm */
    ofr_slurm_opts_init (&so);
    int tui = -1;                         /* -1: if this is a terminal */
    char *plugin_path = NULL, *models_path = NULL, *data_path = NULL;
    ofr_plan *plan = NULL;
    if (!methods)
        return 1;
    optind = 1;
    int c;
    while ((c = getopt_long (argc, argv, "qh", s_opts, NULL)) != -1) {
        switch (c) {
        case O_WORKERS: if (int_arg ("--workers", optarg, 0, 1024, &workers)) goto out; break;
        case O_THREADS: if (int_arg ("--threads", optarg, 1, 1024, &threads)) goto out; break;
        case O_RESUME:  if (int_arg ("--resume", optarg, 1, INT64_MAX, &resume)) goto out; break;
        case O_LIMIT:   if (int_arg ("--limit", optarg, 1, 1 << 30, &limit)) goto out; break;
        case O_HB:
            if (int_arg ("--heartbeat-ms", optarg, 10, 60000, &v)) goto out;
            o.heartbeat_ms = (int) v;
            o.dead_ms = (int) v * 10;
            break;
        case O_BIND:    o.bind = optarg; break;
        case O_PUB:     o.pub = optarg; break;
        case O_DB:      o.db_path = optarg; break;
        case O_MODEL:   model = optarg; break;
        case O_SUITE:   suite = optarg; break;
        case O_METHOD:  methods[n_methods++] = optarg; break;
        case O_PLUGINS: plugin_path = ofr_strdup (optarg); break;
        case O_MODELS:  models_path = ofr_strdup (optarg); break;
        case O_DATA:    data_path = ofr_strdup (optarg); break;
        case O_FORMAT:  format = optarg; break;
        case O_NOTUI:   tui = 0; break;
        case O_TUI:     tui = 1; break;
        case O_CTL:     o.ctl = optarg; break;
        case O_ARTIFACTS: o.artifacts_path = optarg; break;
        case O_KEYS:    o.keys_dir = optarg; break;
        case O_ALLOW:   o.allow_path = optarg; break;
        case O_INSECURE: o.insecure = true; break;
        case O_SLURM:   slurm = true; break;
        case O_DRY_RUN: dry_run = true; break;
        case O_PARTITION: so.partition = optarg; break;
        case O_TIME:    so.time = optarg; break;
        case O_NODES:
            if (int_arg ("--nodes", optarg, 1, 100000, &v)) goto out;
            so.nodes = (int) v;
            break;
        case O_SBATCH_ARG:
            if (ofr_slurm_opts_add_arg (&so, optarg) != 0) goto out;
            break;
        case 'q':       quiet = true; break;
        case 'h':       usage (stdout); rc = 0; goto out;
        default:        usage (stderr); rc = 2; goto out;
        }
    }
    ofr_report_format fmt = OFR_REPORT_TABLE;
    if (strcmp (format, "csv") == 0) fmt = OFR_REPORT_CSV;
    else if (strcmp (format, "json") == 0) fmt = OFR_REPORT_JSON;
    else if (strcmp (format, "none") != 0 && strcmp (format, "table") != 0) {
        fprintf (stderr, "offramp run: --format %s: expected table, csv, json or none\n", format);
        rc = 2;
        goto out;
    }
    if ((dry_run || so.partition || so.time || so.n_sbatch_args || so.nodes != 1) && !slurm) {
        fprintf (stderr, "offramp run: --partition, --nodes, --time, --sbatch-arg and "
                 "--dry-run go with --slurm\n");
        rc = 2;
        goto out;
    }
    if (slurm && workers > 0) {
        fprintf (stderr, "offramp run: --slurm runs one worker per node: no --workers with it\n");
        rc = 2;
        goto out;
    }
    so.plugins = plugin_path;             /* the job passes on what was given */
    so.models = models_path;
    so.data = data_path;
    if (!plugin_path) plugin_path = ofr_strdup (ofr_plugin_default_path ());
    if (!models_path) models_path = ofr_default_models_path ();
    if (!data_path) data_path = ofr_default_data_path ();
    if (!plugin_path || !models_path || !data_path) {
        fprintf (stderr, "offramp run: out of memory\n");
        goto out;
    }
    o.plugin_path = plugin_path;
    o.models_path = models_path;
    o.data_path = data_path;
    o.progress = !quiet;
    /* The dashboard draws on /dev/tty if stdout is redirected (the report
       can go to a file), but by default only when stdout is the terminal. */
    const char *term = getenv ("TERM");
    bool has_term = term && *term && strcmp (term, "dumb") != 0;
    if (tui == 1 && (!has_term || access ("/dev/tty", R_OK | W_OK) != 0)) {
        fprintf (stderr, "offramp run: --tui needs a terminal (/dev/tty and TERM)\n");
        rc = 2;
        goto out;
    }
    o.tui = tui == 1 || (tui < 0 && has_term && isatty (0) && isatty (1) && !quiet);

    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    if (workers < 0)
        workers = o.bind ? 0 : cores;
    o.local_workers = (int) workers;
    o.worker_threads = threads > 0 ? (int) threads
                                   : (int) (workers > 0 && cores / workers > 0 ? cores / workers : 1);
    if (!o.bind && workers == 0 && !slurm) {
        fprintf (stderr, "offramp run: --workers 0 needs --bind so that remote workers can join\n");
        rc = 2;
        goto out;
    }

    char err[OFR_ERRLEN] = "";
    int64_t run_id = resume;
    if (resume > 0) {
        if (optind < argc || model || suite || n_methods) {
            fprintf (stderr, "offramp run: --resume takes no plan, --model, --suite or --method\n");
            rc = 2;
            goto out;
        }
        if (slurm) {
            rc = run_slurm (&so, &o, NULL, resume, (int) threads, dry_run);
            goto out;
        }
        if (ofr_coord_resume (&o, resume, err, sizeof err) != 0) {
            fprintf (stderr, "offramp run: %s\n", err);
            goto out;
        }
    } else {
        int prc;
        if (model || suite || n_methods) {
            if (!model || !suite || !n_methods || optind < argc) {
                fprintf (stderr, "offramp run: a quick run needs --model, --suite and "
                         "--method, and no plan file\n");
                rc = 2;
                goto out;
            }
            prc = ofr_plan_from_args (model, suite, methods, n_methods, (int) limit,
                                      &plan, err, sizeof err);
        } else if (optind < argc) {
            if (optind + 1 < argc) {
                fprintf (stderr, "offramp run: one plan file at a time (got '%s' and '%s')\n",
                         argv[optind], argv[optind + 1]);
                rc = 2;
                goto out;
            }
            prc = ofr_plan_load_file (argv[optind], &plan, err, sizeof err);
        } else {
            fprintf (stderr, "offramp: no plan given: running the embedded default plan "
                     "(early-exit methods on SST-2 dev; `offramp run --help`).\n");
            prc = ofr_plan_load_string (s_default_plan, sizeof s_default_plan - 1,
                                        "<default plan>", &plan, err, sizeof err);
        }
        if (prc != 0) {
            fprintf (stderr, "offramp run: %s\n", err);
            goto out;
        }
        if (limit > 0)
            ofr_plan_set_limit (plan, (int) limit);
        if (slurm) {
            so.limit = (int) limit;
            rc = run_slurm (&so, &o, plan, 0, (int) threads, dry_run);
            goto out;
        }
        if (ofr_coord_run_plan (&o, plan, &run_id, err, sizeof err) != 0) {
            fprintf (stderr, "offramp run: %s\n", err);
            goto out;
        }
    }
    rc = 0;
    if (strcmp (format, "none") != 0) {
        ofr_store *store = NULL;
        if (ofr_store_open (o.db_path, &store, err, sizeof err) != 0
            || ofr_store_report (store, run_id, fmt, stdout, err, sizeof err) != 0) {
            fprintf (stderr, "offramp run: report: %s\n", err);
            rc = 1;
        }
        ofr_store_destroy (&store);
    }
out:
    ofr_slurm_opts_clear (&so);
    ofr_plan_destroy (&plan);
    free (methods);
    free (plugin_path);
    free (models_path);
    free (data_path);
    return rc;
}
