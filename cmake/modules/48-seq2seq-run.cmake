# Encoder-decoders through the harness (issue 8, harness side): the
# CTranslate2 model as an OFR_KIND_SEQ2SEQ ofr_model, the per-token seq2seq
# driver and its host table (into ofr_core), the decoder's KV fills and
# analytic FLOPs (into ofr_seq2seq), the aren_translit suite (with the MT
# metrics it scores with), and their tests.
target_sources(ofr_seq2seq PRIVATE workers/models/s2s_flops.c)
# The Multi30k recipes' joint BPE (bpe_merges.txt), with the GPT-2 \p{L} /
# \p{N} / \s tables of ofr_tokenizers.
cmake_language(DEFER CALL target_sources ofr_tokenizers PRIVATE
  ${CMAKE_SOURCE_DIR}/workers/text/bpe_merges.c)
cmake_language(DEFER CALL target_link_libraries ofr_core PUBLIC ofr_tokenizers)
target_sources(ofr_mtmetrics PRIVATE suites/translit_suite.c)
cmake_language(DEFER CALL target_sources ofr_core PRIVATE
  ${CMAKE_SOURCE_DIR}/workers/seq2seq_runner.c ${CMAKE_SOURCE_DIR}/workers/models/seq2seq_model.c)
cmake_language(DEFER CALL target_link_libraries ofr_core PUBLIC ofr_seq2seq)

# The decoder's skip / KV fills and FLOPs on the real ct2 model (skips 77
# without ../shared/models/ct2-aren-transliteration).
ofr_add_test(test_seq2seq_run SOURCES tests/unit/test_seq2seq_run.c
             LIBS ofr_seq2seq ofr_suites ofr_tokenizers LABELS unit TIMEOUT 120)
set_tests_properties(test_seq2seq_run PROPERTIES SKIP_RETURN_CODE 77)

# plans/translation-compare.yaml end to end on ct2-aren-transliteration
# (coordinator + workers).
add_test(NAME it_translation_compare
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_translation_compare.sh)
set_tests_properties(it_translation_compare PROPERTIES TIMEOUT 300 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")

# The Multi30k layouts against torch (tests/ref/mt_hybrid_ref.py: tiny
# random hybrid and plain models exported by recipes/train_mt.py): the BPE
# pieces of 4,028 Multi30k lines, and the harness's greedy outputs, equal
# to torch's (skips, 77, without python3-torch).
add_test(NAME it_mt_layouts
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_mt_layouts.sh)
set_tests_properties(it_mt_layouts PROPERTIES TIMEOUT 300 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
