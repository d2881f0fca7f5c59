# The seq2seq driver batched and with beam search (issue 8, items 1-2): the
# decoding engine (workers/s2s_driver.c: batch of sentences, one sgemm per
# layer over the active rows), per-sentence greedy / CTranslate2 beam
# bookkeeping (s2s_hyps.c) and the beam / length_penalty cell options
# (s2s_opts.c), all in ofr_core with the driver.
cmake_language(DEFER CALL target_sources ofr_core PRIVATE
  ${CMAKE_SOURCE_DIR}/workers/s2s_driver.c ${CMAKE_SOURCE_DIR}/workers/s2s_hyps.c
  ${CMAKE_SOURCE_DIR}/workers/s2s_opts.c)

# Batch 1 = batch 16 (and beam) record for record through coordinator +
# workers on the shipped Multi30k models (skips, 77, without the data).
add_test(NAME it_s2s_batch
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_s2s_batch.sh)
set_tests_properties(it_s2s_batch PROPERTIES TIMEOUT 300 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")

# The longest source / target a model takes (learned positions, HF
# max_position_embeddings): the driver truncates longer sources.
target_sources(ofr_seq2seq PRIVATE workers/models/s2s_limits.c)

ofr_add_test(test_s2s_hyps SOURCES tests/unit/test_s2s_hyps.c workers/s2s_hyps.c
             workers/models/s2s_rank.c
             LIBS ofr_engine ofr_common ${M_LIB} LABELS unit TIMEOUT 30)

# CALM's state-saturation confidence (calm measure=state, issue 8 item 4).
ofr_add_test(test_calm_state SOURCES tests/unit/test_calm_state.c
             LIBS ${CMAKE_DL_LIBS} ${M_LIB} LABELS unit TIMEOUT 30)
cmake_language(DEFER CALL add_dependencies test_calm_state calm)
