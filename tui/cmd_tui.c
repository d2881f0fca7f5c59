/*  cmd_tui.c -- `offramp tui`: attach a live dashboard to a running
    coordinator (any number may attach; quitting one leaves the run going). */
#include "tui.h"
#include "../common/ofr_common.h"
#include "../harness/commands.h"
#include "../harness/protocol.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: offramp tui --connect ADDR\n"
        "       offramp tui --pub ADDR --ctl ADDR\n\n"
        "Live dashboard of a running `offramp run`: progress, per-cell metrics, exit\n"
        "histograms, workers. ADDR is where its workers connect (e.g.\n"
        "tcp://host:5555, or the ipc:// address the coordinator logs); the events\n"
        "and control sockets are derived from it (tcp: the next two ports) unless\n"
        "given. Keys: ? in the dashboard.\n\n"
        "options:\n"
        "  --connect ADDR   the coordinator's worker address\n"
        "  --pub ADDR       its events socket (default: derived)\n"
        "  --ctl ADDR       its snapshot/control socket (default: derived)\n"
        "  --key FILE       CURVE: this dashboard's key pair (offramp keygen), allowed\n"
        "                   by the coordinator\n"
        "  --server-key K   CURVE: the coordinator's public key (Z85, or its .pub file)\n"
        "  --insecure       plaintext to a non-loopback address\n");
}

int
ofr_cmd_tui (int argc, char **argv)
{
    static const struct option opts[] = {
        { "connect", required_argument, 0, 'c' },
        { "pub", required_argument, 0, 'p' },
        { "ctl", required_argument, 0, 'k' },
        { "key", required_argument, 0, 'K' },
        { "server-key", required_argument, 0, 'S' },
        { "insecure", no_argument, 0, 'I' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *connect = NULL, *pub = NULL, *ctl = NULL, *key = NULL, *server_key = NULL;
    bool insecure = false;
    optind = 1;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': connect = optarg; break;
        case 'p': pub = optarg; break;
        case 'k': ctl = optarg; break;
        case 'K': key = optarg; break;
        case 'S': server_key = optarg; break;
        case 'I': insecure = true; break;
        case 'h': usage (stdout); return 0;
        default:  usage (stderr); return 2;
        }
    }
    if (optind < argc || (!connect && (!pub || !ctl))) {
        usage (stderr);
        return 2;
    }
    char pub_buf[1024], ctl_buf[1024];
    if (!pub || !ctl) {
        if (ofr_endpoint_derive (connect, "events", pub_buf, sizeof pub_buf) != 0
            || ofr_endpoint_derive (connect, "ctl", ctl_buf, sizeof ctl_buf) != 0
            || strstr (pub_buf, ":*")) {
            fprintf (stderr, "offramp tui: --connect %s: expected tcp://HOST:PORT or "
                     "ipc://PATH\n", connect);
            return 2;
        }
        pub = pub ? pub : pub_buf;
        ctl = ctl ? ctl : ctl_buf;
    }
    char err[OFR_ERRLEN];
    ofr_curve_client cc;
    if (ofr_curve_client_init (&cc, pub, key, server_key, insecure, err, sizeof err) != 0
        || (!cc.curve && ofr_curve_client_init (&cc, ctl, key, server_key, insecure,
                                                err, sizeof err) != 0)) {
        fprintf (stderr, "offramp tui: %s\n", err);
        return 2;
    }
    ofr_tui_opts o = { .pub = pub, .ctl = ctl, .curve = &cc };
    if (ofr_tui_run (&o, err, sizeof err) != 0) {
        fprintf (stderr, "offramp tui: %s\n", err);
        return 1;
    }
    return 0;
}
