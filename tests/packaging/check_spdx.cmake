# SPDX-License-Identifier: BSD-3-Clause
# Every source file (*.cpp, *.hpp, CMakeLists.txt, *.cmake, *.in, scripts/*, .ci/run) carries
# `SPDX-License-Identifier: BSD-3-Clause` in its first 3 lines (a shebang may come first).
# The files are git's: tracked, plus new ones not yet added and not ignored, so a file a change
# introduces is checked before it is committed. Without git or a .git, a glob of the same set.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require(SOURCE_DIR)

find_program(GIT git)
set(files)
if(GIT AND EXISTS "${SOURCE_DIR}/.git")
  run("git ls-files" ${GIT} -C "${SOURCE_DIR}" ls-files --cached --others --exclude-standard)
  string(REPLACE "\n" ";" files "${last_output}")
else()
  message(STATUS "packaging: no git checkout at ${SOURCE_DIR}; globbing instead")
  file(GLOB_RECURSE files RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/*")
  list(FILTER files EXCLUDE REGEX "^(build|build-[^/]*|\\.git|\\.cache)/")
endif()
list(FILTER files INCLUDE REGEX
     "(\\.cpp|\\.hpp|(^|/)CMakeLists\\.txt|\\.cmake|\\.in)$|^scripts/[^/]+$|^\\.ci/run$")

set(checked 0)
set(missing)
foreach(file IN LISTS files)
  # A tracked file deleted in the working tree is not ours to check.
  if(NOT EXISTS "${SOURCE_DIR}/${file}" OR IS_DIRECTORY "${SOURCE_DIR}/${file}")
    continue()
  endif()
  file(STRINGS "${SOURCE_DIR}/${file}" head LIMIT_COUNT 3)
  if(NOT head MATCHES "SPDX-License-Identifier: BSD-3-Clause")
    list(APPEND missing "${file}")
  endif()
  math(EXPR checked "${checked} + 1")
endforeach()
if(missing)
  list(JOIN missing "\n  " missing)
  message(FATAL_ERROR "packaging: no `SPDX-License-Identifier: BSD-3-Clause` in the first 3 lines of:\n  ${missing}")
endif()
if(checked LESS 50)
  # The file list came back nearly empty: the check would pass without checking anything.
  message(FATAL_ERROR "packaging: only ${checked} files matched; is SOURCE_DIR=${SOURCE_DIR} right?")
endif()
message(STATUS "packaging: ${checked} files carry the SPDX line")
