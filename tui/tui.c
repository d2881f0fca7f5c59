/*  tui.c -- the dashboard's loop (tui.h), htop-style: the model (model.c)
    knows nothing of curses, the panels (panel_*.c) know nothing of ZeroMQ,
    and this file owns the sockets, the windows and the keys.

    Redraws are driven by events: a message or a key marks the screen
    dirty, and a dirty screen is drawn once the last draw is 100 ms old
    (<= 10 Hz, however fast events come). With nothing happening the loop
    sleeps in zmq_poll until the clock in the header needs a new second.
    SIGWINCH interrupts the poll; curses then returns KEY_RESIZE. */
#include "tui.h"
#include "model.h"
#include "panel.h"
#include "../common/ofr_common.h"
#include "../harness/protocol.h"
#include "../suites/suite.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define FRAME_MS     100    /* at most 10 redraws a second            */
#define SNAPSHOT_MS  3000   /* ask again while nobody answers         */
#define SILENT_MS    3000   /* no progress for this long: "NO SIGNAL" */

enum { P_HEADER, P_TABLE, P_HIST, P_WORKERS, P_LOG, P_HELP, N_PANELS };

typedef struct {
    ofr_tui_model *model;
    ofr_tui_view   view;
    WINDOW        *win[N_PANELS];
    void          *zctx, *sub, *ctl;
    double         last_draw, asked, last_event;
    FILE          *tty;           /* /dev/tty when stdin/stdout are not it */
    SCREEN        *screen;
    int            in_fd;
    bool           dirty, quit;
} tui;

static const char *
suite_primary (const char *suite)
{
    const ofr_suite_class *sc = suite ? ofr_suite_find (suite) : NULL;
    return sc ? sc->primary : NULL;
}

/* ---- layout -------------------------------------------------------------- */

static void
windows_free (tui *t)
{
    for (int i = 0; i < N_PANELS; i++)
        if (t->win[i]) {
            delwin (t->win[i]);
            t->win[i] = NULL;
        }
}

static WINDOW *
box_at (int h, int w, int y, int x)
{
    return h > 0 && w > 0 ? newwin (h, w, y, x) : NULL;
}

/*  Header 2 lines, log 1; the table gets its rows (at most half of the
    body, or all of it when focused); exits and workers share the rest,
    side by side when there are >= 100 columns. */
static void
layout (tui *t)
{
    windows_free (t);
    int H = LINES, W = COLS;
    if (H < 4 || W < 20)
        return;
    int body = H - 3;
    int table_h = t->model->n_rows + 1;
    int cap = t->view.zoom ? 3 : body / 2 > 3 ? body / 2 : 3;
    if (table_h > cap)
        table_h = cap;
    if (table_h < 2)
        table_h = 2;
    int rest = body - table_h;
    t->win[P_HEADER] = box_at (2, W, 0, 0);
    t->win[P_TABLE] = box_at (table_h, W, 2, 0);
    if (t->view.zoom || W < 100) {
        int hist_h = t->view.zoom ? rest : rest - rest / 2;
        t->win[P_HIST] = box_at (hist_h, W, 2 + table_h, 0);
        t->win[P_WORKERS] = box_at (rest - hist_h, W, 2 + table_h + hist_h, 0);
    } else {
        int hw = W / 2;
        t->win[P_HIST] = box_at (rest, hw, 2 + table_h, 0);
        t->win[P_WORKERS] = box_at (rest, W - hw - 1, 2 + table_h, hw + 1);
    }
    t->win[P_LOG] = box_at (1, W, H - 1, 0);
    int hh = 14 < H ? 14 : H, hw = 66 < W ? 66 : W;
    t->win[P_HELP] = box_at (hh, hw, (H - hh) / 2, (W - hw) / 2);
}

