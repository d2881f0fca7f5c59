/*  cmd_report.c -- `offramp report`: print the summary of a run stored in a
    results file, as a table, CSV or JSON. */
#include "../harness/commands.h"
#include "store.h"
#include "../common/ofr_common.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: offramp report [--db FILE] [--run ID] [--format table|csv|json] [--comparable]\n\n"
        "Prints one line per cell of a run: metrics (from the pooled per-example\n"
        "statistics), relative FLOPs, speed-up over the `full` cell, mean exit layer\n"
        "and the exit histogram.\n\n"
        "options:\n"
        "  --db FILE       results file (default: offramp.sqlite)\n"
        "  --run ID        run to report (default: the latest run in the file)\n"
        "  --format F      table (default), csv or json\n"
        "  --comparable    leave out the run id and wall-clock fields (wall_ms_mean,\n"
        "                  speedup), so that reports of two runs of the same plan can\n"
        "                  be compared byte for byte\n"
        "  -h, --help      this text\n");
}

enum { O_DB = 256, O_RUN, O_FORMAT, O_COMPARABLE };

static const struct option s_opts[] = {
    { "db", required_argument, 0, O_DB },
    { "run", required_argument, 0, O_RUN },
    { "format", required_argument, 0, O_FORMAT },
    { "comparable", no_argument, 0, O_COMPARABLE },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 }
};

typedef struct {
    const char       *db;
    long long         run;          /* -1 = latest */
    ofr_report_format fmt;
    unsigned          flags;
} report_opts;

static int
parse_format (const char *s, ofr_report_format *fmt)
{
    if (strcmp (s, "table") == 0)     *fmt = OFR_REPORT_TABLE;
    else if (strcmp (s, "csv") == 0)  *fmt = OFR_REPORT_CSV;
    else if (strcmp (s, "json") == 0) *fmt = OFR_REPORT_JSON;
    else return -1;
    return 0;
}

/*  Returns -1 to go on, else the exit status. */
static int
parse_args (int argc, char **argv, report_opts *o)
{
    *o = (report_opts) { .db = "offramp.sqlite", .run = -1, .fmt = OFR_REPORT_TABLE };
    optind = 1;
    int c;
    while ((c = getopt_long (argc, argv, "h", s_opts, NULL)) != -1) {
        switch (c) {
        case O_DB:  o->db = optarg; break;
        case O_RUN:
            if (ofr_parse_int (optarg, &o->run) != 0 || o->run < 1) {
                fprintf (stderr, "offramp report: --run %s: expected a run id (1, 2, ...)\n", optarg);
                return 2;
            }
            break;
        case O_FORMAT:
            if (parse_format (optarg, &o->fmt) != 0) {
                fprintf (stderr, "offramp report: --format %s: expected table, csv or json\n", optarg);
                return 2;
            }
            break;
        case O_COMPARABLE: o->flags = OFR_REPORT_NO_TIMING | OFR_REPORT_NO_RUN_ID; break;
        case 'h':   usage (stdout); return 0;
        default:    usage (stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "offramp report: unexpected argument '%s'\n", argv[optind]);
        usage (stderr);
        return 2;
    }
    return -1;
}

int
ofr_cmd_report (int argc, char **argv)
{
    report_opts o;
    int rc = parse_args (argc, argv, &o);
    if (rc >= 0)
        return rc;
    char err[OFR_ERRLEN] = "";
    ofr_store *store = NULL;
    if (ofr_store_open_existing (o.db, &store, err, sizeof err) != 0) {
        fprintf (stderr, "offramp report: %s\n", err);
        if (strcmp (o.db, "offramp.sqlite") == 0)
            fprintf (stderr, "offramp report: (give the results file of `offramp run --db FILE` "
                     "with --db FILE)\n");
        return 1;
    }
    int64_t run = o.run;
    rc = 0;
    if ((run < 0 && ofr_store_latest_run (store, &run, err, sizeof err) != 0)
        || ofr_store_report_flags (store, run, o.fmt, o.flags, stdout, err, sizeof err) != 0) {
        fprintf (stderr, "offramp report: %s\n", err);
        rc = 1;
    }
    ofr_store_destroy (&store);
    return rc;
}
