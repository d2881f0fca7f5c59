# GPT-2 / GPT-NeoX blocks in the decoder runtime (workers/models/gptx.c:
# HF config.json + model.safetensors into llama.h's structures; dec_ops.c:
# LayerNorm / biases / GELU next to Llama's RMSNorm / SwiGLU) and the
# decoder tokenizer interface (workers/text/dec_tok.c: llama2.c,
# byte-level BPE, SentencePiece-style BPE from tokenizer.json in sp_bpe.c).
target_sources(ofr_llama PRIVATE
  workers/models/gptx.c workers/models/dec_ops.c workers/models/hf_decoder.c
  workers/text/dec_tok.c workers/text/sp_bpe.c)

# tok: hand-checked SentencePiece-BPE and byte-level ids (tests/ref/gptx_ref.py
# sptok, stdlib python3); torch: random GPT-2 / NeoX checkpoints against
# gptx_ref.py's float64 torch math (hidden states, logits, greedy), bad
# inputs through the loader, the registry and `offramp generate` (77 without
# /usr/bin/python3 + torch).
ofr_add_test(test_gptx SOURCES tests/unit/test_gptx.c LIBS ofr_core ofr_llama
             ARGS tok LABELS unit TIMEOUT 60)
add_test(NAME test_gptx_torch COMMAND test_gptx torch)
set_tests_properties(test_gptx test_gptx_torch PROPERTIES SKIP_RETURN_CODE 77)
set_tests_properties(test_gptx_torch PROPERTIES TIMEOUT 120 LABELS unit
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
add_dependencies(test_gptx offramp)

# GPT-2, GPT-NeoX and SentencePiece-tokenized Llama checkpoints through
# coordinator + worker with full / calm / layerskip (skips without torch).
add_test(NAME it_gptx_harness
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_gptx_harness.sh)
set_tests_properties(it_gptx_harness PROPERTIES TIMEOUT 120 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
