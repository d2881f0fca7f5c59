# The classification early-exit methods (plugins/README.md has the table)
# and the unit test of their decision rules.
set(OFR_METHOD_PLUGINS entropy maxprob patience palbert berxit jei quee oracle)
foreach(m ${OFR_METHOD_PLUGINS})
  ofr_add_plugin(${m} plugins/${m}.c)
endforeach()
install(TARGETS ${OFR_METHOD_PLUGINS} LIBRARY DESTINATION lib/offramp/plugins)

ofr_add_test(test_methods SOURCES tests/unit/test_methods.c
             LIBS ${CMAKE_DL_LIBS} ${M_LIB} TIMEOUT 60)
add_dependencies(test_methods ${OFR_METHOD_PLUGINS})
