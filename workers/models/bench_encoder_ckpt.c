/*  bench_encoder_ckpt.c -- random BERT checkpoints for `offramp bench
    encoder --shape`: the Hugging Face layout the encoder runtime reads
    (config.json, model.safetensors with bert.* names), an exit head
    exits.{i}.* after every layer. Weights are uniform with the variance of
    nn.Linear-style initialization, so activations stay in a sane range;
    the vocabulary is small because it costs file size, not compute. */
#include "bench_encoder.h"
#include "../../common/ofr_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ofr_bench_shape s_shapes[] = {
    /* name    L    d   heads  I     vocab  positions */
    { "tiny",  2,   32,  4,    64,   100,   128 },
    { "small", 6,  128,  4,   512,  1000,   512 },   /* glue-sst2-multiexit's shape */
    { "base", 12,  768, 12,  3072,  1000,   512 },   /* BERT-base                   */
};

const ofr_bench_shape *
ofr_bench_shape_find (const char *name)
{
    for (size_t i = 0; name && i < sizeof s_shapes / sizeof s_shapes[0]; i++)
        if (strcmp (name, s_shapes[i].name) == 0)
            return &s_shapes[i];
    return NULL;
}

enum { K_EMB, K_WEIGHT, K_BIAS, K_GAMMA, K_BETA };

typedef struct {
    char name[96];
    int  d0, d1;          /* d1 = 0: one-dimensional */
    int  kind;
} tensor_spec;

typedef struct {
    tensor_spec *t;
    int          n, cap;
} spec_list;

static void
add (spec_list *l, int d0, int d1, int kind, const char *fmt, int i)
{
    if (l->n >= l->cap)
        return;
    tensor_spec *t = &l->t[l->n++];
    snprintf (t->name, sizeof t->name, fmt, i);
    t->d0 = d0;
    t->d1 = d1;
    t->kind = kind;
}

static void
add_linear (spec_list *l, int n, int k, const char *base, int i)
{
    char fmt[96];
    snprintf (fmt, sizeof fmt, "%s.weight", base);
    add (l, n, k, K_WEIGHT, fmt, i);
    snprintf (fmt, sizeof fmt, "%s.bias", base);
    add (l, n, 0, K_BIAS, fmt, i);
}

static void
add_norm (spec_list *l, int n, const char *base, int i)
{
    char fmt[96];
    snprintf (fmt, sizeof fmt, "%s.weight", base);
    add (l, n, 0, K_GAMMA, fmt, i);
    snprintf (fmt, sizeof fmt, "%s.bias", base);
    add (l, n, 0, K_BETA, fmt, i);
}

static void
build_specs (const ofr_bench_shape *s, spec_list *l)
{
    int d = s->hidden, I = s->intermediate;
    add (l, s->vocab, d, K_EMB, "bert.embeddings.word_embeddings.weight", 0);
    add (l, s->max_positions, d, K_EMB, "bert.embeddings.position_embeddings.weight", 0);
    add (l, 2, d, K_EMB, "bert.embeddings.token_type_embeddings.weight", 0);
    add_norm (l, d, "bert.embeddings.LayerNorm", 0);
    for (int i = 0; i < s->layers; i++) {
        add_linear (l, d, d, "bert.encoder.layer.%d.attention.self.query", i);
        add_linear (l, d, d, "bert.encoder.layer.%d.attention.self.key", i);
        add_linear (l, d, d, "bert.encoder.layer.%d.attention.self.value", i);
        add_linear (l, d, d, "bert.encoder.layer.%d.attention.output.dense", i);
        add_norm (l, d, "bert.encoder.layer.%d.attention.output.LayerNorm", i);
        add_linear (l, I, d, "bert.encoder.layer.%d.intermediate.dense", i);
        add_linear (l, d, I, "bert.encoder.layer.%d.output.dense", i);
        add_norm (l, d, "bert.encoder.layer.%d.output.LayerNorm", i);
    }
    for (int i = 0; i < s->layers; i++) {
        add_linear (l, d, d, "exits.%d.pooler.dense", i);
        add_linear (l, 2, d, "exits.%d.classifier", i);
    }
}

static size_t
numel (const tensor_spec *t)
{
    return (size_t) t->d0 * (size_t) (t->d1 ? t->d1 : 1);
}

