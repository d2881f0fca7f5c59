# ESPNet CamVid segmentation runtime: safetensors reader, CNN operators
# (conv.c), the ESPNet model, the CamVid suite (libpng) and `offramp import`.
if(NOT TARGET PkgConfig::PNG)
  pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
endif()

add_library(ofr_espnet STATIC
  workers/models/jsonlite.c workers/models/safetensors.c
  workers/engine/conv.c workers/models/espnet.c workers/models/espnet_model.c
  suites/image_png.c suites/camvid.c
  workers/models/cmd_import.c)
target_include_directories(ofr_espnet PUBLIC ${CMAKE_SOURCE_DIR})
# The per-activation loops (PReLU, im2col, col2im) only vectorize at -O3,
# and the branch-free PReLU select needs -fno-trapping-math (no code here
# relies on floating-point exceptions).
set_source_files_properties(workers/engine/conv.c PROPERTIES
  COMPILE_OPTIONS "$<$<NOT:$<CONFIG:Debug>>:-O3;-fno-trapping-math>")
target_link_libraries(ofr_espnet PUBLIC PkgConfig::OPENBLAS PkgConfig::PNG ofr_common ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_espnet)
# The suite registry (ofr_suites, suites/registry.c) lists ofr_suite_camvid
# and the model registry (ofr_core) opens ESPNet directories with
# ofr_espnet_model_open: both reach this library through ofr_suites.
target_link_libraries(ofr_suites PUBLIC ofr_espnet)

ofr_add_test(test_conv SOURCES tests/unit/test_conv.c LIBS ofr_espnet LABELS unit TIMEOUT 30)
ofr_add_test(test_safetensors SOURCES tests/unit/test_safetensors.c LIBS ofr_espnet
             LABELS unit TIMEOUT 30)
ofr_add_test(test_camvid SOURCES tests/unit/test_camvid.c LIBS ofr_espnet LABELS unit TIMEOUT 30)
# Needs ../shared (checkpoint + CamVid) and /usr/bin/python3 with torch; skips otherwise.
ofr_add_test(test_espnet SOURCES tests/unit/test_espnet.c LIBS ofr_espnet LABELS unit TIMEOUT 300)
# ESPNet + the camvid suite through the runner (workers/runner.c); same needs.
ofr_add_test(test_espnet_runner SOURCES tests/unit/test_espnet_runner.c
             LIBS ofr_core ofr_espnet LABELS unit TIMEOUT 120)
set_tests_properties(test_safetensors test_camvid test_espnet test_espnet_runner
                     PROPERTIES SKIP_RETURN_CODE 77)

# The CamVid measurement (all 233 test images; not a ctest, it takes a
# while): build/espnet_camvid_eval --model DIR [--data CAMVID_DIR].
add_executable(espnet_camvid_eval tools/espnet_camvid_eval.c)
target_link_libraries(espnet_camvid_eval PRIVATE ofr_espnet)

# The harness path (coordinator + workers, `offramp run`) on 6 CamVid images;
# skips until the registries list camvid / ESPNet, or without ../shared.
add_test(NAME it_espnet_camvid COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_espnet_camvid.sh)
set_tests_properties(it_espnet_camvid PROPERTIES TIMEOUT 180 LABELS integration
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
