/*  panel_table.c -- one row per cell: metric ± 95%, rel FLOPs, expected
    (1 / rel FLOPs) and measured speed-up, mean exit layer, done/total.
    '*' marks the Pareto front of the cell's suite. The numbers use the
    precision of `offramp report`'s table (metric %.2f, rel FLOPs %.3f). */
#include "panel.h"

#include <stdio.h>
#include <string.h>

/*  Fixed columns right of the label; the label takes what is left, and the
    suite column is dropped below 100 columns. */
#define W_TAIL 64

static void
row_text (char *out, size_t len, const ofr_tui_cell *c, int label_w, bool suite, bool utf8)
{
    char val[24], ci[24], metric[64], rel[24], exp[24], wall[24], ex[24], done[32];
    ofr_panel_num (val, sizeof val, "%.2f", c->value);
    ofr_panel_num (ci, sizeof ci, "%.2f", c->ci);
    if (ci[0] == '-')
        snprintf (metric, sizeof metric, "%s", val);
    else
        snprintf (metric, sizeof metric, "%s %s%s", val, utf8 ? "±" : "+-", ci);
    ofr_panel_num (rel, sizeof rel, "%.3f", c->rel_flops);
    ofr_panel_num (exp, sizeof exp, "%.2fx", c->exp_speedup);
    ofr_panel_num (wall, sizeof wall, "%.2fx", c->speedup);
    ofr_panel_num (ex, sizeof ex, "%.2f", c->mean_exit);
    snprintf (done, sizeof done, "%d/%d", c->done, c->total);
    /* ± is two bytes in UTF-8 but one column: pad by columns, not bytes. */
    int pad = 15 + (int) (strchr (metric, '\xc2') != NULL);
    snprintf (out, len, "%c%3d %-*.*s %-*.*s%*s %8s %7s %7s %5s %11s",
              c->pareto ? '*' : ' ', c->index, label_w, label_w, c->label ? c->label : "",
              suite ? 10 : 0, suite ? 10 : 0, c->suite ? c->suite : "", pad, metric,
              rel, exp, wall, ex, done);
}

void
ofr_panel_table (WINDOW *w, const ofr_tui_model *m, ofr_tui_view *v)
{
    werase (w);
    int width = getmaxx (w), height = getmaxy (w);
    bool suite = width >= 100;
    int label_w = width - W_TAIL - (suite ? 10 : 0);
    if (label_w < 8)
        label_w = 8;
    const char *mname = "metric";
    for (int i = 0; i < m->n_rows; i++)
        if (ofr_tui_model_row (m, i)->metric) {
            mname = ofr_tui_model_row (m, i)->metric;
            break;
        }
    char head[64];
    snprintf (head, sizeof head, "%.10s %s95%%", mname, v->utf8 ? "±" : "+-");
    ofr_panel_attr (w, v, OFR_C_TITLE, true);
    ofr_panel_printf (w, 0, 0, width, "%4s %-*s %-*s%*s %8s %7s %7s %5s %11s%*s", "#",
                      label_w, "cell", suite ? 10 : 0, suite ? "suite" : "",
                      15 + (int) v->utf8, head,
                      "relFLOPs", "exp", "wall", "exit", "done/total", width, "");
    ofr_panel_attr (w, v, OFR_C_TITLE, false);
    int rows = height - 1;
    if (v->selected >= m->n_rows)
        v->selected = m->n_rows - 1;
    if (v->selected < 0)
        v->selected = 0;
    if (v->selected < v->top)
        v->top = v->selected;
    if (rows > 0 && v->selected >= v->top + rows)
        v->top = v->selected - rows + 1;
    if (v->top < 0)
        v->top = 0;
    for (int r = 0; r < rows && v->top + r < m->n_rows; r++) {
        const ofr_tui_cell *c = ofr_tui_model_row (m, v->top + r);
        char text[1024];
        row_text (text, sizeof text, c, label_w, suite, v->utf8);
        bool sel = v->top + r == v->selected;
        int pair = c->failed ? OFR_C_BAD : c->pareto ? OFR_C_GOOD : OFR_C_NONE;
        if (sel)
            wattron (w, v->focus == OFR_FOCUS_TABLE ? A_REVERSE : A_UNDERLINE);
        ofr_panel_attr (w, v, pair, true);
        ofr_panel_put (w, 1 + r, 0, width, text);
        ofr_panel_attr (w, v, pair, false);
        if (sel)
            wattroff (w, A_REVERSE | A_UNDERLINE);
    }
    if (m->n_rows == 0)
        ofr_panel_put (w, 1, 1, width - 1, m->filter ? "(no cell matches the filter)"
                                                     : "(waiting for the coordinator)");
}
