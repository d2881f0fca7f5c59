# suites/ MT metrics: corpus BLEU and chrF reproducing sacreBLEU 2.4.3 from
# pooled per-segment statistics, and `offramp score`.
add_library(ofr_mtmetrics STATIC
  suites/bleu.c suites/chrf.c suites/cmd_score.c suites/mt_text.c
  suites/mt_tokenize.c suites/mt_ngram.c suites/unicode_tables.c)
target_include_directories(ofr_mtmetrics PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_mtmetrics PUBLIC ofr_common ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_mtmetrics)

ofr_add_test(test_bleu SOURCES tests/unit/test_bleu.c LIBS ofr_mtmetrics TIMEOUT 60)
set_tests_properties(test_bleu PROPERTIES SKIP_RETURN_CODE 77)
