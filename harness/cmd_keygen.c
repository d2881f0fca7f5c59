/*  cmd_keygen.c -- `offramp keygen`: CURVE key pairs for the coordinator,
    workers and dashboards (security.h describes the files). */
#include "commands.h"
#include "security.h"
#include "../common/ofr_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: offramp keygen [--dir DIR] [--force] NAME...\n\n"
        "Writes a CURVE key pair DIR/NAME.key (0600, secret) and its public key\n"
        "DIR/NAME.pub for each NAME. The coordinator's pair is `coordinator`\n"
        "(offramp run --keys DIR); a .pub file is one allowlist line, so\n"
        "  cat DIR/worker1.pub >> DIR/allowlist\n"
        "admits that worker. Workers and dashboards take --key DIR/NAME.key and\n"
        "--server-key DIR/coordinator.pub.\n\n"
        "options:\n"
        "  --dir DIR   where to write (default: $OFFRAMP_KEYS, else ./keys; created 0700)\n"
        "  --force     replace existing files\n");
}

int
ofr_cmd_keygen (int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, 0, 'd' }, { "force", no_argument, 0, 'f' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *dir = getenv ("OFFRAMP_KEYS");
    if (!dir || !*dir)
        dir = "keys";
    bool force = false;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'f': force = true; break;
        case 'h': usage (stdout); return 0;
        default:  usage (stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage (stderr);
        return 2;
    }
    for (int i = optind; i < argc; i++) {
        const char *name = argv[i];
        if (!*name || strlen (name) > 64 || strspn (name, "abcdefghijklmnopqrstuvwxyz"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen (name) || name[0] == '.') {
            fprintf (stderr, "offramp keygen: '%s': a name is 1-64 of [A-Za-z0-9._-], "
                     "not starting with '.'\n", name);
            return 2;
        }
    }
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        fprintf (stderr, "offramp keygen: %s: %s\n", dir, strerror (errno));
        return 1;
    }
    for (int i = optind; i < argc; i++) {
        char key[4096], pub[4096], err[OFR_ERRLEN];
        snprintf (key, sizeof key, "%.3000s/%s.key", dir, argv[i]);
        snprintf (pub, sizeof pub, "%.3000s/%s.pub", dir, argv[i]);
        ofr_keypair kp;
        if (ofr_keypair_generate (&kp, err, sizeof err) != 0
            || ofr_keypair_write (&kp, key, argv[i], force, err, sizeof err) != 0
            || ofr_pubkey_write (kp.public_key, pub, argv[i], force, err, sizeof err) != 0) {
            fprintf (stderr, "offramp keygen: %s\n", err);
            return 1;
        }
        printf ("%s %s\n", kp.public_key, argv[i]);
        fprintf (stderr, "offramp keygen: wrote %s (secret) and %s\n", key, pub);
    }
    return 0;
}
