# Hugging Face Llama checkpoints (workers/models/hf_llama.c: config.json +
# model.safetensors into the llama2.c runtime's structures, q/k rows
# permuted from rotate-half RoPE) for `offramp generate` and the model
# registry (hf_llama_model.c, into ofr_core), and `offramp bench decode`
# (batch-1 tokens/s vs the memory-bandwidth bound, into ofr_bench).
find_package(Threads REQUIRED)
target_sources(ofr_llama PRIVATE workers/models/hf_llama.c)
# safetensors.c lives in ofr_espnet, bpe_bytes.c (and jansson) in ofr_tokenizers.
target_link_libraries(ofr_llama PUBLIC ofr_tokenizers ofr_espnet)
cmake_language(DEFER CALL target_sources ofr_core PRIVATE
  ${CMAKE_SOURCE_DIR}/workers/models/hf_llama_model.c)
target_sources(ofr_bench PRIVATE workers/models/cmd_bench_decode.c)
target_link_libraries(ofr_bench PUBLIC ofr_llama Threads::Threads)

# Generated HF-Llama checkpoints (tests/ref/hf_llama_ref.py, stdlib only to
# write them): unit = bad inputs of the HF and llama2.c paths through the
# loader, the registry's opener and `offramp generate` (skips, 77, without
# python3); torch = per-token logits against HF's LlamaModel math in
# float64 torch (GQA, tied and untied heads; skips without /usr/bin/python3
# + torch).
ofr_add_test(test_hf_llama SOURCES tests/unit/test_hf_llama.c LIBS ofr_core ofr_llama
             ARGS unit LABELS unit TIMEOUT 120)
add_test(NAME test_hf_llama_torch COMMAND test_hf_llama torch)
set_tests_properties(test_hf_llama test_hf_llama_torch PROPERTIES SKIP_RETURN_CODE 77)
set_tests_properties(test_hf_llama_torch PROPERTIES TIMEOUT 120 LABELS unit
  SKIP_RETURN_CODE 77
  ENVIRONMENT "OFR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OFR_BUILD_DIR=${CMAKE_BINARY_DIR};OFFRAMP=${CMAKE_BINARY_DIR}/offramp")
add_dependencies(test_hf_llama offramp)

# A short real run on the tiny generated shape: the JSON has sane fields.
add_test(NAME bench_decode_tiny
  COMMAND ${CMAKE_COMMAND} -DOFFRAMP=$<TARGET_FILE:offramp>
          -P ${CMAKE_SOURCE_DIR}/tests/unit/test_bench_decode.cmake)
set_tests_properties(bench_decode_tiny PROPERTIES TIMEOUT 60 LABELS bench)
