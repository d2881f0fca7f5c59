/*  hf_decoder.c -- see hf_decoder.h. */
#include "hf_decoder.h"
#include "gptx.h"
#include "hf_llama.h"
#include "../../common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>

bool
ofr_hf_decoder_is (const char *dir)
{
    return ofr_hf_llama_probe (dir) || ofr_gptx_probe (dir);
}

static int
open_tokenizer (const char *dir, const ofr_llama *m, ofr_dec_tok **tok, char *note,
                size_t notelen, char *err, size_t errlen)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    ofr_buf p;
    ofr_buf_init (&p);
    ofr_buf_printf (&p, "%s/tokenizer.json", dir);
    if (p.oom)
        return ofr_errf (err, errlen, "out of memory");
    int rc = 0;
    FILE *fp = fopen (p.data, "rb");
    if (!fp)
        ofr_errf (note, notelen, "%s: no tokenizer.json: token ids only", dir);
    else {
        fclose (fp);
        rc = ofr_dec_tok_open_json (p.data, c->bos_id, c->eos_id, tok, err, errlen);
        if (rc == 0 && ofr_dec_tok_vocab_size (*tok) > c->vocab_size) {
            rc = ofr_errf (err, errlen, "%s has %d tokens but %s/config.json has "
                           "vocab_size %d: not this model's tokenizer", p.data,
                           ofr_dec_tok_vocab_size (*tok), dir, c->vocab_size);
            ofr_dec_tok_destroy (tok);
        }
    }
    ofr_buf_free (&p);
    return rc;
}

int
ofr_hf_decoder_load (const char *dir, ofr_llama **m, ofr_dec_tok **tok, char *note,
                     size_t notelen, char *err, size_t errlen)
{
    *m = NULL;
    *tok = NULL;
    if (note && notelen)
        note[0] = 0;
    int rc = ofr_gptx_probe (dir) ? ofr_gptx_load (dir, m, err, errlen)
                                  : ofr_hf_llama_load (dir, m, NULL, err, errlen);
    if (rc == 0 && open_tokenizer (dir, *m, tok, note, notelen, err, errlen) != 0) {
        ofr_llama_destroy (m);
        rc = -1;
    }
    return rc;
}
