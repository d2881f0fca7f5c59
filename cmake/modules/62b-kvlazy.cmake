# The KV recompute policy (issue 6): positions that exited early get the
# K/V of their missing layers computed lazily when a later token needs them
# (workers/models/kv_lazy.c, used by the decoder driver for methods whose
# KV policy is OFR_KV_RECOMPUTE); test: equals running the missing layers,
# FLOPs against a hand count.
target_sources(ofr_llama PRIVATE workers/models/kv_lazy.c)
ofr_add_test(test_kv_lazy SOURCES tests/unit/test_kv_lazy.c LIBS ofr_llama
             LABELS unit TIMEOUT 60)

# Through the decoder driver (coordinator + worker, calm kv=recompute on
# stories260K): the texts equal a float64 torch reference that runs the
# missing layers, each token read at the driver's recorded exit layer;
# copy_up and mask do not (skips without torch or stories260K).
add_test(NAME it_kv_recompute COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_kv_recompute.sh)
set_tests_properties(it_kv_recompute PROPERTIES TIMEOUT 60 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
