/*  fuzz_client.c -- sends N malformed, truncated or hostile messages to a
    coordinator's worker socket (test (f)): random bytes, every kind of
    valid message cut short or with flipped bytes, records for cells and
    examples that do not exist, from workers that never said hello, and
    multi-frame messages. The coordinator must drop them all and finish its
    run with the same report. */
#include "harness/protocol.h"
#include "common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void
encode (const ofr_msg *m, ofr_buf *b)
{
    char err[OFR_ERRLEN];
    ofr_buf_reset (b);
    if (ofr_msg_encode (m, b, err, sizeof err) != 0) {
        fprintf (stderr, "encode: %s\n", err);
        exit (1);
    }
}

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: fuzz_client ENDPOINT COUNT SEED\n");
        return 2;
    }
    int count = atoi (argv[2]);
    ofr_rng rng;
    ofr_rng_seed (&rng, (uint64_t) atoll (argv[3]));
    void *ctx = zmq_ctx_new ();

    /* Valid templates to mutate. */
    ofr_buf tpl[5];
    for (int i = 0; i < 5; i++)
        ofr_buf_init (&tpl[i]);
    ofr_plugin_info pi = { .name = "full", .version = "1", .abi_major = 1, .hash = "00" };
    ofr_msg hello = { .type = OFR_MSG_HELLO, .name = "fuzz", .host = "fuzzhost", .pid = 1,
                      .cores = 1, .threads = 1, .credit = 1, .plugins = &pi, .n_plugins = 1 };
    double stats[1] = { 1 };
    ofr_record recs[2] = {
        { .cell = 0, .example = 100000, .stats = stats, .n_stats = 1, .exit_layer = 1, .n_layers = 6 },
        { .cell = 999, .example = 0, .stats = stats, .n_stats = 1, .exit_layer = 1, .n_layers = 6 },
    };
    ofr_msg records = { .type = OFR_MSG_RECORDS, .task_id = 1, .records = recs, .n_records = 2 };
    ofr_msg done = { .type = OFR_MSG_DONE, .task_id = 1 };
    ofr_msg fail = { .type = OFR_MSG_FAIL, .task_id = 2, .reason = "fuzz" };
    ofr_msg hb = { .type = OFR_MSG_HEARTBEAT, .state = "idle", .task_id = -1 };
    encode (&hello, &tpl[0]);
    encode (&records, &tpl[1]);
    encode (&done, &tpl[2]);
    encode (&fail, &tpl[3]);
    encode (&hb, &tpl[4]);

    int sent = 0;
    void *sock = NULL;
    unsigned char buf[4096];
    for (int i = 0; i < count; i++) {
        /* A fresh identity now and then: unknown workers, then hello'd ones. */
        if (i % 50 == 0) {
            if (sock)
                zmq_close (sock);
            sock = zmq_socket (ctx, ZMQ_DEALER);
            int linger = 1000;
            zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
            if (zmq_connect (sock, argv[1]) != 0) {
                fprintf (stderr, "connect %s: %s\n", argv[1], zmq_strerror (errno));
                return 1;
            }
            if (i % 100 == 0)   /* a fuzzer that says hello first */
                zmq_send (sock, tpl[0].data, tpl[0].len, 0);
        }
        int kind = (int) (ofr_rng_u64 (&rng) % 5);
        const ofr_buf *t = &tpl[ofr_rng_u64 (&rng) % 5];
        size_t len;
        switch (kind) {
        case 0:   /* random bytes */
            len = ofr_rng_u64 (&rng) % 200;
            for (size_t k = 0; k < len; k++)
                buf[k] = (unsigned char) ofr_rng_u64 (&rng);
            break;
        case 1:   /* truncated valid message */
            len = t->len ? ofr_rng_u64 (&rng) % t->len : 0;
            memcpy (buf, t->data, len);
            break;
        case 2:   /* valid message with flipped bytes */
            len = t->len < sizeof buf ? t->len : sizeof buf;
            memcpy (buf, t->data, len);
            for (int k = 0; k < 3 && len; k++)
                buf[ofr_rng_u64 (&rng) % len] ^= (unsigned char) (1u << (ofr_rng_u64 (&rng) % 8));
            break;
        case 3:   /* a whole valid but hostile message */
            len = t->len < sizeof buf ? t->len : sizeof buf;
            memcpy (buf, t->data, len);
            break;
        default:  /* two frames */
            len = t->len < sizeof buf ? t->len : sizeof buf;
            memcpy (buf, t->data, len);
            zmq_send (sock, buf, len, ZMQ_SNDMORE);
            break;
        }
        if (zmq_send (sock, buf, len, 0) >= 0)
            sent++;
    }
    zmq_close (sock);
    zmq_ctx_term (ctx);
    for (int i = 0; i < 5; i++)
        ofr_buf_free (&tpl[i]);
    printf ("sent %d messages\n", sent);
    return sent == count ? 0 : 1;
}
