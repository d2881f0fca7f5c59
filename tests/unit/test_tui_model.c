/*  test_tui_model.c -- the dashboard's data model without curses: documents
    in, state out (tui/model.h). */
#include "tui/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int s_failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf (stderr, "%s:%d: ", __FILE__, __LINE__);                \
            fprintf (stderr, __VA_ARGS__);                                  \
            fprintf (stderr, "\n");                                         \
            s_failures++;                                                   \
        }                                                                   \
    } while (0)

static const char s_run[] =
    "{\"v\":1,\"t\":\"run\",\"run\":7,\"name\":\"it-plan\",\"paused\":false,"
    "\"finished\":false,\"total\":300,\"cells\":3}";

static const char s_progress[] =
    "{\"v\":1,\"t\":\"progress\",\"run\":7,\"done\":150,\"total\":300,\"rate\":10,"
    "\"elapsed\":15,\"paused\":true,\"finished\":false,\"workers\":1,"
    "\"cells\":[[100,100,false],[50,100,false],[0,100,false]],"
    "\"worker_list\":[{\"id\":1,\"name\":\"local-1\",\"host\":\"h\",\"pid\":42,"
    "\"state\":\"busy\",\"task\":3,\"cell\":1,\"done\":150,\"hb_ms\":120,\"rate\":9.5},"
    "{\"id\":2,\"name\":\"bad\\u0007name\",\"host\":\"h\",\"pid\":43,\"state\":\"dead\","
    "\"task\":-1,\"cell\":-1,\"done\":0,\"hb_ms\":9000,\"rate\":0}]}";

/* full: acc 80, rel 1; truncate 2: acc 70, rel 0.4; truncate 5: acc 60, rel 0.9
   (dominated by truncate 2). */
static const char s_report[] =
    "{\"v\":1,\"t\":\"report\",\"run\":7,\"report\":{\"run\":7,\"name\":\"it-plan\",\"cells\":["
    "{\"model\":\"testnet\",\"suite\":\"synthetic\",\"method\":\"full\",\"params\":{},"
    "\"n\":100,\"total\":100,\"status\":\"done\",\"metrics\":{\"accuracy\":80},"
    "\"flops_mean\":10,\"flops_full\":10,\"rel_flops\":1,\"mean_exit_layer\":6,"
    "\"exit_hist\":[0,0,0,0,0,100],\"wall_ms_mean\":2,\"speedup\":1},"
    "{\"model\":\"testnet\",\"suite\":\"synthetic\",\"method\":\"truncate\","
    "\"params\":{\"layer\":\"2\"},\"n\":50,\"total\":100,\"status\":\"pending\","
    "\"metrics\":{\"accuracy\":70},\"flops_mean\":4,\"flops_full\":10,\"rel_flops\":0.4,"
    "\"mean_exit_layer\":2,\"exit_hist\":[0,50,0,0,0,0],"
    "\"exit_metric\":[null,70,null,null,null,null],\"wall_ms_mean\":1,\"speedup\":2},"
    "{\"model\":\"testnet\",\"suite\":\"synthetic\",\"method\":\"truncate\","
    "\"params\":{\"layer\":\"5\"},\"n\":10,\"total\":100,\"status\":\"pending\","
    "\"metrics\":{\"accuracy\":60},\"flops_mean\":9,\"flops_full\":10,\"rel_flops\":0.9,"
    "\"mean_exit_layer\":5,\"exit_hist\":[0,0,0,0,10,0],\"wall_ms_mean\":null,"
    "\"speedup\":null}]}}";

static const char s_log[] = "{\"v\":1,\"t\":\"log\",\"run\":7,\"level\":2,\"text\":\"worker lost\"}";

static int
apply (ofr_tui_model *m, const char *doc, double now)
{
    char err[512] = "";
    int rc = ofr_tui_model_apply (m, doc, strlen (doc), now, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "  apply: %s\n", err);
    return rc;
}

static void
test_documents (void)
{
    ofr_tui_model *m = ofr_tui_model_new ();
    CHECK (m && m->run == -1 && m->n_cells == 0, "new model");
    CHECK (apply (m, s_run, 1000) == 0, "run");
    CHECK (m->run == 7 && strcmp (m->name, "it-plan") == 0 && m->n_cells == 3, "run fields");
    CHECK (apply (m, s_progress, 2000) == 0, "progress");
    CHECK (m->done == 150 && m->total == 300 && m->paused && m->alive == 1, "progress fields");
    CHECK (m->cells[1].done == 50 && m->cells[1].total == 100, "cell done from progress");
    CHECK (m->n_workers == 2 && m->workers[0].pid == 42 && m->workers[0].task == 3
           && strcmp (m->workers[1].state, "dead") == 0, "workers");
    CHECK (fabs (ofr_tui_model_elapsed (m, 4000) - 17) < 1e-9, "elapsed extrapolates");
    CHECK (fabs (ofr_tui_model_eta (m) - 15) < 1e-9, "eta = left / rate");
    CHECK (apply (m, s_report, 2500) == 0, "report");
    const ofr_tui_cell *c0 = &m->cells[0], *c1 = &m->cells[1], *c2 = &m->cells[2];
    CHECK (strcmp (c1->label, "truncate layer=2") == 0, "label '%s'", c1->label);
    CHECK (c0->value == 80 && strcmp (c0->metric, "accuracy") == 0, "metric");
    CHECK (fabs (c0->ci - 196.0 * sqrt (0.8 * 0.2 / 100)) < 1e-9, "binomial interval %g", c0->ci);
    CHECK (fabs (c1->exp_speedup - 2.5) < 1e-9, "expected speed-up = 1 / rel FLOPs");
    CHECK (c1->speedup == 2 && isnan (c2->speedup), "measured speed-up, null = NAN");
    CHECK (c1->hist_n == 6 && c1->hist_sum == 50 && c1->hist[1] == 50, "histogram");
    CHECK (c1->exit_metric && c1->exit_metric[1] == 70 && isnan (c1->exit_metric[0]),
           "per-layer metric");
    CHECK (c0->pareto && c1->pareto && !c2->pareto, "Pareto front %d %d %d",
           c0->pareto, c1->pareto, c2->pareto);
    CHECK (apply (m, s_log, 3000) == 0 && m->n_logs == 1
           && strcmp (m->logs[0], "worker lost") == 0, "log");
    for (int i = 0; i < 20; i++)
        apply (m, s_log, 3000);
    CHECK (m->n_logs == OFR_TUI_LOGS, "log ring is bounded");
    ofr_tui_model_destroy (&m);
    CHECK (m == NULL, "destroy nulls");
}

