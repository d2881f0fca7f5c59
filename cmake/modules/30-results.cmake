# results/: the SQLite results store (the run's journal), the report
# (table, CSV, JSON) and the `offramp report` command.
add_library(ofr_results STATIC results/store.c results/report.c results/cmd_report.c)
target_include_directories(ofr_results PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_results PUBLIC PkgConfig::SQLITE ofr_common ofr_suites ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_results)

ofr_add_test(test_store SOURCES tests/unit/test_store.c LIBS ofr_results
             LABELS unit TIMEOUT 60)
