# Tuned-lens exits for decoders (issue 6): `offramp fit` collects a decoder's
# per-layer hidden states on the model's text after a train split's
# openings (workers/fit_collect_decoder.c); plugins/tunedlens.c fits one
# affine map per layer by ridge regression and exits by CALM's rule on the
# translated state.
target_sources(ofr_fit PRIVATE workers/fit_collect_decoder.c)
ofr_add_plugin(tunedlens plugins/tunedlens.c)
# Its map and LM head are sgemm/sgemv (the only plugin that links OpenBLAS).
target_link_libraries(tunedlens PRIVATE PkgConfig::OPENBLAS)
install(TARGETS tunedlens LIBRARY DESTINATION lib/offramp/plugins)

add_test(NAME it_tunedlens COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_tunedlens.sh)
set_tests_properties(it_tunedlens PROPERTIES TIMEOUT 300 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")

# Generated GPT-2 / NeoX / HF Llama checkpoints fitted and run (LayerNorm
# heads: lm.final_layernorm + _bias); skips without torch.
add_test(NAME it_tunedlens_hf COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_tunedlens_hf.sh)
set_tests_properties(it_tunedlens_hf PROPERTIES TIMEOUT 60 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")

# The plugin's fit and exit rule on a fake host (exact affine data).
ofr_add_test(test_tunedlens SOURCES tests/unit/test_tunedlens.c
             LIBS ofr_engine ${CMAKE_DL_LIBS} ${M_LIB} LABELS unit TIMEOUT 60)
add_dependencies(test_tunedlens tunedlens)
