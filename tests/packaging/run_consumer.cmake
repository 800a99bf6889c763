# SPDX-License-Identifier: BSD-3-Clause
# Configures, builds and runs tests/packaging/consumer, which knows nothing but
# find_package(AirportCache), against an installed PREFIX. With -DSHARED=ON it also checks that
# the consumer loads libairport_cache.so from that prefix; without, that nothing loads it.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require(PREFIX CONSUMER_DIR WORK_DIR GENERATOR CXX_COMPILER SHARED)

file(REMOVE_RECURSE "${WORK_DIR}")
run("configure consumer" ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}" -G "${GENERATOR}"
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${PREFIX})
run("build consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}")
run("run consumer" "${WORK_DIR}/consumer")
check_consumer_line("${last_output}")

find_program(LDD ldd REQUIRED)
run("ldd consumer" ${LDD} "${WORK_DIR}/consumer")
if(SHARED)
  # The build tree's RPATH points into the prefix: the installed .so is the one that runs.
  file(GLOB installed_so "${PREFIX}/lib*/libairport_cache.so.*" "${PREFIX}/lib/*/libairport_cache.so.*")
  if(NOT installed_so)
    message(FATAL_ERROR "packaging: no libairport_cache.so.* under ${PREFIX}")
  endif()
  string(REGEX MATCH "libairport_cache\\.so[^\n]*" loaded "${last_output}")
  string(FIND "${loaded}" "=> ${PREFIX}/" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "packaging: the consumer does not load libairport_cache from ${PREFIX}:\n${last_output}")
  endif()
elseif(last_output MATCHES "libairport_cache")
  message(FATAL_ERROR "packaging: a static install gave a consumer that loads a shared libairport_cache:\n${last_output}")
endif()
