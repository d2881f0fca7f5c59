/*  fuzz_wordpiece_vocab.c -- WordPiece vocab.txt loading and tokenizing
    (workers/text/wordpiece.c): the input up to the first NUL byte is the
    vocabulary file, the rest the text to tokenize (a fixed mixed-script
    text without a NUL). Ids produced must be in the vocabulary. */
#include "fuzz_util.h"
#include "workers/text/wordpiece.h"
#include "common/ofr_common.h"

#include <string.h>

static const char s_text[] = "Hello, World! unaffable na\xc3\xafve caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac "
                             "don't  [SEP] x\xcc\x81y 123.45 \xf0\x9f\x98\x80 \t\r\n end";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr (data, 0, size);
    size_t vlen = nul ? (size_t) (nul - data) : size;
    char *text = NULL;
    if (nul) {
        size_t tlen = size - vlen - 1;
        text = malloc (tlen + 1);
        if (!text)
            return 0;
        memcpy (text, nul + 1, tlen);
        text[tlen] = 0;   /* an inner NUL just ends the text early */
    }
    const char *path = ofr_fuzz_file (data, vlen);
    ofr_wordpiece_params params = ofr_wordpiece_default_params ();
    if (size > 0)
        params.lowercase = data[size - 1] & 1;
    ofr_wordpiece *wp = NULL;
    char err[OFR_ERRLEN];
    if (ofr_wordpiece_load (path, &params, &wp, err, sizeof err) != 0) {
        OFR_FUZZ_ASSERT (wp == NULL);
        free (text);
        return 0;
    }
    int vocab = ofr_wordpiece_vocab_size (wp);
    ofr_wp_ids ids = { 0 };
    const char *t = text ? text : s_text;
    if (ofr_wordpiece_tokenize (wp, t, &ids, err, sizeof err) == 0)
        for (size_t i = 0; i < ids.len; i++)
            OFR_FUZZ_ASSERT (ids.v[i] >= 0 && ids.v[i] < vocab);
    ofr_wp_encoding enc = { 0 };
    if (ofr_wordpiece_encode (wp, t, s_text, 16, &enc, err, sizeof err) == 0) {
        OFR_FUZZ_ASSERT (enc.len <= 16);
        for (int i = 0; i < enc.len; i++)
            OFR_FUZZ_ASSERT (enc.ids[i] >= 0 && enc.ids[i] < vocab);
    }
    for (int i = 0; i < vocab && i < 64; i++) {
        const char *tok = ofr_wordpiece_token (wp, i);
        OFR_FUZZ_ASSERT (tok != NULL);
        int id = ofr_wordpiece_token_id (wp, tok);
        OFR_FUZZ_ASSERT (id >= 0 && id < vocab);
    }
    ofr_wordpiece_encoding_free (&enc);
    ofr_wp_ids_free (&ids);
    ofr_wordpiece_destroy (&wp);
    free (text);
    return 0;
}
