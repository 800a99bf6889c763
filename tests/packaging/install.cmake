# SPDX-License-Identifier: BSD-3-Clause
# Fixture for the packaging tests: configures, builds and installs airport-cache into
# WORK_DIR/prefix, STATIC or SHARED (-DSHARED=ON), with bin/airport-cache-demo when -DDEMO=ON and
# the Prometheus adapter (adapters/prometheus, needs prometheus-cpp) when -DADAPTER=ON.
# Only the targets an install needs are built: the library, and the demo and adapter where asked
# for; without ADAPTER the adapter is not configured at all (AIRPORT_CACHE_BUILD_PROMETHEUS=OFF), so its install rule has nothing to do.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require(SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER SHARED DEMO ADAPTER)

file(REMOVE_RECURSE "${WORK_DIR}")
set(targets airport_cache)
if(DEMO)
  list(APPEND targets airport-cache-demo)
endif()
set(adapter_args -DAIRPORT_CACHE_BUILD_PROMETHEUS=${ADAPTER})
# No CMAKE_BUILD_TYPE: -O0 without -g compiles the library in about half the time of Release,
# and these tests are about what gets installed, not about speed.
run("configure library" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix
    -DBUILD_SHARED_LIBS=${SHARED} -DAIRPORT_CACHE_BUILD_TESTS=OFF
    -DAIRPORT_CACHE_BUILD_EXAMPLES=${DEMO} -DAIRPORT_CACHE_BUILD_BENCHMARKS=OFF
    -DAIRPORT_CACHE_INSTALL=ON ${adapter_args})
if(ADAPTER)
  file(STRINGS "${WORK_DIR}/build/CMakeCache.txt" prometheus_dir REGEX "^prometheus-cpp_DIR:")
  if(NOT prometheus_dir OR prometheus_dir MATCHES "NOTFOUND")
    message(FATAL_ERROR "packaging: prometheus-cpp not found, so the adapter cannot be installed; "
                        "install prometheus-cpp-dev (scripts/setup does)")
  endif()
  list(APPEND targets airport_cache_prometheus)
endif()
run("build ${targets}" ${CMAKE_COMMAND} --build "${WORK_DIR}/build" --parallel 2 --target ${targets})
run("install" ${CMAKE_COMMAND} --install "${WORK_DIR}/build")
