# plugins/: the plugin host (loader, parameter resolution, directory scan,
# `offramp plugins`), the shipped baseline methods, test plugins and tests.
add_library(ofr_pluginhost STATIC workers/plugin_host.c workers/plugin_params.c
            workers/cmd_plugins.c)
target_include_directories(ofr_pluginhost PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_pluginhost PUBLIC ${CMAKE_DL_LIBS} ofr_common Threads::Threads)
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_pluginhost)

ofr_add_plugin(full plugins/full.c)
ofr_add_plugin(truncate plugins/truncate.c)
# Where ofr_plugin_default_path() looks in an installed layout.
install(TARGETS full truncate LIBRARY DESTINATION lib/offramp/plugins)

# Plugins for tests only, kept out of build/plugins so that the default
# scan never sees them: crash and sleepy in build/tests/plugins (the
# integration tests put that directory on --plugins), the broken ones in
# build/tests/badplugins, one per variant of tests/plugins/bad.c.
function(ofr_add_test_plugin target src dir)
  ofr_add_plugin(${target} ${src})
  set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${dir})
endfunction()

ofr_add_test_plugin(testplugin_crash tests/plugins/crash.c ${OFR_TEST_DIR}/plugins)
ofr_add_test_plugin(testplugin_sleepy tests/plugins/sleepy.c ${OFR_TEST_DIR}/plugins)
set_target_properties(testplugin_crash PROPERTIES OUTPUT_NAME crash)
set_target_properties(testplugin_sleepy PROPERTIES OUTPUT_NAME sleepy)

set(OFR_BAD_PLUGINS missing_symbol wrong_major newer_minor null_entry small_struct
    bad_name long_name null_version null_summary no_kinds bad_kinds kv_policy
    no_create no_destroy too_many_params null_params negative_params
    bad_default default_range dup_param param_name param_type)
set(OFR_BAD_PLUGIN_TARGETS)
foreach(v ${OFR_BAD_PLUGINS})
  string(TOUPPER ${v} V)
  ofr_add_test_plugin(badplugin_${v} tests/plugins/bad.c ${OFR_TEST_DIR}/badplugins)
  set_target_properties(badplugin_${v} PROPERTIES OUTPUT_NAME ${v})
  target_compile_definitions(badplugin_${v} PRIVATE BAD_${V} BAD_NAME_STR=${v})
  list(APPEND OFR_BAD_PLUGIN_TARGETS badplugin_${v})
endforeach()

ofr_add_test(test_plugin_host SOURCES tests/unit/test_plugin_host.c
             LIBS ofr_pluginhost ofr_common TIMEOUT 60)
add_dependencies(test_plugin_host full truncate testplugin_crash testplugin_sleepy
                 ${OFR_BAD_PLUGIN_TARGETS})

# Builds a plugin out of tree with the system compiler against a copy of the
# header, the way a user would after `make install`.
ofr_add_test(test_plugin_oot SOURCES tests/unit/test_plugin_oot.c
             LIBS ofr_pluginhost ofr_common TIMEOUT 60)
set_tests_properties(test_plugin_oot PROPERTIES SKIP_RETURN_CODE 77)
