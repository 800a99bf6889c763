# SPDX-License-Identifier: BSD-3-Clause
# What an install puts in PREFIX: the licence, the headers with the generated version.hpp, the
# CMake package, the .pc, the library of the expected kind, and nothing from tests/support.
# With -DDEMO=ON, bin/airport-cache-demo must be there and `--list` must run from the prefix;
# with -DADAPTER=ON, the Prometheus adapter's export file must sit next to our config.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require(PREFIX SOURCE_DIR SHARED DEMO ADAPTER)

file(GLOB_RECURSE installed RELATIVE "${PREFIX}" "${PREFIX}/*")
set(library "libairport_cache.a")
if(SHARED)
  set(library "libairport_cache.so")
endif()
expect_in("${installed}" "the installed files of ${PREFIX}"
          "share/doc/airport-cache/LICENSE" "include/airport/cache.hpp"
          "include/airport/cache/version.hpp" "cmake/AirportCache/AirportCacheConfig.cmake"
          "cmake/AirportCache/AirportCacheConfigVersion.cmake"
          "cmake/AirportCache/AirportCacheTargets.cmake" "cmake/AirportCache/FindHiredis.cmake"
          "pkgconfig/airport-cache.pc" "${library}")
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${SOURCE_DIR}/LICENSE"
                        "${PREFIX}/share/doc/airport-cache/LICENSE" RESULT_VARIABLE differs)
if(differs)
  message(FATAL_ERROR "packaging: the installed LICENSE differs from ${SOURCE_DIR}/LICENSE")
endif()
if(installed MATCHES "server_process|scenarios|gtest|GTest")
  message(FATAL_ERROR "packaging: test or example internals were installed: ${installed}")
endif()

if(ADAPTER)
  expect_in("${installed}" "the installed files of ${PREFIX}"
            "cmake/AirportCache/AirportCachePrometheusTargets.cmake")
elseif(installed MATCHES "Prometheus")
  message(FATAL_ERROR "packaging: an install without the adapter installed ${installed}")
endif()

if(DEMO)
  # From the prefix, with no build tree around: only the installed binary and library.
  run("airport-cache-demo --list" "${PREFIX}/bin/airport-cache-demo" --list)
  string(STRIP "${last_output}" listed)
  expect_in("${listed}" "airport-cache-demo --list" "flight_search" "seat_reservation")
  message(STATUS "airport-cache-demo --list:\n${listed}")
elseif(installed MATCHES "bin/")
  message(FATAL_ERROR "packaging: an install without examples installed ${installed}")
endif()
