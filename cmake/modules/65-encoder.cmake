# workers/models/encoder*: BERT-family multi-exit classifiers (bert, roberta,
# electra, albert, distilbert) from Hugging Face checkpoints, with the bf16
# kernel of RUN_LOWP layers. config.json is read with jansson.
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)

add_library(ofr_encoder STATIC
  workers/models/encoder.c workers/models/encoder_config.c
  workers/models/encoder_load.c workers/models/encoder_layer.c
  workers/models/encoder_flops.c workers/models/bf16_gemm.c)
target_include_directories(ofr_encoder PUBLIC ${CMAKE_SOURCE_DIR})
# safetensors.c lives in ofr_espnet for now, the shared dense ops in ofr_engine.
target_link_libraries(ofr_encoder PUBLIC PkgConfig::OPENBLAS PkgConfig::JANSSON ofr_tokenizers ofr_glue
                      ofr_espnet ofr_engine ofr_common ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_encoder)

# `flops` needs nothing; `torch` compares every layer and exit with the
# python3-torch reference tests/ref/encoder_ref.py (skips without torch).
ofr_add_test(test_encoder SOURCES tests/unit/test_encoder.c LIBS ofr_encoder
             ARGS flops LABELS unit TIMEOUT 60)
add_test(NAME test_encoder_torch COMMAND test_encoder torch)
set_tests_properties(test_encoder_torch PROPERTIES TIMEOUT 90 LABELS unit
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFR_PLUGIN_DIR=${OFR_PLUGIN_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
set_tests_properties(test_encoder PROPERTIES SKIP_RETURN_CODE 77)