static void
draw (tui *t)
{
    ofr_tui_view *v = &t->view;
    v->now = ofr_now_ms ();
    v->connected = t->last_event > 0 && (v->now - t->last_event < SILENT_MS
                                          || t->model->finished);
    int want_table = t->model->n_rows + 1;
    if (t->win[P_TABLE] && getmaxy (t->win[P_TABLE]) != want_table
        && getmaxy (t->win[P_TABLE]) < (LINES - 3) / 2)
        layout (t);             /* rows appeared: give the table room */
    if (!t->win[P_HEADER]) {
        erase ();
        mvaddstr (0, 0, "terminal too small");
        wnoutrefresh (stdscr);
        doupdate ();
        return;
    }
    ofr_panel_header (t->win[P_HEADER], t->model, v);
    ofr_panel_table (t->win[P_TABLE], t->model, v);
    if (t->win[P_HIST])
        ofr_panel_hist (t->win[P_HIST], t->model, v);
    if (t->win[P_WORKERS])
        ofr_panel_workers (t->win[P_WORKERS], t->model, v);
    ofr_panel_log (t->win[P_LOG], t->model, v);
    for (int i = 0; i < P_HELP; i++)
        if (t->win[i])
            wnoutrefresh (t->win[i]);
    if (v->help && t->win[P_HELP]) {
        ofr_panel_help (t->win[P_HELP], v);
        touchwin (t->win[P_HELP]);
        wnoutrefresh (t->win[P_HELP]);
    }
    doupdate ();
    t->last_draw = v->now;
    t->dirty = false;
}

/* ---- network ------------------------------------------------------------- */

static void
send_ctl (tui *t, const ofr_msg *m)
{
    ofr_buf b;
    ofr_buf_init (&b);
    char err[OFR_ERRLEN];
    if (ofr_msg_encode (m, &b, err, sizeof err) == 0 && !b.oom)
        zmq_send (t->ctl, b.data, b.len, ZMQ_DONTWAIT);
    ofr_buf_free (&b);
}

static void
apply (tui *t, const void *data, size_t size)
{
    char err[OFR_ERRLEN];
    if (ofr_tui_model_apply (t->model, data, size, ofr_now_ms (), err, sizeof err) != 0)
        ofr_log (OFR_DEBUG, "dashboard: dropped a document: %s", err);
    t->last_event = ofr_now_ms ();
    t->dirty = true;
}

/*  Events: [topic, document]; anything else is dropped. */
static void
drain_sub (tui *t)
{
    for (int burst = 0; burst < 256; burst++) {
        zmq_msg_t topic, body;
        zmq_msg_init (&topic);
        if (zmq_msg_recv (&topic, t->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&topic);
            return;
        }
        bool more = zmq_msg_more (&topic);
        zmq_msg_init (&body);
        if (more && zmq_msg_recv (&body, t->sub, ZMQ_DONTWAIT) >= 0) {
            if (!zmq_msg_more (&body))
                apply (t, zmq_msg_data (&body), zmq_msg_size (&body));
            while (zmq_msg_more (&body)) {          /* not ours: drain */
                zmq_msg_close (&body);
                zmq_msg_init (&body);
                if (zmq_msg_recv (&body, t->sub, ZMQ_DONTWAIT) < 0)
                    break;
            }
        }
        zmq_msg_close (&body);
        zmq_msg_close (&topic);
    }
}

static void
drain_ctl (tui *t)
{
    for (;;) {
        zmq_msg_t f;
        zmq_msg_init (&f);
        if (zmq_msg_recv (&f, t->ctl, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&f);
            return;
        }
        ofr_msg m;
        char err[OFR_ERRLEN];
        if (!zmq_msg_more (&f)
            && ofr_msg_decode (zmq_msg_data (&f), zmq_msg_size (&f), &m, err, sizeof err) == 0) {
            if (m.type == OFR_MSG_STATE && m.json)
                apply (t, m.json, strlen (m.json));
            ofr_msg_clear (&m);
        }
        zmq_msg_close (&f);
    }
}

