# SPDX-License-Identifier: BSD-3-Clause
# The parent's installed package config: fleet::core links airport::cache, so it finds
# AirportCache first, from the same prefix.
include(CMakeFindDependencyMacro)
find_dependency(AirportCache)
include("${CMAKE_CURRENT_LIST_DIR}/FleetTargets.cmake")
