# The live dashboard (tui/): a curses-free data model, curses panels, the
# loop and `offramp tui`. `offramp run --tui` starts the same command.
add_library(ofr_tui_model STATIC tui/model.c)
target_include_directories(ofr_tui_model PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_tui_model PUBLIC ofr_common PkgConfig::JANSSON ${M_LIB})

add_library(ofr_tui STATIC tui/tui.c tui/cmd_tui.c tui/panel_util.c tui/panel_header.c
  tui/panel_table.c tui/panel_hist.c tui/panel_workers.c tui/panel_log.c)
target_include_directories(ofr_tui PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_tui PUBLIC ofr_tui_model ofr_protocol ofr_suites ofr_common
  PkgConfig::CURSES PkgConfig::ZMQ ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_tui)

ofr_add_test(test_tui_model SOURCES tests/unit/test_tui_model.c LIBS ofr_tui_model
             LABELS "unit;tui" TIMEOUT 60)

# The real dashboard under tmux against a real coordinator and workers.
add_test(NAME tui_dashboard COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_tui.sh)
set_tests_properties(tui_dashboard PROPERTIES TIMEOUT 300 LABELS "tui;integration"
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
