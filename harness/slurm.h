/*  slurm.h -- `offramp run --slurm`: a run as a Slurm batch job.

    ofr_slurm_render writes a self-contained sbatch script: #SBATCH lines
    (job name from the plan, nodes, one task per node, time, partition,
    output file, the user's extra lines verbatim), the plan embedded in a
    quoted heredoc (or `--resume RUN`), absolute paths for the offramp
    binary and the results file, the coordinator on the batch node and
    `srun offramp worker` on every node of the allocation. The script waits
    for the coordinator, then stops the workers. Every path and argument in
    the shell part is single-quoted, so spaces and quotes are safe.

    ofr_slurm_run renders, then prints the script (dry run) or submits it
    with `sbatch --parsable` ($OFFRAMP_SBATCH names another command) and
    prints the job id and how to attach a dashboard and read the report.
    docs/SLURM.md has an example. */
#ifndef OFR_SLURM_H
#define OFR_SLURM_H

#include "../common/ofr_common.h"

#include <stdbool.h>
#include <stdio.h>

/* Default port of a job: 3 consecutive ports (workers, events, ctl) from
   20000 up, distinct for 13000 consecutive job ids. The script computes
   the same from $SLURM_JOB_ID. */
#define OFR_SLURM_PORT_BASE 20000
#define OFR_SLURM_PORT_JOBS 13000

typedef struct {
    /* What to run: a plan (its YAML and name) or resume > 0. */
    const char  *plan_name;
    const char  *plan_text;
    long long    resume;
    int          limit;           /* > 0: --limit N                          */
    /* Paths; NULL exe = the running executable, NULL workdir = cwd. The DB
       is made absolute against workdir; its directory must exist. */
    const char  *exe;
    const char  *db;
    const char  *workdir;
    /* Coordinator address: NULL = tcp://$(hostname):PORT (see above). A
       wildcard host (* or 0.0.0.0) binds all interfaces and the workers
       connect to $(hostname). */
    const char  *bind;
    bool         insecure;        /* plaintext on a non-loopback bind        */
    int          heartbeat_ms;    /* 0 = coordinator default                 */
    /* Passed to the coordinator and every worker when set. */
    const char  *plugins, *models, *data, *artifacts;
    /* Allocation. */
    const char  *partition;       /* NULL: the cluster's default             */
    int          nodes;           /* >= 1 (one worker per node)              */
    const char  *time;            /* NULL: the partition's default           */
    int          threads;         /* > 0: --cpus-per-task N; 0: per node     */
    char       **sbatch_args;     /* extra #SBATCH lines, verbatim (owned)   */
    int          n_sbatch_args;
} ofr_slurm_opts;

void ofr_slurm_opts_init (ofr_slurm_opts *o);
/* Append an extra #SBATCH argument (copied). 0 or -1 (out of memory). */
int  ofr_slurm_opts_add_arg (ofr_slurm_opts *o, const char *arg);
/* Free what add_arg copied. */
void ofr_slurm_opts_clear (ofr_slurm_opts *o);

/* Append s to b as one shell word: single-quoted, ' written as '\''. */
void ofr_shell_quote (ofr_buf *b, const char *s);

/* Render the batch script into out (appended). 0, or -1 with a message
   (a bad option: nodes, time, partition, a path sbatch cannot take). */
int  ofr_slurm_render (const ofr_slurm_opts *o, ofr_buf *out, char *err, size_t errlen);

/* Render, then print the script to out (dry_run) or submit it and print
   the job id and the attach/report commands to out. 0 or -1 with a
   message (sbatch missing, or its status and stderr). */
int  ofr_slurm_run (const ofr_slurm_opts *o, bool dry_run, FILE *out,
                    char *err, size_t errlen);

#endif
