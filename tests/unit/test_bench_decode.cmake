# test_bench_decode.cmake -- cmake -DOFFRAMP=path/offramp -P this-file
# `offramp bench decode --shape tiny --format json` with a small bandwidth
# buffer: every field is there, tokens/s and the bandwidth are positive, the
# bound is bandwidth / weight bytes, the ratio is tokens/s / bound, the core
# is named and threads > 0.
execute_process(
  COMMAND ${OFFRAMP} bench decode --shape tiny --format json --tokens 16 --repeat 3 --threads 1
          --bw-mb 64 --bw-repeat 2
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "offramp bench decode failed (${rc}):\n${err}\n${out}")
endif()
message(STATUS "output: ${out}")

function(get var)
  string(JSON v ERROR_VARIABLE e GET "${out}" ${ARGN})
  if(e)
    message(FATAL_ERROR "JSON field ${ARGN}: ${e}")
  endif()
  set(${var} "${v}" PARENT_SCOPE)
endfunction()

function(expect_range what v lo hi)   # lo < v <= hi
  if(NOT (v GREATER lo AND NOT v GREATER hi))
    message(FATAL_ERROR "${what} = ${v}, want (${lo}, ${hi}]")
  endif()
endfunction()

get(bench benchmark)
get(core core)
get(threads threads)
get(layers layers)
get(batch batch)
get(wb weight_bytes_per_token)
get(tmed tokens_per_s median)
get(tmin tokens_per_s min)
get(tmax tokens_per_s max)
get(bw bandwidth_gbs best)
get(bound bound_tokens_per_s)
get(boundkv bound_with_kv_tokens_per_s)
get(ratio ratio)
if(NOT bench STREQUAL "decode" OR core STREQUAL "" OR NOT threads GREATER 0
   OR NOT layers EQUAL 2 OR NOT batch EQUAL 1)
  message(FATAL_ERROR "header: benchmark '${bench}' core '${core}' threads '${threads}' "
                      "layers '${layers}' batch '${batch}'")
endif()
# tiny: d 64, hidden 172, 2 layers, kv 32, vocab 512 (tied): 4 * (2 * (128 +
# 64*128 + 64*64 + 3*64*172) + 64 + 512*64 + 64) bytes.
math(EXPR want_wb "4 * (2 * (128 + 64*128 + 64*64 + 3*64*172) + 64 + 512*64 + 64)")
if(NOT wb EQUAL want_wb)
  message(FATAL_ERROR "weight bytes ${wb}, want ${want_wb}")
endif()
expect_range("tokens/s median" ${tmed} 0 1e9)
if(tmin GREATER tmed OR tmed GREATER tmax)
  message(FATAL_ERROR "tokens/s range ${tmin} <= ${tmed} <= ${tmax} broken")
endif()
expect_range("bandwidth GB/s" ${bw} 0.1 10000)
if(NOT boundkv LESS bound)
  message(FATAL_ERROR "bound with KV ${boundkv} not below ${bound}")
endif()
# bound = bw * 1e9 / wb and ratio = median / bound, to 1%.
foreach(pair "bound;${bound};${bw}*1e9/${wb}" "ratio;${ratio};${tmed}/${bound}")
  list(GET pair 0 what)
  list(GET pair 1 got)
  list(GET pair 2 expr)
  execute_process(COMMAND awk "BEGIN { g = ${got}; w = ${expr}; d = g - w; if (d < 0) d = -d; exit !(d <= 0.01 * w + 1e-9) }"
                  RESULT_VARIABLE bad)
  if(bad)
    message(FATAL_ERROR "${what} = ${got}, want ${expr}")
  endif()
endforeach()
