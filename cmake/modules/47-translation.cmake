# Translation (issue 8): the translation suites and the shared line reader
# join the MT metrics library (`offramp score --suite` uses them); the
# CTranslate2 reader + encoder-decoder runtime + `offramp translate` are
# ofr_seq2seq.
target_sources(ofr_mtmetrics PRIVATE suites/mt_lines.c suites/mt_suites.c)
# suites/registry.c lists the translation suites.
target_link_libraries(ofr_suites PUBLIC ofr_mtmetrics)

add_library(ofr_seq2seq STATIC
  workers/models/ct2.c workers/models/seq2seq_open.c workers/models/seq2seq_load.c
  workers/models/seq2seq.c workers/models/s2s_search.c workers/models/s2s_rank.c
  workers/models/cmd_translate.c)
target_include_directories(ofr_seq2seq PUBLIC ${CMAKE_SOURCE_DIR})
# jsonlite (config.json) lives in ofr_espnet.
target_link_libraries(ofr_seq2seq PUBLIC ofr_engine ofr_mtmetrics ofr_espnet
                      PkgConfig::OPENBLAS ofr_common ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_seq2seq)

# Suites, `offramp score` additions, the CTranslate2 reader and the known
# outputs of ct2-aren-transliteration; parts needing ../shared skip (77).
ofr_add_test(test_translation SOURCES tests/unit/test_translation.c
             LIBS ofr_seq2seq ofr_suites LABELS unit TIMEOUT 120)
set_tests_properties(test_translation PROPERTIES SKIP_RETURN_CODE 77)
