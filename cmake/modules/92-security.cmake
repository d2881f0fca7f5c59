# harness/security.c: CURVE key files, the allowlist, the ZAP handler and a
# handshake monitor; harness/cmd_keygen.c: `offramp keygen`. Used by the
# coordinator and workers (ofr_core) and dashboards (ofr_tui).
add_library(ofr_security STATIC harness/security.c harness/cmd_keygen.c)
target_include_directories(ofr_security PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_security PUBLIC ofr_common PkgConfig::ZMQ)
target_link_libraries(ofr_core PUBLIC ofr_security)
target_link_libraries(ofr_tui PUBLIC ofr_security)
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_security)

ofr_add_test(test_security SOURCES tests/unit/test_security.c LIBS ofr_security
             LABELS "unit;security" TIMEOUT 60)

# With CURVE on (non-loopback bind, or --keys): unknown-key and plaintext
# workers are refused and logged, the allowed ones finish the run.
add_test(NAME it_curve COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_curve.sh)
# Coordinator and workers in separate network namespaces over a veth pair
# (skips, exit 77, where namespaces cannot be created).
add_test(NAME it_netns COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_netns.sh)
set_tests_properties(it_curve it_netns PROPERTIES TIMEOUT 180 LABELS "integration;security"
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
# Both namespaced runs use fixed addresses: never at the same time.
set_tests_properties(it_netns PROPERTIES RESOURCE_LOCK ofr_netns)