static void
test_view (void)
{
    ofr_tui_model *m = ofr_tui_model_new ();
    apply (m, s_progress, 0);
    apply (m, s_report, 0);
    CHECK (m->n_rows == 3 && ofr_tui_model_row (m, 0)->index == 0, "plan order");
    ofr_tui_model_sort_next (m);   /* metric, best first */
    CHECK (m->sort == OFR_TUI_SORT_METRIC && ofr_tui_model_row (m, 0)->index == 0
           && ofr_tui_model_row (m, 2)->index == 2, "sort by metric");
    ofr_tui_model_sort_next (m);   /* rel FLOPs, cheapest first */
    CHECK (ofr_tui_model_row (m, 0)->index == 1 && ofr_tui_model_row (m, 2)->index == 0,
           "sort by FLOPs");
    for (int i = 0; i < OFR_TUI_N_SORTS - 2; i++)
        ofr_tui_model_sort_next (m);
    CHECK (m->sort == OFR_TUI_SORT_PLAN, "s cycles back to plan order");
    CHECK (ofr_tui_model_set_filter (m, "LAYER=5") == 0 && m->n_rows == 1
           && ofr_tui_model_row (m, 0)->index == 2, "filter is case-insensitive");
    CHECK (ofr_tui_model_row (m, 1) == NULL, "row out of range");
    ofr_tui_model_set_filter (m, "nothing");
    CHECK (m->n_rows == 0, "filter with no match");
    ofr_tui_model_set_filter (m, "");
    CHECK (m->n_rows == 3 && m->filter == NULL, "empty filter = all");
    /* A later report keeps the view's sort and filter. */
    ofr_tui_model_set_filter (m, "truncate");
    apply (m, s_report, 0);
    CHECK (m->n_rows == 2, "filter survives updates");
    ofr_tui_model_destroy (&m);
}

/*  A dashboard that attached late (snapshot, then events) ends where one
    that saw every event does. */
static void
test_late_attach (void)
{
    ofr_tui_model *early = ofr_tui_model_new (), *late = ofr_tui_model_new ();
    apply (early, s_run, 0);
    apply (early, s_progress, 0);
    apply (early, s_log, 0);
    apply (early, s_report, 0);
    char snap[8192];
    snprintf (snap, sizeof snap, "{\"v\":1,\"t\":\"snapshot\",\"run\":%s,\"progress\":%s,"
              "\"report\":%s,\"logs\":[%s]}", s_run, s_progress, s_report, s_log);
    CHECK (apply (late, snap, 0) == 0 && late->have_snapshot, "snapshot");
    CHECK (late->n_cells == early->n_cells && late->done == early->done
           && late->n_logs == early->n_logs && late->n_workers == early->n_workers, "same state");
    for (int i = 0; i < early->n_cells; i++) {
        const ofr_tui_cell *a = &early->cells[i], *b = &late->cells[i];
        CHECK (a->value == b->value && a->n == b->n && a->hist_sum == b->hist_sum
               && a->pareto == b->pareto && strcmp (a->label, b->label) == 0, "cell %d", i);
    }
    ofr_tui_model_destroy (&early);
    ofr_tui_model_destroy (&late);
}

static void
test_bad_documents (void)
{
    static const char *const bad[] = {
        "", "[]", "not json", "{\"t\":\"run\"}", "{\"v\":2,\"t\":\"run\"}",
        "{\"v\":1,\"t\":\"nonsense\"}", "{\"v\":1,\"t\":\"run\",\"t\":\"log\"}",
        "{\"v\":1,\"t\":\"report\",\"report\":{\"cells\":7}}",
        "{\"v\":1,\"t\":\"report\",\"report\":{\"cells\":[3]}}",
        "{\"v\":1,\"t\":\"snapshot\",\"run\":[]}",
    };
    ofr_tui_model *m = ofr_tui_model_new ();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "";
        int rc = ofr_tui_model_apply (m, bad[i], strlen (bad[i]), 0, err, sizeof err);
        CHECK (rc == -1 && err[0], "bad document %zu accepted", i);
    }
    /* Wrong types inside a good document are defaults, never crashes. */
    const char *odd = "{\"v\":1,\"t\":\"progress\",\"done\":\"x\",\"cells\":[[1],7,[\"a\",2]],"
                      "\"worker_list\":[3,{\"name\":5}]}";
    CHECK (apply (m, odd, 0) == 0 && m->n_workers == 2 && m->workers[1].name[0] == 0,
           "odd progress");
    ofr_tui_model_destroy (&m);
}

int
main (void)
{
    test_documents ();
    test_view ();
    test_late_attach ();
    test_bad_documents ();
    if (s_failures)
        fprintf (stderr, "%d failure(s)\n", s_failures);
    else
        printf ("ok\n");
    return s_failures ? 1 : 0;
}
