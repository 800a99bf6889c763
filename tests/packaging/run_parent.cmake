# SPDX-License-Identifier: BSD-3-Clause
# Builds tests/packaging/parent, which vendors airport-cache, and runs its app.
#   MODE=add_subdirectory: the parent exports fleet::core (linking airport::cache) and turns
#     AIRPORT_CACHE_INSTALL on; it installs, and tests/packaging/downstream must then build and
#     run against that prefix with find_package(Fleet). Before that, the same parent with
#     AIRPORT_CACHE_INSTALL left at its default must fail to generate, naming the export set.
#   MODE=fetchcontent: FetchContent_Declare(SOURCE_DIR) with every airport-cache option at its
#     default; the parent exports nothing, and its install must not install airport-cache.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require(MODE SOURCE_DIR PARENT_DIR DOWNSTREAM_DIR WORK_DIR GENERATOR CXX_COMPILER)

file(REMOVE_RECURSE "${WORK_DIR}")
set(common_args -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DAIRPORT_CACHE_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)

if(MODE STREQUAL "add_subdirectory")
  # Configure only: the error comes at generate time, before anything is built.
  expect_failure("configure a parent that exports without AIRPORT_CACHE_INSTALL"
    ${CMAKE_COMMAND} -S "${PARENT_DIR}" -B "${WORK_DIR}/without-install" ${common_args}
    -DPARENT_AIRPORT_CACHE_INSTALL=DEFAULT -DPARENT_EXPORTS=ON)
  string(REGEX REPLACE "[ \n]+" " " said "${last_output}")
  expect_in("${said}" "the parent's configure error"
            "requires target \"airport_cache\" that is not in any export set")
  set(mode_args -DPARENT_AIRPORT_CACHE_INSTALL=ON -DPARENT_EXPORTS=ON)
elseif(MODE STREQUAL "fetchcontent")
  set(mode_args -DPARENT_USES_FETCHCONTENT=ON -DPARENT_AIRPORT_CACHE_INSTALL=DEFAULT
      -DPARENT_EXPORTS=OFF)
else()
  message(FATAL_ERROR "run_parent.cmake: unknown MODE ${MODE}")
endif()

run("configure parent (${MODE})" ${CMAKE_COMMAND} -S "${PARENT_DIR}" -B "${WORK_DIR}/build"
    ${common_args} ${mode_args})
if(MODE STREQUAL "fetchcontent")
  run("build parent" ${CMAKE_COMMAND} --build "${WORK_DIR}/build" --parallel 2 --target fleet_app)
else()
  # Everything, as a parent does before installing: its install covers all of airport-cache's
  # installed targets (not the Prometheus adapter: AIRPORT_CACHE_BUILD_PROMETHEUS is off in a parent).
  run("build parent" ${CMAKE_COMMAND} --build "${WORK_DIR}/build" --parallel 2)
endif()
run("run the parent's app" "${WORK_DIR}/build/fleet_app")
check_consumer_line("${last_output}")
expect_in("${last_output}" "the parent's app output" "key=fleet:flight:")
run("install parent" ${CMAKE_COMMAND} --install "${WORK_DIR}/build")
file(GLOB_RECURSE installed RELATIVE "${WORK_DIR}/prefix" "${WORK_DIR}/prefix/*")

if(MODE STREQUAL "fetchcontent")
  if(installed MATCHES "airport|AirportCache")
    message(FATAL_ERROR "packaging: a FetchContent parent installed airport-cache files: ${installed}")
  endif()
  return()
endif()

expect_in("${installed}" "the parent's prefix" "cmake/AirportCache/AirportCacheConfig.cmake"
          "cmake/Fleet/FleetTargets.cmake" "libairport_cache.a" "libfleet_core.a")
run("configure downstream" ${CMAKE_COMMAND} -S "${DOWNSTREAM_DIR}" -B "${WORK_DIR}/downstream"
    -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run("build downstream" ${CMAKE_COMMAND} --build "${WORK_DIR}/downstream")
run("run downstream" "${WORK_DIR}/downstream/downstream")
check_consumer_line("${last_output}")
