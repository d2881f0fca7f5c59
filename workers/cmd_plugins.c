/*  cmd_plugins.c -- `offramp plugins`: the method plugins found on the
    plugin path, with their ABI, file hash and declared parameters. Plugins
    are loaded with the listing host, whose functions do nothing. */
#include "plugin_host.h"
#include "../common/ofr_common.h"
#include "../harness/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: offramp plugins [--path DIRS] [--json]\n\n"
        "Lists the method plugins (*.so) found on the plugin path: name, version,\n"
        "plugin ABI, supported model kinds, flags, file and sha256, and each declared\n"
        "parameter with its type, default, range and help. Plugins that cannot be\n"
        "loaded are reported on stderr with the reason.\n\n"
        "options:\n"
        "  --path DIRS   ':'-separated plugin directories (default $OFFRAMP_PLUGINS,\n"
        "                else <exe dir>/plugins:<exe dir>/../lib/offramp/plugins)\n"
        "  --json        one JSON document on stdout instead of the text listing\n");
}

static const char *s_kind_names[] = { "encoder", "decoder", "seq2seq", "cnn" };
static const char *s_kv_names[] = { "copy_up", "recompute", "mask" };

static void
text_kinds (ofr_buf *b, unsigned kinds)
{
    int first = 1;
    for (int i = 0; i < 4; i++)
        if (kinds & (1u << i)) {
            ofr_buf_printf (b, "%s%s", first ? "" : ",", s_kind_names[i]);
            first = 0;
        }
}

static void
text_flags (ofr_buf *b, unsigned flags)
{
    if (!flags)
        ofr_buf_puts (b, "-");
    if (flags & OFR_METHOD_ORACLE)
        ofr_buf_puts (b, flags & ~OFR_METHOD_ORACLE ? "oracle," : "oracle");
    if (flags & OFR_METHOD_NEEDS_FIT)
        ofr_buf_puts (b, "needs_fit");
}

static int
has_range (const ofr_param_decl *d)
{
    return (d->type == OFR_PARAM_INT || d->type == OFR_PARAM_FLOAT) && d->min <= d->max;
}

static void
text_param (ofr_buf *b, const ofr_param_decl *d)
{
    ofr_buf_printf (b, "    %-14s %-6s default %-8s", d->name, ofr_param_type_name (d->type),
                    d->default_value);
    if (has_range (d))
        ofr_buf_printf (b, " range [%g, %g]", d->min, d->max);
    ofr_buf_printf (b, "\n      %s\n", d->help ? d->help : "");
}

static void
text_plugin (ofr_buf *b, const ofr_plugin *p)
{
    const ofr_method *m = ofr_plugin_method (p);
    ofr_buf_printf (b, "%s %s  ABI %d.%d  kinds ", m->name, m->version,
                    m->abi_major, m->abi_minor);
    text_kinds (b, m->kinds);
    ofr_buf_puts (b, "  flags ");
    text_flags (b, m->flags);
    if (m->kinds & (OFR_KIND_DECODER | OFR_KIND_SEQ2SEQ))
        ofr_buf_printf (b, "  kv %s", s_kv_names[m->kv_policy]);
    ofr_buf_printf (b, "\n  %s\n  file %s  sha256 %.12s\n", m->summary,
                    ofr_plugin_path (p), ofr_plugin_hash (p));
    if (m->n_params == 0)
        ofr_buf_puts (b, "  parameters: none\n");
    else
        ofr_buf_puts (b, "  parameters:\n");
    for (int i = 0; i < m->n_params; i++)
        text_param (b, &m->params[i]);
}

static void
json_param (ofr_buf *b, const ofr_param_decl *d)
{
    ofr_buf_puts (b, "{\"name\":");
    ofr_buf_json_str (b, d->name);
    ofr_buf_printf (b, ",\"type\":\"%s\",\"default\":", ofr_param_type_name (d->type));
    ofr_buf_json_str (b, d->default_value);
    ofr_buf_puts (b, ",\"min\":");
    if (has_range (d))
        ofr_buf_json_num (b, d->min);
    else
        ofr_buf_puts (b, "null");
    ofr_buf_puts (b, ",\"max\":");
    if (has_range (d))
        ofr_buf_json_num (b, d->max);
    else
        ofr_buf_puts (b, "null");
    ofr_buf_puts (b, ",\"help\":");
    ofr_buf_json_str (b, d->help ? d->help : "");
    ofr_buf_puts (b, "}");
}