/* The safetensors header: JSON padded with spaces to a multiple of 8. */
static void
header_json (const spec_list *l, ofr_buf *b)
{
    size_t off = 0;
    ofr_buf_puts (b, "{");
    for (int i = 0; i < l->n; i++) {
        const tensor_spec *t = &l->t[i];
        size_t bytes = numel (t) * 4;
        ofr_buf_json_str (b, t->name);
        ofr_buf_printf (b, ":{\"dtype\":\"F32\",\"shape\":[%d", t->d0);
        if (t->d1)
            ofr_buf_printf (b, ",%d", t->d1);
        ofr_buf_printf (b, "],\"data_offsets\":[%zu,%zu]},", off, off + bytes);
        off += bytes;
    }
    ofr_buf_puts (b, "\"__metadata__\":{\"format\":\"pt\"}}");
    while (!b->oom && b->len % 8)
        ofr_buf_puts (b, " ");
}

/* Uniform values with the kind's mean and standard deviation, in chunks. */
static int
write_values (FILE *f, const tensor_spec *t, ofr_rng *rng, float *chunk, size_t cap)
{
    double sd = t->kind == K_EMB ? 1.0 : t->kind == K_WEIGHT ? 1.0 / sqrt (t->d1) : 0.1;
    double mean = t->kind == K_GAMMA ? 1.0 : 0.0, a = sd * sqrt (3.0);
    for (size_t done = 0, n = numel (t); done < n;) {
        size_t k = n - done < cap ? n - done : cap;
        for (size_t i = 0; i < k; i++)
            chunk[i] = (float) (mean + a * (2.0 * ofr_rng_uniform (rng) - 1.0));
        if (fwrite (chunk, sizeof (float), k, f) != k)
            return -1;
        done += k;
    }
    return 0;
}

static int
write_safetensors (const char *path, const spec_list *l, uint64_t seed, char *err,
                   size_t errlen)
{
    ofr_buf h;
    ofr_buf_init (&h);
    header_json (l, &h);
    enum { CHUNK = 1 << 16 };
    float *chunk = ofr_calloc (CHUNK, sizeof (float));
    FILE *f = h.oom || !chunk ? NULL : fopen (path, "wb");
    int rc = 0;
    if (h.oom || !chunk)
        rc = ofr_errf (err, errlen, "%s: out of memory", path);
    else if (!f)
        rc = ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
    else {
        uint8_t len[8];
        for (int i = 0; i < 8; i++)      /* little-endian u64 */
            len[i] = (uint8_t) ((uint64_t) h.len >> (8 * i));
        ofr_rng rng;
        ofr_rng_seed (&rng, seed);
        rc = fwrite (len, 1, 8, f) == 8 && fwrite (h.data, 1, h.len, f) == h.len ? 0 : -1;
        for (int i = 0; rc == 0 && i < l->n; i++)
            rc = write_values (f, &l->t[i], &rng, chunk, CHUNK);
        if (fclose (f) != 0)
            rc = -1;
        if (rc != 0)
            ofr_errf (err, errlen, "%s: write failed: %s", path, strerror (errno));
    }
    free (chunk);
    ofr_buf_free (&h);
    return rc;
}

static int
write_config (const char *path, const ofr_bench_shape *s, char *err, size_t errlen)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
    fprintf (f, "{\n  \"model_type\": \"bert\", \"hidden_size\": %d, \"num_hidden_layers\": %d,\n"
             "  \"num_attention_heads\": %d, \"intermediate_size\": %d, \"vocab_size\": %d,\n"
             "  \"max_position_embeddings\": %d, \"type_vocab_size\": 2, \"num_labels\": 2,\n"
             "  \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0,\n"
             "  \"offramp\": {\"exits\": \"per_layer\", \"trained_on\": \"random "
             "(offramp bench encoder --shape %s)\"}\n}\n",
             s->hidden, s->layers, s->heads, s->intermediate, s->vocab, s->max_positions,
             s->name);
    if (fclose (f) != 0)
        return ofr_errf (err, errlen, "%s: write failed", path);
    return 0;
}

int
ofr_bench_write_checkpoint (const char *dir, const ofr_bench_shape *s, uint64_t seed,
                            char *err, size_t errlen)
{
    spec_list l = { NULL, 0, 8 + 20 * s->layers };
    l.t = ofr_calloc ((size_t) l.cap, sizeof *l.t);
    if (!l.t)
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    build_specs (s, &l);
    char path[4096];
    snprintf (path, sizeof path, "%s/config.json", dir);
    int rc = write_config (path, s, err, errlen);
    snprintf (path, sizeof path, "%s/model.safetensors", dir);
    if (rc == 0)
        rc = write_safetensors (path, &l, seed, err, errlen);
    free (l.t);
    return rc;
}
