# SPDX-License-Identifier: BSD-3-Clause
# Builds tests/packaging/consumer/main.cpp with nothing but the C++ compiler and
# `pkg-config --cflags --libs airport-cache` (with --static for a STATIC install), then runs it.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require(PREFIX SOURCE WORK_DIR CXX_COMPILER SHARED)

find_program(PKG_CONFIG pkg-config)
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "packaging: pkg-config not found; install pkg-config (scripts/setup does)")
endif()
file(GLOB_RECURSE pc_file "${PREFIX}/airport-cache.pc")
if(NOT pc_file)
  message(FATAL_ERROR "packaging: no airport-cache.pc under ${PREFIX}")
endif()
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
get_filename_component(lib_dir "${pc_dir}" DIRECTORY)

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(static_flag)
if(NOT SHARED)
  set(static_flag --static)
endif()
# Only our prefix is added; the system's fmt, spdlog, nlohmann_json and OpenSSL .pc files come
# from pkg-config's default path, as they would for a user.
run("pkg-config" ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${pc_dir}"
    ${PKG_CONFIG} ${static_flag} --cflags --libs airport-cache)
string(STRIP "${last_output}" flags)
message(STATUS "pkg-config ${static_flag} --cflags --libs airport-cache: ${flags}")
# The .pc is relocatable: ${pcfiledir} resolves to this prefix, not to the one configured.
expect_in("${flags}" "pkg-config flags" "-lairport_cache" "${PREFIX}")
if(flags MATCHES "_FILE_OFFSET_BITS|/hiredis( |$)")
  message(FATAL_ERROR "packaging: pkg-config leaks hiredis's compile flags: ${flags}")
endif()
if(NOT SHARED)
  expect_in("${flags}" "pkg-config --static flags" "-lhiredis" "-lssl" "-lcrypto")
endif()

separate_arguments(flags UNIX_COMMAND "${flags}")
run("compile with pkg-config flags" ${CXX_COMPILER} -std=c++20 "${SOURCE}" -o "${WORK_DIR}/consumer"
    ${flags})
# A shared install is found the way a user of a private prefix finds it: LD_LIBRARY_PATH.
run("run consumer" ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${lib_dir}" "${WORK_DIR}/consumer")
check_consumer_line("${last_output}")
