# `offramp bench`: the sgemm peak (workers/engine/cmd_bench.c, the dispatcher)
# and `bench encoder` (workers/models/*bench_encoder*.c), which times the
# encoder against that peak and against python3-torch
# (tools/bench_encoder_torch.py). A library of its own because it needs the
# models, which need the engine.
add_library(ofr_bench STATIC
  workers/engine/cmd_bench.c workers/models/cmd_bench_encoder.c
  workers/models/bench_encoder.c workers/models/bench_encoder_ckpt.c
  workers/models/bench_encoder_torch.c workers/models/bench_encoder_report.c)
target_include_directories(ofr_bench PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_bench PUBLIC ofr_encoder ofr_engine ofr_common ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_bench)

ofr_add_test(test_bench SOURCES tests/unit/test_bench.c LIBS ofr_bench
             LABELS unit TIMEOUT 60)

# A short real run on a generated tiny encoder (1 repeat): the JSON has
# every field, times are positive, the ratio to the sgemm peak is sane.
add_test(NAME bench_encoder_tiny
  COMMAND ${CMAKE_COMMAND} -DOFFRAMP=$<TARGET_FILE:offramp>
          -P ${CMAKE_SOURCE_DIR}/tests/unit/test_bench_encoder.cmake)
set_tests_properties(bench_encoder_tiny PROPERTIES TIMEOUT 30 LABELS bench
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
