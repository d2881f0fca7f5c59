# Decoder LMs through the harness (issue 6): the llama2.c model as an
# OFR_KIND_DECODER ofr_model, the per-token decoder driver and its host
# table (into ofr_core, which defines the run path, once it exists), the
# decoder-LM suites (tinystories_gen, truthfulqa_mc1/mc2, into ofr_suites),
# the per-token methods and their tests.
target_sources(ofr_suites PRIVATE suites/lm_suites.c)
target_link_libraries(ofr_suites PUBLIC PkgConfig::JANSSON)
cmake_language(DEFER CALL target_sources ofr_core PRIVATE
  ${CMAKE_SOURCE_DIR}/workers/decoder_runner.c ${CMAKE_SOURCE_DIR}/workers/token_host.c
  ${CMAKE_SOURCE_DIR}/workers/models/llama_model.c)
cmake_language(DEFER CALL target_link_libraries ofr_core PUBLIC ofr_llama)

set(OFR_DECODER_PLUGINS calm layerskip seq_oracle)
foreach(m ${OFR_DECODER_PLUGINS})
  ofr_add_plugin(${m} plugins/${m}.c)
endforeach()
install(TARGETS ${OFR_DECODER_PLUGINS} LIBRARY DESTINATION lib/offramp/plugins)

# Decision rules on hand-made distributions (fake host), ROUGE-L.
ofr_add_test(test_decoder_methods SOURCES tests/unit/test_decoder_methods.c
             LIBS ofr_suites ${CMAKE_DL_LIBS} ${M_LIB} LABELS unit TIMEOUT 60)
add_dependencies(test_decoder_methods ${OFR_DECODER_PLUGINS})

# plans/decoder-compare.yaml end to end on stories260K (coordinator + workers).
add_test(NAME it_decoder_compare
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_decoder_compare.sh)
set_tests_properties(it_decoder_compare PROPERTIES TIMEOUT 300 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
