# workers/engine/: OpenBLAS set-up (core type, threads), the shared dense
# ops and the fitting helpers of the plugin host table. `offramp bench`
# (workers/engine/cmd_bench.c) is in 56-bench.cmake: it needs the models.
add_library(ofr_engine STATIC
  workers/engine/blas_setup.c workers/engine/ops.c workers/engine/fit.c)
target_include_directories(ofr_engine PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_engine PUBLIC PkgConfig::OPENBLAS ofr_common ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_engine)

ofr_add_test(test_ops SOURCES tests/unit/test_ops.c LIBS ofr_engine
             LABELS unit TIMEOUT 60)
ofr_add_test(test_fit SOURCES tests/unit/test_fit.c LIBS ofr_engine
             LABELS unit TIMEOUT 60)

# test_blas_setup runs this probe with different environments and reads
# the core it ended up with (the re-exec can only be seen from outside).
add_executable(ofr_blas_probe tests/unit/blas_probe.c)
set_target_properties(ofr_blas_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${OFR_TEST_DIR})
target_link_libraries(ofr_blas_probe PRIVATE ofr_engine)
ofr_add_test(test_blas_setup SOURCES tests/unit/test_blas_setup.c LIBS ofr_engine
             LABELS unit TIMEOUT 60 ARGS $<TARGET_FILE:ofr_blas_probe>)
add_dependencies(test_blas_setup ofr_blas_probe)
