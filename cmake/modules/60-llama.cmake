# workers/models/llama + decoder, workers/text/bpe_llama2c: llama2.c
# checkpoints (stories260K), their tokenizer, layer-at-a-time KV-cached
# decoding, scoring, greedy generation and `offramp generate`.
add_library(ofr_llama STATIC
  workers/models/llama.c workers/models/decoder.c workers/models/cmd_generate.c
  workers/text/bpe_llama2c.c)
target_include_directories(ofr_llama PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_llama PUBLIC PkgConfig::OPENBLAS ofr_engine ofr_common ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_llama)

# One test program, three modes: generated tiny checkpoints (always runs),
# the real stories260K files (skips without them), and logits against the
# python3-torch reference tests/ref/llama_ref.py (skips without torch).
ofr_add_test(test_llama SOURCES tests/unit/test_llama.c LIBS ofr_llama
             ARGS unit LABELS unit TIMEOUT 60)
foreach(mode stories260K torch)
  add_test(NAME test_llama_${mode} COMMAND test_llama ${mode})
  set_tests_properties(test_llama_${mode} PROPERTIES TIMEOUT 60 LABELS unit
    SKIP_RETURN_CODE 77
    ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFR_PLUGIN_DIR=${OFR_PLUGIN_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
endforeach()
set_tests_properties(test_llama PROPERTIES SKIP_RETURN_CODE 77)
