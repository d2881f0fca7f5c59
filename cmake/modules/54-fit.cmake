# `offramp fit` (harness/cmd_fit.c + workers/fit_collect.c): fit a method's
# light components on frozen features of a train split. The artifact store
# itself (workers/artifacts.c) is part of ofr_core, because task children
# load artifacts at evaluation. ofr_core is defined later (80-core); CMake
# resolves the name at generation time.
add_library(ofr_fit STATIC harness/cmd_fit.c workers/fit_collect.c)
target_include_directories(ofr_fit PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_fit PUBLIC ofr_core ofr_plan ofr_pluginhost ofr_engine
  ofr_common PkgConfig::JANSSON)
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_fit)

ofr_add_plugin(linear_exit plugins/linear_exit.c)
install(TARGETS linear_exit LIBRARY DESTINATION lib/offramp/plugins)

ofr_add_test(test_artifacts SOURCES tests/unit/test_artifacts.c
             LIBS ofr_core ofr_common LABELS unit TIMEOUT 60)

# End to end on the generated testnet/synthetic pair, and the real-data
# check on the shipped SST-2 encoder (skips without ../shared).
foreach(t fit fit_sst2)
  add_test(NAME it_${t} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_${t}.sh)
  set_tests_properties(it_${t} PROPERTIES TIMEOUT 600 LABELS integration SKIP_RETURN_CODE 77
    ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
endforeach()
