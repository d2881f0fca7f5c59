# The shipped MRPC/RTE multi-exit checkpoints (recipes/pretrain_mlm.py +
# train_glue.py --init) in the C runtime against python3-torch on dev.
add_test(NAME it_glue_pairs COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_glue_pairs.sh)
set_tests_properties(it_glue_pairs PROPERTIES TIMEOUT 180 LABELS integration SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")

# RTE's HF-CSV quoting is undone as recipes/glue_data.py does; MRPC untouched.
ofr_add_test(test_glue_quoted SOURCES tests/unit/test_glue_quoted.c LIBS ofr_glue LABELS unit TIMEOUT 30)