static int
open_sockets (tui *t, const ofr_tui_opts *o, char *err, size_t errlen)
{
    t->zctx = zmq_ctx_new ();
    t->sub = t->zctx ? zmq_socket (t->zctx, ZMQ_SUB) : NULL;
    t->ctl = t->zctx ? zmq_socket (t->zctx, ZMQ_DEALER) : NULL;
    if (!t->sub || !t->ctl)
        return ofr_errf (err, errlen, "cannot create ZeroMQ sockets: %s", zmq_strerror (errno));
    int zero = 0, hwm = 1000;
    zmq_setsockopt (t->sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (t->ctl, ZMQ_LINGER, &zero, sizeof zero);
    /* Requests to a coordinator that is not there yet must not pile up. */
    zmq_setsockopt (t->ctl, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (t->sub, ZMQ_SUBSCRIBE, "", 0);
    if (o->curve && o->curve->curve
        && (ofr_curve_client_setup (t->sub, &o->curve->kp, o->curve->server_key, err, errlen) != 0
            || ofr_curve_client_setup (t->ctl, &o->curve->kp, o->curve->server_key,
                                       err, errlen) != 0))
        return -1;
    if (zmq_connect (t->sub, o->pub) != 0)
        return ofr_errf (err, errlen, "cannot connect to %s: %s", o->pub, zmq_strerror (errno));
    if (zmq_connect (t->ctl, o->ctl) != 0)
        return ofr_errf (err, errlen, "cannot connect to %s: %s", o->ctl, zmq_strerror (errno));
    return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static void
move_sel (tui *t, int delta)
{
    ofr_tui_view *v = &t->view;
    int page = t->win[P_TABLE] ? getmaxy (t->win[P_TABLE]) - 1 : 1;
    if (v->focus == OFR_FOCUS_WORKERS) {
        page = t->win[P_WORKERS] ? getmaxy (t->win[P_WORKERS]) - 1 : 1;
        v->wsel += delta == 1000 ? page : delta == -1000 ? -page : delta;
    } else {
        v->selected += delta == 1000 ? page : delta == -1000 ? -page : delta;
    }
}

static void
edit_key (tui *t, int ch)
{
    ofr_tui_view *v = &t->view;
    size_t n = strlen (v->edit);
    if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        v->editing = false;
        ofr_tui_model_set_filter (t->model, v->edit);
    } else if (ch == 27) {
        v->editing = false;
        v->edit[0] = 0;
        ofr_tui_model_set_filter (t->model, NULL);
    } else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n > 0) {
        v->edit[n - 1] = 0;
    } else if (ch >= 0x20 && ch < 0x7f && n + 1 < sizeof v->edit) {
        v->edit[n] = (char) ch;
        v->edit[n + 1] = 0;
    }
    if (v->editing)           /* live: rows follow the typing */
        ofr_tui_model_set_filter (t->model, v->edit);
    v->selected = v->top = 0;
    layout (t);
}

static void
on_key (tui *t, int ch)
{
    ofr_tui_view *v = &t->view;
    t->dirty = true;
    if (ch == KEY_RESIZE) {
        layout (t);
        clearok (curscr, TRUE);
        return;
    }
    if (v->editing) {
        edit_key (t, ch);
        return;
    }
    if (v->help) {            /* any key closes the help */
        v->help = false;
        return;
    }
    switch (ch) {
    case 'q': case 'Q': t->quit = true; break;
    case '?': v->help = true; break;
    case KEY_UP:    move_sel (t, -1); break;
    case KEY_DOWN:  move_sel (t, 1); break;
    case KEY_PPAGE: move_sel (t, -1000); break;
    case KEY_NPAGE: move_sel (t, 1000); break;
    case KEY_HOME:  v->selected = 0; break;
    case KEY_END:   v->selected = t->model->n_rows - 1; break;
    case '\t':
        v->focus = v->focus == OFR_FOCUS_TABLE ? OFR_FOCUS_WORKERS : OFR_FOCUS_TABLE;
        break;
    case '\n': case '\r': case KEY_ENTER:
        v->zoom = !v->zoom;
        layout (t);
        break;
    case 's': ofr_tui_model_sort_next (t->model); break;
    case 'h': v->accuracy = !v->accuracy; break;
    case '/':
        v->editing = true;
        snprintf (v->edit, sizeof v->edit, "%s", t->model->filter ? t->model->filter : "");
        break;
    case 'p': {
        ofr_msg m = { .type = OFR_MSG_CONTROL, .paused = !t->model->paused };
        send_ctl (t, &m);
        break;
    }
    }
}

/* ---- loop ---------------------------------------------------------------- */

/*  The terminal: stdin/stdout, or /dev/tty when they are redirected (so
    `offramp run --tui > report.json` works). */
static int
screen_init (tui *t, char *err, size_t errlen)
{
    setlocale (LC_ALL, "");
    t->view.utf8 = strcmp (nl_langinfo (CODESET), "UTF-8") == 0;
    if (isatty (0) && isatty (1)) {
        t->screen = newterm (NULL, stdout, stdin);
    } else {
        t->tty = fopen ("/dev/tty", "r+e");
        if (!t->tty)
            return ofr_errf (err, errlen, "no terminal: /dev/tty: %s", strerror (errno));
        t->screen = newterm (NULL, t->tty, t->tty);
        t->in_fd = fileno (t->tty);
    }
    if (!t->screen)
        return ofr_errf (err, errlen, "cannot initialise the terminal (TERM=%s)",
                         getenv ("TERM") ? getenv ("TERM") : "");
    set_term (t->screen);
    cbreak ();
    noecho ();
    nonl ();
    keypad (stdscr, TRUE);
    nodelay (stdscr, TRUE);
    set_escdelay (25);
    curs_set (0);
    if (has_colors () && start_color () == OK) {
        use_default_colors ();
        init_pair (OFR_C_BAD, COLOR_RED, -1);
        init_pair (OFR_C_GOOD, COLOR_GREEN, -1);
        init_pair (OFR_C_WARN, COLOR_YELLOW, -1);
        init_pair (OFR_C_TITLE, COLOR_BLACK, COLOR_CYAN);
        init_pair (OFR_C_BAR, COLOR_BLACK, COLOR_WHITE);
        t->view.colors = true;
    }
    layout (t);
    return 0;
}

static int
next_timeout (const tui *t, double now)
{
    if (t->dirty)
        return (int) fmax (0, t->last_draw + FRAME_MS - now);
    /* The clock: redraw on the next whole second of elapsed time. */
    return 1000 - (int) fmod (now, 1000.0);
}

static int
loop (tui *t)
{
    ofr_msg snap = { .type = OFR_MSG_SNAPSHOT };
    while (!t->quit) {
        double now = ofr_now_ms ();
        if (!t->model->have_snapshot && now - t->asked >= SNAPSHOT_MS) {
            send_ctl (t, &snap);
            t->asked = now;
        }
        if (t->dirty && now - t->last_draw >= FRAME_MS)
            draw (t);
        zmq_pollitem_t items[3] = { { .socket = t->sub, .events = ZMQ_POLLIN },
                                    { .socket = t->ctl, .events = ZMQ_POLLIN },
                                    { .fd = t->in_fd, .events = ZMQ_POLLIN } };
        int rc = zmq_poll (items, 3, next_timeout (t, ofr_now_ms ()));
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc == 0 && !t->dirty)
            t->dirty = true;     /* the clock ticked */
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            drain_sub (t);
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
            drain_ctl (t);
        int ch;
        while ((ch = getch ()) != ERR)   /* also picks up KEY_RESIZE after EINTR */
            on_key (t, ch);
    }
    return 0;
}

int
ofr_tui_run (const ofr_tui_opts *o, char *err, size_t errlen)
{
    tui t;
    memset (&t, 0, sizeof t);
    t.model = ofr_tui_model_new ();
    if (!t.model)
        return ofr_errf (err, errlen, "out of memory");
    t.model->primary = suite_primary;
    int rc = open_sockets (&t, o, err, errlen);
    if (rc == 0 && (rc = screen_init (&t, err, errlen)) == 0) {
        t.dirty = true;
        rc = loop (&t);
        windows_free (&t);
        endwin ();
        if (rc != 0)
            ofr_errf (err, errlen, "zmq_poll: %s", zmq_strerror (errno));
    }
    if (t.screen)
        delscreen (t.screen);
    if (t.tty)
        fclose (t.tty);
    if (t.sub)
        zmq_close (t.sub);
    if (t.ctl)
        zmq_close (t.ctl);
    if (t.zctx)
        zmq_ctx_term (t.zctx);
    ofr_tui_model_destroy (&t.model);
    return rc;
}
