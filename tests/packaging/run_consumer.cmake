# SPDX-License-Identifier: BSD-3-Clause
# Installs airport-cache into a temporary prefix, then configures, builds and runs a consumer that
# only knows find_package(AirportCache). Run by ctest as packaging.find_package_consumer.
foreach(var SOURCE_DIR CONSUMER_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: ${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "packaging: ${step} failed (${result})\n${out}\n${err}")
  endif()
  message(STATUS "packaging: ${step}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run("configure library" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/library" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_INSTALL_PREFIX=${prefix} -DAIRPORT_CACHE_BUILD_TESTS=OFF
    -DAIRPORT_CACHE_BUILD_EXAMPLES=OFF -DAIRPORT_CACHE_BUILD_BENCHMARKS=OFF
    -DAIRPORT_CACHE_INSTALL=ON)
run("build library" ${CMAKE_COMMAND} --build "${WORK_DIR}/library" --parallel 2)
run("install library" ${CMAKE_COMMAND} --install "${WORK_DIR}/library")
run("configure consumer" ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}/consumer"
    -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_PREFIX_PATH=${prefix})
run("build consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/consumer")
run("run consumer" "${WORK_DIR}/consumer/consumer")
message(STATUS "consumer said: ${last_output}")
if(NOT last_output MATCHES "airport-cache [0-9]+\\.[0-9]+\\.[0-9]+ \\(hiredis [0-9]")
  message(FATAL_ERROR "packaging: the consumer printed an unexpected line: ${last_output}")
endif()
