/*  panel_hist.c -- the exit histogram of the selected cell: one bar per
    layer with count and share (`h`: the metric of the rows that exited
    there instead); with Enter (zoom) also the cell's details. */
#include "panel.h"

#include <math.h>
#include <stdio.h>

static void
details (WINDOW *w, int *y, const ofr_tui_cell *c, int width)
{
    char a[24], b[24], d[24], e[24];
    ofr_panel_printf (w, (*y)++, 1, width - 1, "model %s  suite %s  status %s  n %d/%d",
                      c->model ? c->model : "?", c->suite ? c->suite : "?",
                      c->status ? c->status : "?", c->n, c->total);
    ofr_panel_printf (w, (*y)++, 1, width - 1, "%s %s ±%s  rel FLOPs %s  speed-up %s "
                      "expected, %s measured%s", c->metric ? c->metric : "metric",
                      ofr_panel_num (a, sizeof a, "%.4f", c->value),
                      ofr_panel_num (b, sizeof b, "%.4f", c->ci),
                      ofr_panel_num (d, sizeof d, "%.4f", c->rel_flops),
                      ofr_panel_num (e, sizeof e, "%.3fx", c->exp_speedup),
                      ofr_panel_num (a, sizeof a, "%.3fx", c->speedup),
                      c->pareto ? "  (Pareto front)" : "");
}

/*  `h`: the primary metric of the rows that exited at each layer, as a bar
    on a 0..100 scale -- where the early exits are right and where wrong. */
static void
per_layer_metric (WINDOW *w, const ofr_tui_view *v, int y, const ofr_tui_cell *c,
                  int width, int height)
{
    if (!c->exit_metric) {
        ofr_panel_put (w, y, 1, width - 1,
                       "per-layer metric: not in this coordinator's report (h: back)");
        return;
    }
    ofr_panel_printf (w, y++, 1, width - 1, "%s of the rows that exited at each layer (h: back)",
                      c->metric ? c->metric : "metric");
    int barw = width - 22;
    for (int i = 0; i < c->hist_n && y < height; i++, y++) {
        double m = c->exit_metric[i];
        ofr_panel_printf (w, y, 0, width, " L%-2d", i + 1);
        if (!isfinite (m)) {
            ofr_panel_printf (w, y, 5 + (barw > 0 ? barw : 0), 17, "       -  n=%lld",
                              (long long) c->hist[i]);
            continue;
        }
        int len = barw > 0 ? (int) (fmax (0.0, fmin (m, 100.0)) * barw / 100.0 + 0.5) : 0;
        wmove (w, y, 5);
        ofr_panel_attr (w, v, OFR_C_GOOD, true);
        for (int k = 0; k < len && k < barw; k++)
            if (v->utf8)
                waddstr (w, "\u2588");
            else
                waddch (w, '#');
        ofr_panel_attr (w, v, OFR_C_GOOD, false);
        ofr_panel_printf (w, y, 5 + (barw > 0 ? barw : 0), 17, " %7.2f n=%lld", m,
                          (long long) c->hist[i]);
    }
}

void
ofr_panel_hist (WINDOW *w, const ofr_tui_model *m, const ofr_tui_view *v)
{
    werase (w);
    int width = getmaxx (w), height = getmaxy (w);
    const ofr_tui_cell *c = ofr_tui_model_row (m, v->selected);
    ofr_panel_attr (w, v, OFR_C_TITLE, true);
    if (c)
        ofr_panel_printf (w, 0, 0, width, " exits: cell %d %s (n=%lld)%*s", c->index,
                          c->label ? c->label : "", (long long) c->hist_sum, width, "");
    else
        ofr_panel_printf (w, 0, 0, width, " exits%*s", width, "");
    ofr_panel_attr (w, v, OFR_C_TITLE, false);
    if (!c)
        return;
    int y = 1;
    if (v->zoom)
        details (w, &y, c, width);
    if (v->accuracy) {
        per_layer_metric (w, v, y, c, width, height);
        return;
    }
    int64_t max = 0;
    for (int i = 0; i < c->hist_n; i++)
        max = c->hist[i] > max ? c->hist[i] : max;
    int barw = width - 20;
    int i = 0;
    for (; i < c->hist_n && y < height; i++, y++) {
        int len = max > 0 && barw > 0 ? (int) ((double) c->hist[i] * barw / (double) max + 0.5) : 0;
        if (len == 0 && c->hist[i] > 0)
            len = 1;
        ofr_panel_printf (w, y, 0, width, " L%-2d", i + 1);
        wmove (w, y, 5);
        ofr_panel_attr (w, v, OFR_C_GOOD, true);
        for (int k = 0; k < len && k < barw; k++)
            if (v->utf8)
                waddstr (w, "\u2588");
            else
                waddch (w, '#');
        ofr_panel_attr (w, v, OFR_C_GOOD, false);
        double pct = c->hist_sum > 0 ? 100.0 * (double) c->hist[i] / (double) c->hist_sum : 0;
        ofr_panel_printf (w, y, 5 + (barw > 0 ? barw : 0), 15, " %7lld %5.1f%%",
                          (long long) c->hist[i], pct);
    }
    if (i < c->hist_n)   /* cut by a small terminal: say so */
        ofr_panel_printf (w, height - 1, width - 12, 12, " +%d layers", c->hist_n - i);
}
