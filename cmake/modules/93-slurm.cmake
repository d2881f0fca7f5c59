# harness/slurm.c: `offramp run --slurm` renders an sbatch script (the
# coordinator on the batch node, `srun offramp worker` on every node) and
# submits it. docs/SLURM.md.
add_library(ofr_slurm STATIC harness/slurm.c)
target_include_directories(ofr_slurm PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ofr_slurm PUBLIC ofr_security ofr_common)
target_link_libraries(ofr_core PUBLIC ofr_slurm)
set_property(GLOBAL APPEND PROPERTY OFR_CLI_LIBS ofr_slurm)

ofr_add_test(test_slurm SOURCES tests/unit/test_slurm.c LIBS ofr_slurm
             LABELS "unit;slurm" TIMEOUT 60)

# A real single-node Slurm (slurmctld + slurmd started by the test on this
# machine, private slurm.conf, torn down after) runs a plan end to end; its
# report must equal a local run. Needs root and slurm-wlm (make deps-test);
# skips with 77 otherwise. `ctest -L slurm` runs only these, `-LE slurm`
# leaves them out.
add_test(NAME it_slurm COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_slurm.sh)
set_tests_properties(it_slurm PROPERTIES TIMEOUT 300 LABELS "slurm;integration"
  SKIP_RETURN_CODE 77 RESOURCE_LOCK ofr_slurm
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
