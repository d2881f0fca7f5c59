# Self-speculative decoding (issue 6, LayerSkip-style): the draft/verify
# loop on a KV-cached decoder (workers/models/selfspec.c, used by
# `offramp generate --method selfspec` and the decoder driver) and its
# tests: exact greedy output on generated models and stories260K, FLOPs
# against a hand count.
target_sources(ofr_llama PRIVATE workers/models/selfspec.c)
ofr_add_test(test_selfspec SOURCES tests/unit/test_selfspec.c LIBS ofr_llama
             ARGS unit LABELS unit TIMEOUT 60)
add_test(NAME test_selfspec_stories260K COMMAND test_selfspec stories260K)
set_tests_properties(test_selfspec_stories260K PROPERTIES TIMEOUT 60 LABELS unit
  SKIP_RETURN_CODE 77 ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

# The method: plugins/selfspec.c declares the driver's speculative mode
# (ABI 1.3 `speculate`).
ofr_add_plugin(selfspec plugins/selfspec.c)
install(TARGETS selfspec LIBRARY DESTINATION lib/offramp/plugins)

# plans/decoder-spec.yaml end to end on stories260K (coordinator + worker).
add_test(NAME it_selfspec COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_selfspec.sh)
set_tests_properties(it_selfspec PROPERTIES TIMEOUT 300 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")

# ABI 1.3 on the host side (test_spec_abi): fixtures in build/tests/specabi,
# kept off the default plugin path.
foreach(v old encoder)
  string(TOUPPER ${v} V)
  ofr_add_plugin(spec_abi_${v} tests/plugins/spec_abi.c)
  set_target_properties(spec_abi_${v} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${OFR_TEST_DIR}/specabi)
  target_compile_definitions(spec_abi_${v} PRIVATE SPEC_${V})
endforeach()
ofr_add_test(test_spec_abi SOURCES tests/unit/test_spec_abi.c
             LIBS ofr_pluginhost ofr_common LABELS unit TIMEOUT 60)
add_dependencies(test_spec_abi spec_abi_old spec_abi_encoder selfspec calm)
