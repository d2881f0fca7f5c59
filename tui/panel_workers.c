/*  panel_workers.c -- one line per worker: name, host, pid, state, task,
    examples/s, age of its last message; dead workers in red. */
#include "panel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void
ofr_panel_workers (WINDOW *w, const ofr_tui_model *m, ofr_tui_view *v)
{
    werase (w);
    int width = getmaxx (w), height = getmaxy (w);
    ofr_panel_attr (w, v, OFR_C_TITLE, true);
    ofr_panel_printf (w, 0, 0, width, " %-10s %-10s %7s %-5s %6s %7s %6s%*s", "worker",
                      "host", "pid", "state", "task", "ex/s", "hb", width, "");
    ofr_panel_attr (w, v, OFR_C_TITLE, false);
    int rows = height - 1;
    if (v->wsel >= m->n_workers)
        v->wsel = m->n_workers - 1;
    if (v->wsel < 0)
        v->wsel = 0;
    if (v->wsel < v->wtop)
        v->wtop = v->wsel;
    if (rows > 0 && v->wsel >= v->wtop + rows)
        v->wtop = v->wsel - rows + 1;
    for (int r = 0; r < rows && v->wtop + r < m->n_workers; r++) {
        const ofr_tui_worker *k = &m->workers[v->wtop + r];
        bool dead = strcmp (k->state, "dead") == 0;
        char task[24], rate[24], hb[24];
        if (k->task >= 0)
            snprintf (task, sizeof task, "%lld", (long long) k->task);
        else
            snprintf (task, sizeof task, "-");
        ofr_panel_num (rate, sizeof rate, "%.1f", dead ? NAN : k->rate);
        if (dead)
            snprintf (hb, sizeof hb, "-");
        else
            ofr_panel_num (hb, sizeof hb, "%.1fs", k->hb_ms / 1000.0);
        bool sel = v->focus == OFR_FOCUS_WORKERS && v->wtop + r == v->wsel;
        if (sel)
            wattron (w, A_REVERSE);
        ofr_panel_attr (w, v, dead ? OFR_C_BAD : OFR_C_NONE, true);
        ofr_panel_printf (w, 1 + r, 0, width, " %-10.10s %-10.10s %7lld %-5s %6s %7s %6s",
                          k->name ? k->name : "", k->host ? k->host : "",
                          (long long) k->pid, k->state, task, rate, hb);
        ofr_panel_attr (w, v, dead ? OFR_C_BAD : OFR_C_NONE, false);
        if (sel)
            wattroff (w, A_REVERSE);
    }
    if (m->n_workers == 0 && rows > 0)
        ofr_panel_put (w, 1, 1, width - 1, "(no worker has joined)");
}
