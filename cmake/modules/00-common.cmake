# common/: errors, logging, buffers, RNG, shared plain types.
add_library(ofr_common STATIC common/ofr_common.c common/ofr_types.c common/ofr_paths.c)
target_include_directories(ofr_common PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_common PUBLIC PkgConfig::SODIUM ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_common)
