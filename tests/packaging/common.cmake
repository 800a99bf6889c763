# SPDX-License-Identifier: BSD-3-Clause
# Shared by the packaging test scripts (cmake -P): argument checks and one way to run a step.
cmake_minimum_required(VERSION 3.21)

# require(VAR...): fail with the script's name when the test did not pass a -DVAR.
macro(require)
  foreach(var ${ARGN})
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "${CMAKE_SCRIPT_MODE_FILE}: ${var} is not set")
    endif()
  endforeach()
endmacro()

# run(<step> <command>...): runs the command, fails the test with its output if it fails, and
# leaves its stdout in `last_output` and stderr in `last_error`.
function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "packaging: ${step} failed (${result})\n${out}\n${err}")
  endif()
  message(STATUS "packaging: ${step}: ok")
  set(last_output "${out}" PARENT_SCOPE)
  set(last_error "${err}" PARENT_SCOPE)
endfunction()

# expect_failure(<step> <command>...): the command must fail; its stdout+stderr go to
# `last_output` for the caller to check the message.
function(expect_failure step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(result EQUAL 0)
    message(FATAL_ERROR "packaging: ${step} succeeded but must fail\n${out}\n${err}")
  endif()
  message(STATUS "packaging: ${step}: failed, as it must")
  set(last_output "${out}\n${err}" PARENT_SCOPE)
endfunction()

# expect_in(<text> <what> <needle>...): every needle must appear literally in text.
function(expect_in text what)
  foreach(needle ${ARGN})
    string(FIND "${text}" "${needle}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "packaging: ${what} does not contain \"${needle}\":\n${text}")
    endif()
  endforeach()
endfunction()

# check_consumer_line(<output>): the line tests/packaging/consumer/main.cpp prints.
function(check_consumer_line output)
  if(NOT output MATCHES "airport-cache [0-9]+\\.[0-9]+\\.[0-9]+ \\(hiredis [0-9]+\\.[0-9]+")
    message(FATAL_ERROR "packaging: the consumer printed an unexpected line: ${output}")
  endif()
  message(STATUS "consumer said: ${output}")
endfunction()
