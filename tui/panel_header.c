/*  panel_header.c -- two lines: run, clock, rate, workers; progress bar. */
#include "panel.h"

#include <string.h>

void
ofr_panel_header (WINDOW *w, const ofr_tui_model *m, const ofr_tui_view *v)
{
    werase (w);
    int width = getmaxx (w);
    char el[32], eta[32];
    ofr_panel_hms (el, sizeof el, ofr_tui_model_elapsed (m, v->now));
    ofr_panel_hms (eta, sizeof eta, ofr_tui_model_eta (m));
    int total_w = 0;
    for (int i = 0; i < m->n_workers; i++)
        total_w++;
    const char *state = m->finished ? "FINISHED" : m->paused ? "PAUSED"
                      : !v->connected ? "NO SIGNAL" : "running";
    ofr_panel_attr (w, v, OFR_C_TITLE, true);
    ofr_panel_printf (w, 0, 0, width, " offramp  run %lld %s%*s", (long long) m->run,
                      m->name ? m->name : "(connecting)", width, "");
    ofr_panel_attr (w, v, OFR_C_TITLE, false);
    /* The right part is what changes; it wins over a long plan name. */
    char right[160];
    /* Narrow terminals get the short form, so the run's name stays visible. */
    snprintf (right, sizeof right, width < 100 ? " %s ETA %s %.1f/s w %d/%d %s "
                                               : " elapsed %s  ETA %s  %.1f ex/s  workers %d/%d  %s ",
              el, eta, m->rate, m->alive, total_w, state);
    int rx = width - (int) strlen (right);
    if (rx < 0)
        rx = 0;
    ofr_panel_attr (w, v, OFR_C_TITLE, true);
    ofr_panel_put (w, 0, rx, width - rx, right);
    ofr_panel_attr (w, v, OFR_C_TITLE, false);
    if (m->paused || m->finished || !v->connected) {
        int sx = width - (int) strlen (state) - 1;
        ofr_panel_attr (w, v, m->finished ? OFR_C_GOOD : OFR_C_WARN, true);
        wattron (w, A_BOLD);
        ofr_panel_put (w, 0, sx > 0 ? sx : 0, -1, state);
        wattroff (w, A_BOLD);
        ofr_panel_attr (w, v, m->finished ? OFR_C_GOOD : OFR_C_WARN, false);
    }
    /* Line 2: done/total [bar] percent, then the view's settings. */
    char left[64], tail[200];
    snprintf (left, sizeof left, " done %lld/%lld ", (long long) m->done,
              (long long) m->total);
    double frac = m->total > 0 ? (double) m->done / (double) m->total : 0;
    frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
    snprintf (tail, sizeof tail, " %5.1f%%  sort: %s%s%s", 100 * frac,
              ofr_tui_sort_name (m->sort), m->filter ? "  filter: " : "",
              m->filter ? m->filter : "");
    int barw = width - (int) strlen (left) - (int) strlen (tail) - 2;
    if (barw > 40)
        barw = 40;
    ofr_panel_put (w, 1, 0, -1, left);
    int x = (int) strlen (left);
    if (barw >= 5) {
        int fill = (int) (frac * barw + 0.5);
        waddch (w, '[');
        ofr_panel_attr (w, v, OFR_C_GOOD, true);
        for (int i = 0; i < fill; i++)
            waddch (w, '#');
        ofr_panel_attr (w, v, OFR_C_GOOD, false);
        for (int i = fill; i < barw; i++)
            waddch (w, '.');
        waddch (w, ']');
        x += barw + 2;
    }
    ofr_panel_put (w, 1, x, -1, tail);
}
