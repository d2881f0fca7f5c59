# harness/protocol.c: the msgpack wire protocol shared by coordinator,
# workers and dashboards (depends on msgpack-c and common/ only).
add_library(ofr_protocol STATIC harness/protocol.c)
target_include_directories(ofr_protocol PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_protocol PUBLIC PkgConfig::MSGPACK ofr_common)
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_protocol)

ofr_add_test(test_protocol SOURCES tests/unit/test_protocol.c LIBS ofr_protocol
             LABELS unit TIMEOUT 60)
