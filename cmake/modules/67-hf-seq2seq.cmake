# Hugging Face encoder-decoders (issue 8): config.json + model.safetensors
# of MarianMTModel / T5ForConditionalGeneration loaded into the seq2seq
# runtime (workers/models/hf_s2s*.c, hf_marian.c, hf_t5.c, into ofr_seq2seq,
# which already links safetensors/jsonlite),
# and SentencePiece .spm models as unigram tokenizers (workers/text/
# spm_model.c, into ofr_tokenizers) for Marian's source.spm.
target_sources(ofr_seq2seq PRIVATE workers/models/hf_s2s.c workers/models/hf_marian.c
  workers/models/hf_t5.c)
# T5 reads its pieces from tokenizer.json (the unigram reader).
target_link_libraries(ofr_seq2seq PUBLIC ofr_tokenizers)
target_sources(ofr_tokenizers PRIVATE workers/text/spm_model.c)

# Generated tiny Marian / T5 checkpoints (tests/ref/hf_marian_ref.py writes
# config.json, model.safetensors, vocab.json and a hand-encoded source.spm;
# hf_t5_ref.py a tokenizer.json): unit = the .spm reader and bad inputs
# (stdlib python3 only); torch = encoder output, per-step decoder logits
# (1e-4) and greedy output equal to float64 torch re-implementations of
# modeling_marian / modeling_t5 (skips, 77, without /usr/bin/python3 + torch).
ofr_add_test(test_hf_marian SOURCES tests/unit/test_hf_marian.c
             LIBS ofr_core ofr_seq2seq ofr_tokenizers ARGS unit LABELS unit TIMEOUT 60)
add_test(NAME test_hf_marian_torch COMMAND test_hf_marian torch)
set_tests_properties(test_hf_marian test_hf_marian_torch PROPERTIES SKIP_RETURN_CODE 77
  TIMEOUT 60 LABELS unit
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR}")

# The generated Marian checkpoint through coordinator + worker and the
# seq2seq driver (full, CALM, layer skipping) on Multi30k text; a source
# past max_position_embeddings is truncated with a warning (skips, 77,
# without ../shared's Multi30k).
add_test(NAME it_hf_marian_run
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_hf_marian_run.sh)
set_tests_properties(it_hf_marian_run PROPERTIES TIMEOUT 120 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
