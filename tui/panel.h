/*  panel.h -- the dashboard's panels (tui/panel_*.c): each draws one part
    of the screen into its own curses window from the data model and the
    view state; none keeps state of its own, so a resize just re-lays out
    the windows and draws again. The loop (tui.c) owns the windows. */
#ifndef OFR_TUI_PANEL_H
#define OFR_TUI_PANEL_H

#include "model.h"

#include <curses.h>
#include <stdbool.h>

/* Colour pairs (used only when the terminal has colours). */
enum { OFR_C_NONE, OFR_C_BAD, OFR_C_GOOD, OFR_C_WARN, OFR_C_TITLE, OFR_C_BAR };

enum { OFR_FOCUS_TABLE, OFR_FOCUS_WORKERS };

/* What the user is looking at: selection, scrolling, modes. */
typedef struct {
    int     selected;        /* row of the table (index into model rows)      */
    int     top;             /* first table row shown                          */
    int     wsel, wtop;      /* workers panel selection / scroll              */
    int     focus;           /* OFR_FOCUS_*: which panel the arrows move      */
    bool    zoom;            /* Enter: the selected cell fills the body       */
    bool    help;
    bool    accuracy;        /* `h`: per-layer accuracy instead of exits      */
    bool    editing;         /* `/` typed, filter being edited                */
    char    edit[128];       /* the filter being typed (bounded by the key loop) */
    bool    colors, utf8;
    double  now;             /* ms, for ages and the clock                     */
    bool    connected;       /* events seen in the last few seconds           */
} ofr_tui_view;

void ofr_panel_header (WINDOW *w, const ofr_tui_model *m, const ofr_tui_view *v);
void ofr_panel_table (WINDOW *w, const ofr_tui_model *m, ofr_tui_view *v);
void ofr_panel_hist (WINDOW *w, const ofr_tui_model *m, const ofr_tui_view *v);
void ofr_panel_workers (WINDOW *w, const ofr_tui_model *m, ofr_tui_view *v);
void ofr_panel_log (WINDOW *w, const ofr_tui_model *m, const ofr_tui_view *v);
void ofr_panel_help (WINDOW *w, const ofr_tui_view *v);

/* Helpers (panel_util.c). Text from the network is printed with control
   characters replaced and cut at the window's edge. */
void ofr_panel_put (WINDOW *w, int y, int x, int width, const char *s);
void ofr_panel_printf (WINDOW *w, int y, int x, int width, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
void ofr_panel_attr (WINDOW *w, const ofr_tui_view *v, int pair, bool on);
/* "12.3" or "-" for NAN, into buf. */
const char *ofr_panel_num (char *buf, size_t len, const char *fmt, double x);
/* h:mm:ss of seconds (or "?" if negative). */
const char *ofr_panel_hms (char *buf, size_t len, double s);

#endif
