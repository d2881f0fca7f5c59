# Integration tests: real coordinator and worker processes (tests/integration).
add_executable(fuzz_client tests/integration/fuzz_client.c)
set_target_properties(fuzz_client PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${OFR_TEST_DIR})
target_link_libraries(fuzz_client PRIVATE ofr_protocol ofr_common PkgConfig::ZMQ)

foreach(t tcp_workers worker_kill coord_resume plugin_crash bad_abi fuzz_coord plans)
  add_test(NAME it_${t} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_${t}.sh)
  set_tests_properties(it_${t} PROPERTIES TIMEOUT 180 LABELS integration
    ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
endforeach()
# Every shipped plan (about 50 cells, a task child each): minutes under ASan.
set_tests_properties(it_plans PROPERTIES TIMEOUT 900)

# Fault soak (tests/soak): worker SIGKILLs, a SIGSTOP past the heartbeat
# timeout, a coordinator kill + resume. ctest runs the short version (25
# kills); `KILLS=100 bash tests/soak/test_soak.sh` is the full one.
add_test(NAME soak_short COMMAND bash ${CMAKE_SOURCE_DIR}/tests/soak/test_soak.sh)
set_tests_properties(soak_short PROPERTIES TIMEOUT 300 LABELS "soak;integration"
  ENVIRONMENT "KILLS=25;OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
