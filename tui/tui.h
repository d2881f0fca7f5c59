/*  tui.h -- the live dashboard's loop (tui.c): one zmq_poll over the
    coordinator's events (SUB), its control socket (DEALER) and the
    terminal; the model is updated per message, the screen redrawn at most
    10 times a second and only when something changed. */
#ifndef OFR_TUI_H
#define OFR_TUI_H

#include "../harness/security.h"
#include <stddef.h>

typedef struct {
    const char *pub;          /* the coordinator's events socket   */
    const char *ctl;          /* its snapshot/control socket       */
    const ofr_curve_client *curve;  /* CURVE keys, or NULL/plaintext */
} ofr_tui_opts;

/* Run until the user quits. Returns 0, or -1 with a message. */
int ofr_tui_run (const ofr_tui_opts *opts, char *err, size_t errlen);

#endif
