# SPDX-License-Identifier: BSD-3-Clause
# The hiredis pin: a consumer of a STATIC install links hiredis itself, so find_package must
# refuse a hiredis of another major.minor than the one airport-cache was built against, and say
# which two. Fake hiredis prefixes placed first on CMAKE_PREFIX_PATH play the other hiredis:
#   1.2.0 through pkg-config + hiredis.h (as FindHiredis finds Debian's), and
#   1.2.0 as an upstream CMake package with hiredis::hiredis    -> both refused;
#   BUILT_MAJOR.BUILT_MINOR.99 through pkg-config (a patch release)          -> accepted;
#   1.2.0 against the SHARED install                                  -> accepted (the .so
#   carries its own DT_NEEDED on hiredis's soname).
# Only the consumer's configure step runs: the fakes have no real library to link.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require(STATIC_PREFIX SHARED_PREFIX CONSUMER_DIR WORK_DIR GENERATOR CXX_COMPILER HIREDIS_VERSION)

file(REMOVE_RECURSE "${WORK_DIR}")
if(NOT HIREDIS_VERSION MATCHES "^([0-9]+)\\.([0-9]+)")
  message(FATAL_ERROR "packaging: cannot read the built hiredis version '${HIREDIS_VERSION}'")
endif()
set(patch_release "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}.99")

# A hiredis found by pkg-config: hiredis.pc, include/hiredis/hiredis.h, lib/libhiredis.so.
function(fake_pkg_config_hiredis dir version)
  string(REPLACE "." ";" parts "${version}")
  list(GET parts 0 major)
  list(GET parts 1 minor)
  list(GET parts 2 patch)
  file(WRITE "${dir}/lib/pkgconfig/hiredis.pc"
       "prefix=${dir}\nlibdir=\${prefix}/lib\nincludedir=\${prefix}/include\n\n"
       "Name: hiredis\nDescription: fake hiredis for the packaging test\nVersion: ${version}\n"
       "Libs: -L\${libdir} -lhiredis\nCflags: -I\${includedir}\n")
  file(WRITE "${dir}/include/hiredis/hiredis.h"
       "#define HIREDIS_MAJOR ${major}\n#define HIREDIS_MINOR ${minor}\n#define HIREDIS_PATCH ${patch}\n")
  file(WRITE "${dir}/lib/libhiredis.so" "")
endfunction()

# A hiredis found as upstream >= 1.0 installs itself: a CMake package exporting hiredis::hiredis.
function(fake_cmake_hiredis dir version)
  file(WRITE "${dir}/lib/cmake/hiredis/hiredis-config.cmake"
       "add_library(hiredis::hiredis SHARED IMPORTED)\n"
       "set_target_properties(hiredis::hiredis PROPERTIES IMPORTED_LOCATION \"${dir}/lib/libhiredis.so.1.1.0\")\n")
  file(WRITE "${dir}/lib/cmake/hiredis/hiredis-config-version.cmake"
       "set(PACKAGE_VERSION ${version})\nset(PACKAGE_VERSION_COMPATIBLE TRUE)\n")
  file(WRITE "${dir}/lib/libhiredis.so.1.1.0" "")
endfunction()

# prefix_path is a `:`-separated search path, given through the environment: a `;` list would be
# split into separate arguments on its way through execute_process.
function(configure_consumer name prefix_path)
  set(args -E env "CMAKE_PREFIX_PATH=${prefix_path}" ${CMAKE_COMMAND} -S "${CONSUMER_DIR}"
      -B "${WORK_DIR}/build-${name}" -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
  if(ARGN STREQUAL "MUST_FAIL")
    expect_failure("find_package(AirportCache) with ${name}" ${CMAKE_COMMAND} ${args})
  else()
    run("find_package(AirportCache) with ${name}" ${CMAKE_COMMAND} ${args})
  endif()
  set(last_output "${last_output}" PARENT_SCOPE)
endfunction()

fake_pkg_config_hiredis("${WORK_DIR}/pc-1.2" 1.2.0)
configure_consumer(pc-1.2 "${WORK_DIR}/pc-1.2:${STATIC_PREFIX}" MUST_FAIL)
# CMake wraps long messages: compare with the line breaks and indentation taken out.
string(REGEX REPLACE "[ \n]+" " " said "${last_output}")
expect_in("${said}" "the refusal"
          "AirportCache was built against hiredis ${HIREDIS_VERSION} but found hiredis 1.2.0 at"
          "${WORK_DIR}/pc-1.2/lib/libhiredis.so")

fake_cmake_hiredis("${WORK_DIR}/cmake-1.2" 1.2.0)
configure_consumer(cmake-1.2 "${WORK_DIR}/cmake-1.2:${STATIC_PREFIX}" MUST_FAIL)
string(REGEX REPLACE "[ \n]+" " " said "${last_output}")
expect_in("${said}" "the refusal"
          "AirportCache was built against hiredis ${HIREDIS_VERSION} but found hiredis 1.2.0 at"
          "${WORK_DIR}/cmake-1.2/lib/libhiredis.so.1.1.0")

fake_pkg_config_hiredis("${WORK_DIR}/pc-patch" ${patch_release})
configure_consumer(pc-patch "${WORK_DIR}/pc-patch:${STATIC_PREFIX}")
# Accepted because it is the fake patch release, not because the system hiredis was found instead.
string(REGEX REPLACE "[ \n]+" " " said "${last_output}")
expect_in("${said}" "the configure output with a patch release"
          "Found Hiredis: ${WORK_DIR}/pc-patch/lib/libhiredis.so (found version \"${patch_release}\")")

configure_consumer(shared-pc-1.2 "${WORK_DIR}/pc-1.2:${SHARED_PREFIX}")
if(last_output MATCHES "Found Hiredis")
  message(FATAL_ERROR "packaging: the SHARED install's config looked for hiredis:\n${last_output}")
endif()
