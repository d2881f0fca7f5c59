# Blob service (issue 9): workers fetch missing plugins, model and data files
# from the coordinator by content hash (harness/blobs.c serves them,
# workers/blob_cache.c caches and verifies them).
target_sources(ofr_core PRIVATE harness/blobs.c workers/blob_cache.c)

add_test(NAME it_blobs COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_blobs.sh)
set_tests_properties(it_blobs PROPERTIES TIMEOUT 600 LABELS integration
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
