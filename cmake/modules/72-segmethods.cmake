# Dynamic inference for dense prediction (ESPNet on CamVid, issue 7):
# skipping residual ESP blocks (seg_skip), early exit at a coarser decoder
# stage with a threshold fitted on the held-out camvid "fit" part
# (seg_exit), the per-image oracle (seg_oracle, upper bound, host
# oracle_try of ABI 1.2). plugins/README.md has the table.
set(OFR_SEG_PLUGINS seg_skip seg_exit seg_oracle)
foreach(m ${OFR_SEG_PLUGINS})
  ofr_add_plugin(${m} plugins/${m}.c)
endforeach()
install(TARGETS ${OFR_SEG_PLUGINS} LIBRARY DESTINATION lib/offramp/plugins)

# Decision rules on hand-made distributions, states and confusions.
ofr_add_test(test_segmethods SOURCES tests/unit/test_segmethods.c
             LIBS ${CMAKE_DL_LIBS} ${M_LIB} LABELS unit TIMEOUT 60)
add_dependencies(test_segmethods ${OFR_SEG_PLUGINS})

# Bad inputs of the CamVid/ESPNet path: clear errors naming the file.
ofr_add_test(test_seg_badinputs SOURCES tests/unit/test_seg_badinputs.c
             LIBS ofr_espnet LABELS unit TIMEOUT 60)

# `offramp bench conv`: the ESPNet runtime's convolutions vs the sgemm peak.
target_sources(ofr_bench PRIVATE workers/models/cmd_bench_conv.c)
target_link_libraries(ofr_bench PUBLIC ofr_espnet)
add_test(NAME bench_conv_tiny
  COMMAND ${CMAKE_COMMAND} -DOFFRAMP=$<TARGET_FILE:offramp>
          -P ${CMAKE_SOURCE_DIR}/tests/unit/test_bench_conv.cmake)
set_tests_properties(bench_conv_tiny PROPERTIES TIMEOUT 60 LABELS bench)
