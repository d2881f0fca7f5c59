/*  fuzz_llama2c_tokenizer.c -- llama2.c tokenizer.bin loading, encoding
    and decoding (workers/text/bpe_llama2c.c). Encoded ids must be in the
    vocabulary; decoding arbitrary ids (in and out of range) must be safe. */
#include "fuzz_util.h"
#include "workers/text/bpe_llama2c.h"
#include "common/ofr_common.h"

#include <string.h>

static const char s_text[] = "Once upon a time, Lily saw a \xc3\xa9l\xc3\xa9phant! \xe6\x9d\xb1 \x01\xff end";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = ofr_fuzz_file (data, size);
    ofr_bpe_llama2c *t = NULL;
    char err[OFR_ERRLEN];
    if (ofr_bpe_llama2c_load (path, &t, err, sizeof err) != 0) {
        OFR_FUZZ_ASSERT (t == NULL);
        return 0;
    }
    int vocab = ofr_bpe_llama2c_vocab_size (t);
    int *ids = NULL, n = 0;
    if (ofr_bpe_llama2c_encode (t, s_text, sizeof s_text - 1, true, true, &ids, &n,
                                err, sizeof err) == 0) {
        for (int i = 0; i < n; i++)
            OFR_FUZZ_ASSERT (ids[i] >= 0 && ids[i] < vocab);
        ofr_buf out;
        ofr_buf_init (&out);
        ofr_bpe_llama2c_decode_all (t, ids, n, &out);
        ofr_buf_free (&out);
    }
    free (ids);
    /* Ids taken from the tail of the file itself, many out of range. */
    int raw[16];
    int k = 0;
    for (size_t i = size >= 64 ? size - 64 : 0; i + 4 <= size && k < 16; i += 4) {
        memcpy (&raw[k], data + i, 4);
        if (k % 3 == 0)
            raw[k] = (int) ((unsigned) raw[k] % (unsigned) (vocab + 3)) - 1;
        k++;
    }
    ofr_buf out;
    ofr_buf_init (&out);
    ofr_bpe_llama2c_decode_all (t, raw, k, &out);
    ofr_buf_free (&out);
    for (int i = -1; i <= vocab && i < 300; i++) {
        size_t len;
        (void) ofr_bpe_llama2c_piece (t, i, &len);
        (void) ofr_bpe_llama2c_decode (t, i - 1, i, &len);
        (void) ofr_bpe_llama2c_score (t, i);
    }
    ofr_bpe_llama2c_destroy (&t);
    return 0;
}