static void
json_plugin (ofr_buf *b, const ofr_plugin *p)
{
    const ofr_method *m = ofr_plugin_method (p);
    ofr_buf_puts (b, "{\"name\":");
    ofr_buf_json_str (b, m->name);
    ofr_buf_puts (b, ",\"version\":");
    ofr_buf_json_str (b, m->version);
    ofr_buf_printf (b, ",\"abi_major\":%d,\"abi_minor\":%d,\"kinds\":[",
                    m->abi_major, m->abi_minor);
    const char *sep = "";
    for (int i = 0; i < 4; i++)
        if (m->kinds & (1u << i)) {
            ofr_buf_printf (b, "%s\"%s\"", sep, s_kind_names[i]);
            sep = ",";
        }
    ofr_buf_printf (b, "],\"oracle\":%s,\"needs_fit\":%s,\"kv_policy\":\"%s\",\"summary\":",
                    m->flags & OFR_METHOD_ORACLE ? "true" : "false",
                    m->flags & OFR_METHOD_NEEDS_FIT ? "true" : "false",
                    s_kv_names[m->kv_policy]);
    ofr_buf_json_str (b, m->summary);
    ofr_buf_puts (b, ",\"file\":");
    ofr_buf_json_str (b, ofr_plugin_path (p));
    ofr_buf_printf (b, ",\"sha256\":\"%s\",\"params\":[", ofr_plugin_hash (p));
    for (int i = 0; i < m->n_params; i++) {
        if (i)
            ofr_buf_puts (b, ",");
        json_param (b, &m->params[i]);
    }
    ofr_buf_puts (b, "]}");
}

static void
render (ofr_buf *b, const char *path, ofr_plugin **list, int n, int json)
{
    if (json) {
        ofr_buf_puts (b, "{\"path\":");
        ofr_buf_json_str (b, path);
        ofr_buf_printf (b, ",\"abi_major\":%d,\"abi_minor\":%d,\"plugins\":[",
                        OFR_ABI_MAJOR, OFR_ABI_MINOR);
        for (int i = 0; i < n; i++) {
            if (i)
                ofr_buf_puts (b, ",");
            json_plugin (b, list[i]);
        }
        ofr_buf_puts (b, "]}\n");
        return;
    }
    for (int i = 0; i < n; i++) {
        text_plugin (b, list[i]);
        ofr_buf_puts (b, "\n");
    }
    ofr_buf_printf (b, "%d plugin%s (host ABI %d.%d) from %s\n", n, n == 1 ? "" : "s",
                    OFR_ABI_MAJOR, OFR_ABI_MINOR, path);
}

int
ofr_cmd_plugins (int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0) {
            usage (stdout);
            return 0;
        }
        if (strcmp (a, "--json") == 0)
            json = 1;
        else if ((strcmp (a, "--path") == 0 || strcmp (a, "--plugins") == 0) && i + 1 < argc)
            path = argv[++i];
        else if (strncmp (a, "--path=", 7) == 0)
            path = a + 7;
        else {
            fprintf (stderr, "offramp plugins: unknown argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!path)
        path = ofr_plugin_default_path ();
    ofr_plugin **list = NULL;
    int n = 0;
    char err[OFR_ERRLEN];
    if (ofr_plugin_scan (path, ofr_host_listing (), &list, &n, err, sizeof err) != 0) {
        fprintf (stderr, "offramp plugins: %s\n", err);
        return 1;
    }
    ofr_buf b;
    ofr_buf_init (&b);
    render (&b, path, list, n, json);
    int rc = 0;
    if (b.oom) {
        fprintf (stderr, "offramp plugins: out of memory\n");
        rc = 1;
    }
    else
        fputs (b.data, stdout);
    ofr_buf_free (&b);
    ofr_plugin_list_destroy (&list, &n);
    return rc;
}
