# harness/plan.c: plan files (YAML, libyaml) and `run` flags -> cells.
add_library(ofr_plan STATIC harness/plan.c)
target_include_directories(ofr_plan PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_plan PUBLIC PkgConfig::YAML ofr_common)
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_plan)

ofr_add_test(test_plan SOURCES tests/unit/test_plan.c LIBS ofr_plan TIMEOUT 30)
