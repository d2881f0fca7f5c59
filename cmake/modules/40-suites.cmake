# suites/: dataset readers + metrics, and the generated test double
# (tests/testnet: testnet model + synthetic suite) that the harness runs
# until real models exist.
add_library(ofr_suites STATIC suites/registry.c tests/testnet/synthetic_suite.c
            tests/testnet/testnet_model.c)
target_include_directories(ofr_suites PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_suites PUBLIC ofr_glue ofr_common PkgConfig::OPENBLAS ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_suites)
