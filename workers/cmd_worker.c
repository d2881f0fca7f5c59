/*  cmd_worker.c -- `offramp worker`. */
#include "worker.h"
#include "plugin_host.h"
#include "engine/blas_setup.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../harness/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: offramp worker --connect ADDR [options]\n\n"
        "Serves a coordinator: announces its plugins, takes tasks and runs each in a\n"
        "child process, streaming records back. Exits when the coordinator says bye.\n\n"
        "options:\n"
        "  --connect ADDR   coordinator endpoint (tcp://HOST:PORT or ipc://PATH)\n"
        "  --threads N      BLAS threads per task (default 1)\n"
        "  --name NAME      worker name (default HOST-PID)\n"
        "  --credit N       tasks accepted at once (default 2)\n"
        "  --plugins DIRS   plugin search path\n"
        "  --models DIRS    model search path\n"
        "  --data DIRS      data search path\n"
        "  --artifacts DIRS fitted artifacts (offramp fit) search path\n"
        "                   (default: $OFFRAMP_ARTIFACTS, else ./artifacts)\n"
        "  --key FILE       CURVE: this worker's key pair (offramp keygen); its .pub\n"
        "                   line must be on the coordinator's allowlist\n"
        "  --server-key K   CURVE: the coordinator's public key (Z85, or its .pub file)\n"
        "  --insecure       plaintext to a non-loopback address (the coordinator must\n"
        "                   run with --insecure too)\n"
        "  --fetch          fetch plugins, model and data files missing here (or whose\n"
        "                   sha256 differs) from the coordinator, verified and cached\n"
        "  --cache DIR      where fetched files are kept (default\n"
        "                   $XDG_CACHE_HOME/offramp, else ~/.cache/offramp)\n");
}

int
ofr_cmd_worker (int argc, char **argv)
{
    static const struct option opts[] = {
        { "connect", required_argument, 0, 'c' }, { "threads", required_argument, 0, 't' },
        { "name", required_argument, 0, 'n' },    { "credit", required_argument, 0, 'k' },
        { "plugins", required_argument, 0, 'p' }, { "models", required_argument, 0, 'm' },
        { "data", required_argument, 0, 'd' },    { "help", no_argument, 0, 'h' },
        { "artifacts", required_argument, 0, 'a' },
        { "key", required_argument, 0, 'K' },     { "server-key", required_argument, 0, 'S' },
        { "insecure", no_argument, 0, 'I' },
        { "fetch", no_argument, 0, 'F' },        { "cache", required_argument, 0, 'C' },
        { 0, 0, 0, 0 }
    };
    ofr_worker_opts o = { .credit = 2, .threads = 1 };
    char *plugins = NULL, *models = NULL, *data = NULL;
    long long v;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o.connect = optarg; break;
        case 'n': o.name = optarg; break;
        case 't':
        case 'k':
            if (ofr_parse_int (optarg, &v) != 0 || v < 1 || v > 1024) {
                fprintf (stderr, "offramp worker: --%s %s: expected 1..1024\n",
                         c == 't' ? "threads" : "credit", optarg);
                goto out;
            }
            if (c == 't') o.threads = (int) v; else o.credit = (int) v;
            break;
        case 'p': free (plugins); plugins = ofr_strdup (optarg); break;
        case 'm': free (models); models = ofr_strdup (optarg); break;
        case 'd': free (data); data = ofr_strdup (optarg); break;
        case 'a': o.artifacts_path = optarg; break;
        case 'K': o.key_file = optarg; break;
        case 'S': o.server_key = optarg; break;
        case 'I': o.insecure = true; break;
        case 'F': o.fetch = true; break;
        case 'C': o.cache_dir = optarg; o.fetch = true; break;
        case 'h': usage (stdout); rc = 0; goto out;
        default:  usage (stderr); goto out;
        }
    }
    if (!o.connect || optind < argc) {
        usage (stderr);
        goto out;
    }
    if (!plugins) plugins = ofr_strdup (ofr_plugin_default_path ());
    if (!models) models = ofr_default_models_path ();
    if (!data) data = ofr_default_data_path ();
    if (!plugins || !models || !data) {
        fprintf (stderr, "offramp worker: out of memory\n");
        rc = 1;
        goto out;
    }
    o.plugin_path = plugins;
    o.models_path = models;
    o.data_path = data;
    ofr_blas_set_threads (o.threads);
    /* main() logged the core at start-up, before --threads took effect. */
    ofr_log (OFR_INFO, "BLAS: %d thread%s (--threads), core %s", ofr_blas_threads (),
             ofr_blas_threads () == 1 ? "" : "s", ofr_blas_core ());
    char err[OFR_ERRLEN];
    rc = ofr_worker_main (&o, err, sizeof err) == 0 ? 0 : 1;
    if (rc)
        fprintf (stderr, "offramp worker: %s\n", err);
out:
    free (plugins);
    free (models);
    free (data);
    return rc;
}
