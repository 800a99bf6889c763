# SPDX-License-Identifier: BSD-3-Clause
# FindHiredis.cmake: one imported target, hiredis::hiredis, on every hiredis we support.
#
# Upstream hiredis >= 1.0 installs a CMake package exporting hiredis::hiredis. Debian
# bookworm's 0.14.1 does not: its HiredisConfig.cmake only sets two variables, so a plain
# find_dependency(hiredis) fails there. This module prefers the upstream target and falls
# back to pkg-config. Sets Hiredis_FOUND and Hiredis_VERSION.

if(TARGET hiredis::hiredis)
  # Found earlier in this scope, or by upstream's own package: keep the version it reported, which
  # the AirportCache config checks against the one we were built with.
  if(NOT Hiredis_VERSION AND hiredis_VERSION)
    set(Hiredis_VERSION "${hiredis_VERSION}")
  endif()
  set(Hiredis_FOUND TRUE)
  return()
endif()

find_package(hiredis CONFIG QUIET)
if(TARGET hiredis::hiredis)
  set(Hiredis_VERSION "${hiredis_VERSION}")
else()
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(PC_HIREDIS QUIET hiredis)
  endif()
  find_path(Hiredis_INCLUDE_DIR hiredis/hiredis.h HINTS ${PC_HIREDIS_INCLUDEDIR})
  find_library(Hiredis_LIBRARY NAMES hiredis HINTS ${PC_HIREDIS_LIBDIR} ${PC_HIREDIS_LIBRARY_DIRS})
  set(Hiredis_VERSION "${PC_HIREDIS_VERSION}")
  if(NOT Hiredis_VERSION AND Hiredis_INCLUDE_DIR)
    file(STRINGS "${Hiredis_INCLUDE_DIR}/hiredis/hiredis.h" _hiredis_version_lines
         REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH) [0-9]+")
    foreach(_part MAJOR MINOR PATCH)
      string(REGEX MATCH "HIREDIS_${_part} ([0-9]+)" _match "${_hiredis_version_lines}")
      set(_hiredis_${_part} "${CMAKE_MATCH_1}")
    endforeach()
    set(Hiredis_VERSION "${_hiredis_MAJOR}.${_hiredis_MINOR}.${_hiredis_PATCH}")
  endif()
  mark_as_advanced(Hiredis_INCLUDE_DIR Hiredis_LIBRARY)
endif()

include(FindPackageHandleStandardArgs)
if(TARGET hiredis::hiredis)
  find_package_handle_standard_args(Hiredis REQUIRED_VARS Hiredis_VERSION VERSION_VAR Hiredis_VERSION)
else()
  find_package_handle_standard_args(Hiredis REQUIRED_VARS Hiredis_LIBRARY Hiredis_INCLUDE_DIR
                                    VERSION_VAR Hiredis_VERSION)
  if(Hiredis_FOUND)
    # Only the include path and the library: pkg-config's -D_FILE_OFFSET_BITS=64 is deliberately
    # not carried, so it can never leak into a consumer's flags through our target.
    add_library(hiredis::hiredis UNKNOWN IMPORTED)
    set_target_properties(hiredis::hiredis PROPERTIES
      IMPORTED_LOCATION "${Hiredis_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${Hiredis_INCLUDE_DIR}")
  endif()
endif()
