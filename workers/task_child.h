/*  task_child.h -- what runs inside the forked child of a worker: open the
    model and the suite, instantiate the method plugin with the cell's
    parameters, run the examples through the runner and stream records,
    then `done` or `fail`, as length-prefixed protocol frames on a pipe. */
#ifndef OFR_TASK_CHILD_H
#define OFR_TASK_CHILD_H

#include "../harness/protocol.h"
#include "plugin_host.h"

typedef struct {
    ofr_plugin **plugins;         /* loaded in the parent, inherited by fork */
    int          n_plugins;
    const char  *models_path;
    const char  *data_path;
    const char  *artifacts_path;  /* fitted artifacts; NULL = $OFFRAMP_ARTIFACTS
                                     or ./artifacts                            */
    int          records_per_msg;
} ofr_task_env;

/* Run `task` and write frames to fd. Returns the child's exit status. */
int ofr_task_child_run (const ofr_task_env *env, const ofr_msg *task, int fd);

/* Write one framed message (uint32 little-endian length + msgpack). */
int ofr_frame_write (int fd, const ofr_msg *msg, char *err, size_t errlen);

#endif
