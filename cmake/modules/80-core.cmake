# The run path: runner (classifier driver + plugin host table), worker
# daemon and its task child, model registry, coordinator and the CLI
# commands that glue them.
add_library(ofr_core STATIC
  workers/runner.c workers/task_child.c workers/worker.c workers/cmd_worker.c
  workers/artifacts.c
  workers/cmd_models.c workers/models/registry.c
  harness/coordinator.c harness/cmd_run.c suites/cmd_suites.c)
target_include_directories(ofr_core PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_core PUBLIC ofr_protocol ofr_plan ofr_results ofr_pluginhost
  ofr_engine ofr_encoder ofr_suites ofr_glue ofr_common PkgConfig::ZMQ PkgConfig::OPENBLAS
  PkgConfig::JANSSON ${M_LIB})
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_core)
