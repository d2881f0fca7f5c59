/*  fuzz_protocol.c -- the strict msgpack decoder (harness/protocol.c) on
    arbitrary bytes. Property: whatever it accepts encodes again, and that
    encoding decodes and re-encodes to the same bytes (no lossy or
    non-canonical acceptance). */
#include "fuzz_util.h"
#include "harness/protocol.h"
#include "common/ofr_common.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    ofr_msg m, m2;
    char err[OFR_ERRLEN];
    ofr_msg_type type;
    int peek = ofr_msg_peek_type (data, size, &type);
    if (ofr_msg_decode (data, size, &m, err, sizeof err) != 0)
        return 0;
    OFR_FUZZ_ASSERT (peek == 0 && type == m.type);
    ofr_buf a, b;
    ofr_buf_init (&a);
    ofr_buf_init (&b);
    int rc = ofr_msg_encode (&m, &a, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "decoded but does not encode: %s\n", err);
    OFR_FUZZ_ASSERT (rc == 0 && !a.oom);
    rc = ofr_msg_decode (a.data, a.len, &m2, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "re-encoding does not decode: %s\n", err);
    OFR_FUZZ_ASSERT (rc == 0);
    OFR_FUZZ_ASSERT (m2.type == m.type);
    OFR_FUZZ_ASSERT (ofr_msg_encode (&m2, &b, err, sizeof err) == 0 && !b.oom);
    OFR_FUZZ_ASSERT (a.len == b.len && memcmp (a.data, b.data, a.len) == 0);
    ofr_msg_clear (&m2);
    ofr_msg_clear (&m);
    ofr_buf_free (&a);
    ofr_buf_free (&b);
    return 0;
}
