/*  panel_log.c -- the bottom line (filter being typed, latest warning or
    the key hints) and the `?` help overlay. */
#include "panel.h"
#include "../common/ofr_common.h"

void
ofr_panel_log (WINDOW *w, const ofr_tui_model *m, const ofr_tui_view *v)
{
    werase (w);
    int width = getmaxx (w);
    if (v->editing) {
        ofr_panel_printf (w, 0, 0, width, "filter: %s_   (Enter: apply, Esc: clear)", v->edit);
        return;
    }
    if (m->n_logs > 0) {
        int level = m->log_levels[m->n_logs - 1];
        int pair = level >= OFR_ERROR ? OFR_C_BAD : level >= OFR_WARN ? OFR_C_WARN : OFR_C_NONE;
        const char *tag = level >= OFR_ERROR ? "error" : level >= OFR_WARN ? "warn" : "info";
        ofr_panel_attr (w, v, pair, true);
        ofr_panel_printf (w, 0, 0, width, "[%s] %s", tag, m->logs[m->n_logs - 1]);
        ofr_panel_attr (w, v, pair, false);
        return;
    }
    ofr_panel_put (w, 0, 0, width, m->finished
                   ? "run finished: q quits   ? help"
                   : "? help  q quit (run goes on)  p pause  s sort  / filter  Tab  Enter");
}

void
ofr_panel_help (WINDOW *w, const ofr_tui_view *v)
{
    static const char *const lines[] = {
        "arrows, PgUp/PgDn   move in the table (or workers, after Tab)",
        "Tab                 switch between table and workers",
        "Enter               focus the selected cell (details + exits)",
        "s                   sort by the next column",
        "/                   filter cells by text (Esc clears)",
        "h                   per-layer accuracy instead of exits",
        "p                   pause / resume dispatching tasks",
        "?                   this help (any key closes it)",
        "q                   quit the dashboard; the run goes on",
        "",
        "'*' marks the metric-vs-FLOPs Pareto front of a suite;",
        "exp = 1 / rel FLOPs, wall = measured vs the full model.",
    };
    werase (w);
    box (w, 0, 0);
    ofr_panel_attr (w, v, OFR_C_TITLE, true);
    ofr_panel_put (w, 0, 2, getmaxx (w) - 4, " keys ");
    ofr_panel_attr (w, v, OFR_C_TITLE, false);
    for (int i = 0; i < (int) (sizeof lines / sizeof lines[0]); i++)
        ofr_panel_put (w, 1 + i, 2, getmaxx (w) - 4, lines[i]);
}
