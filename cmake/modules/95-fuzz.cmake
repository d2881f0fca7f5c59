# tests/fuzz: libFuzzer targets for the parsers of untrusted input (wire
# messages, plans, GLUE TSV, safetensors headers, tokenizer files, PNG).
#
# Every build replays the committed seed corpus and every regression input
# (tests/fuzz/corpus/<t>, tests/fuzz/regressions/<t>) through the same
# LLVMFuzzerTestOneInput with a plain main (fuzz_regress_<t>, gcc, ASan in
# the sanitizer build). The fuzzers themselves need clang:
#   CC=clang cmake -B build-fuzz -DOFR_FUZZ=ON && cmake --build build-fuzz --target fuzz_all
#   cd build-fuzz && ctest -L fuzz        (make fuzz; OFR_FUZZ_SECONDS per target)
option(OFR_FUZZ "Build the libFuzzer targets (needs CC=clang)" OFF)
set(OFR_FUZZ_SECONDS 20 CACHE STRING "seconds of fuzzing per target in ctest -L fuzz")

set(OFR_FUZZ_TARGETS protocol plan glue_tsv safetensors wordpiece_vocab llama2c_tokenizer png)
# Per target: the sources under test (fuzz build) and the libraries (replay).
set(OFR_FUZZ_SRC_protocol          harness/protocol.c)
set(OFR_FUZZ_DEP_protocol          PkgConfig::MSGPACK)
set(OFR_FUZZ_LIB_protocol          ofr_protocol)
set(OFR_FUZZ_SRC_plan              harness/plan.c)
set(OFR_FUZZ_DEP_plan              PkgConfig::YAML)
set(OFR_FUZZ_LIB_plan              ofr_plan)
set(OFR_FUZZ_SRC_glue_tsv          suites/tsv.c)
set(OFR_FUZZ_LIB_glue_tsv          ofr_glue)
set(OFR_FUZZ_SRC_safetensors       workers/models/safetensors.c workers/models/jsonlite.c)
set(OFR_FUZZ_LIB_safetensors       ofr_espnet)
set(OFR_FUZZ_SRC_wordpiece_vocab   workers/text/wordpiece.c workers/text/wp_text.c
                                   workers/text/wordpiece_tables.c workers/text/utf8.c)
set(OFR_FUZZ_LIB_wordpiece_vocab   ofr_glue)
set(OFR_FUZZ_SRC_llama2c_tokenizer workers/text/bpe_llama2c.c)
set(OFR_FUZZ_LIB_llama2c_tokenizer ofr_llama)
set(OFR_FUZZ_SRC_png               suites/image_png.c)
set(OFR_FUZZ_DEP_png               PkgConfig::PNG)
set(OFR_FUZZ_LIB_png               ofr_espnet)

set(OFR_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
foreach(t ${OFR_FUZZ_TARGETS})
  ofr_add_test(fuzz_regress_${t} SOURCES tests/fuzz/fuzz_${t}.c tests/fuzz/replay_main.c
               LIBS ${OFR_FUZZ_LIB_${t}} LABELS "unit;fuzz-regress" TIMEOUT 120
               ARGS ${OFR_FUZZ_DIR}/corpus/${t} ${OFR_FUZZ_DIR}/regressions/${t})
endforeach()

if(OFR_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "OFR_FUZZ=ON needs clang (CC=clang cmake -B build-fuzz -DOFR_FUZZ=ON); "
                        "the compiler is ${CMAKE_C_COMPILER_ID}")
  endif()
  set(OFR_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
                     -fno-omit-frame-pointer -g)
  add_custom_target(fuzz_all)
  foreach(t ${OFR_FUZZ_TARGETS})
    # The code under test is compiled into the fuzzer itself, instrumented.
    add_executable(fuzz_${t} tests/fuzz/fuzz_${t}.c ${OFR_FUZZ_SRC_${t}}
                   common/ofr_common.c common/ofr_types.c common/ofr_paths.c)
    set_target_properties(fuzz_${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    target_include_directories(fuzz_${t} PRIVATE ${CMAKE_SOURCE_DIR})
    target_compile_options(fuzz_${t} PRIVATE ${OFR_FUZZ_FLAGS})
    target_link_options(fuzz_${t} PRIVATE ${OFR_FUZZ_FLAGS})
    target_link_libraries(fuzz_${t} PRIVATE ${OFR_FUZZ_DEP_${t}} PkgConfig::SODIUM ${M_LIB})
    add_dependencies(fuzz_all fuzz_${t})
    add_test(NAME fuzz_${t}
      COMMAND bash ${OFR_FUZZ_DIR}/run_fuzz.sh $<TARGET_FILE:fuzz_${t}> ${t}
              ${OFR_FUZZ_DIR} ${CMAKE_BINARY_DIR}/fuzz-work ${OFR_FUZZ_SECONDS})
    set_tests_properties(fuzz_${t} PROPERTIES LABELS fuzz
      TIMEOUT 300)
  endforeach()
endif()
