# More per-token decoder methods (issue 6): SkipDecode's per-position
# schedule and hidden-state-driven skipping, with their decision-rule tests
# on a fake host (hand-made step sequences and hidden states).
set(OFR_DECODER_PLUGINS2 skipdecode stateskip)
foreach(m ${OFR_DECODER_PLUGINS2})
  ofr_add_plugin(${m} plugins/${m}.c)
endforeach()
install(TARGETS ${OFR_DECODER_PLUGINS2} LIBRARY DESTINATION lib/offramp/plugins)

ofr_add_test(test_decoder_skip SOURCES tests/unit/test_decoder_skip.c
             LIBS ${CMAKE_DL_LIBS} ${M_LIB} LABELS unit TIMEOUT 60)
add_dependencies(test_decoder_skip ${OFR_DECODER_PLUGINS2})
