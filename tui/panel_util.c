/*  panel_util.c -- printing helpers shared by the panels (panel.h). */
#include "panel.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Columns are counted per UTF-8 code point (we print no wide glyphs).
    Control characters become '?': a worker name must not move the cursor. */
void
ofr_panel_put (WINDOW *w, int y, int x, int width, const char *s)
{
    int maxx = getmaxx (w);
    if (width < 0 || x + width > maxx)
        width = maxx - x;
    if (width <= 0 || y < 0 || y >= getmaxy (w) || !s)
        return;
    wmove (w, y, x);
    int col = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p && col <= width; p++) {
        bool cont = (*p & 0xC0) == 0x80;
        if (!cont && col == width)
            break;
        if (*p < 0x20 || *p == 0x7f) {
            waddch (w, '?');
            col++;
            continue;
        }
        waddnstr (w, (const char *) p, 1);
        col += !cont;
    }
}

void
ofr_panel_printf (WINDOW *w, int y, int x, int width, const char *fmt, ...)
{
    char stack[512];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (stack, sizeof stack, fmt, ap);
    va_end (ap);
    if (n < 0)
        return;
    if ((size_t) n < sizeof stack) {
        ofr_panel_put (w, y, x, width, stack);
        return;
    }
    char *big = malloc ((size_t) n + 1);
    if (!big) {
        ofr_panel_put (w, y, x, width, stack);   /* truncated, still readable */
        return;
    }
    va_start (ap, fmt);
    vsnprintf (big, (size_t) n + 1, fmt, ap);
    va_end (ap);
    ofr_panel_put (w, y, x, width, big);
    free (big);
}

void
ofr_panel_attr (WINDOW *w, const ofr_tui_view *v, int pair, bool on)
{
    /* Without colours, titles and the selection bar are reversed video. */
    int attr = v->colors && pair != OFR_C_NONE ? (int) COLOR_PAIR (pair)
             : pair == OFR_C_TITLE || pair == OFR_C_BAR ? (int) A_REVERSE : 0;
    if (on)
        wattron (w, attr);
    else
        wattroff (w, attr);
}

const char *
ofr_panel_num (char *buf, size_t len, const char *fmt, double x)
{
    if (isfinite (x))
        snprintf (buf, len, fmt, x);
    else
        snprintf (buf, len, "-");
    return buf;
}

const char *
ofr_panel_hms (char *buf, size_t len, double s)
{
    if (!(s >= 0) || s > 1e9) {
        snprintf (buf, len, "?");
        return buf;
    }
    long t = (long) (s + 0.5);
    snprintf (buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    return buf;
}
