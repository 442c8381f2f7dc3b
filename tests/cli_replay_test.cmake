# End-to-end checks of the `userstore` tool, run by ctest (see CMakeLists.txt):
#   cmake -DCLI=<userstore binary> -DSOURCE_DIR=<repo> -DWORK_DIR=<scratch> -P cli_replay_test.cmake
#
# 1. `userstore replay --seed 42 --now 2026-01-01T00:00:00Z docs/examples/session.jsonl`
#    exits 0 and prints exactly docs/examples/session.out.jsonl (also from stdin); the same
#    for docs/examples/faults.jsonl (control lines) and faults.out.jsonl.
# 2. Usage errors exit 2 with a message on stderr; `--help` exits 0.

foreach(var CLI SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "cli_replay_test.cmake needs -D${var}=...")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK_DIR})
set(session ${SOURCE_DIR}/docs/examples/session.jsonl)
set(expected ${SOURCE_DIR}/docs/examples/session.out.jsonl)
set(options --seed 42 --now 2026-01-01T00:00:00Z)

# --- the golden session, from a file and from stdin ---------------------------------
execute_process(COMMAND ${CLI} replay ${options} ${session}
                OUTPUT_FILE ${WORK_DIR}/session.out.jsonl
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "replay FILE exited ${rc}: ${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK_DIR}/session.out.jsonl
                        ${expected} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "replay output differs from ${expected} (see ${WORK_DIR}/session.out.jsonl)")
endif()

execute_process(COMMAND ${CLI} replay ${options}
                INPUT_FILE ${session}
                OUTPUT_FILE ${WORK_DIR}/session.stdin.out.jsonl
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "replay (stdin) exited ${rc}: ${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK_DIR}/session.stdin.out.jsonl
                        ${expected} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "replay from stdin differs from ${expected}")
endif()

# --- the failure-injection session (control lines) ----------------------------------------
execute_process(COMMAND ${CLI} replay ${options} ${SOURCE_DIR}/docs/examples/faults.jsonl
                OUTPUT_FILE ${WORK_DIR}/faults.out.jsonl
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "replay faults.jsonl exited ${rc}: ${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK_DIR}/faults.out.jsonl
                        ${SOURCE_DIR}/docs/examples/faults.out.jsonl RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "replay output differs from docs/examples/faults.out.jsonl "
                      "(see ${WORK_DIR}/faults.out.jsonl)")
endif()

# --- usage ----------------------------------------------------------------------------
execute_process(COMMAND ${CLI} --help RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "usage: userstore replay")
  message(FATAL_ERROR "--help: exit ${rc}, output: ${out}")
endif()

function(expect_usage_error)
  execute_process(COMMAND ${CLI} ${ARGN} INPUT_FILE ${session}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 2 OR err STREQUAL "" OR NOT out STREQUAL "")
    message(FATAL_ERROR "'${ARGN}': want exit 2, a message on stderr and no output; got exit "
                        "${rc}, stderr '${err}', stdout '${out}'")
  endif()
endfunction()
expect_usage_error()
expect_usage_error(frobnicate)
expect_usage_error(replay --bogus)
expect_usage_error(replay --seed)
expect_usage_error(replay --seed -1)
expect_usage_error(replay --seed 12x)
expect_usage_error(replay --now tomorrow)
expect_usage_error(replay --account-sid ACnot-a-sid)
expect_usage_error(replay --snapshot ${WORK_DIR}/state.snapshot)
expect_usage_error(replay ${session} ${session})

# A missing input file is not a usage error: exit 1.
execute_process(COMMAND ${CLI} replay ${WORK_DIR}/does-not-exist.jsonl
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "missing file: want exit 1, got ${rc}")
endif()

# --account-sid is echoed in every body.
execute_process(COMMAND ${CLI} replay --account-sid AC0123456789abcdef0123456789abcdef
                        --seed=1 --now=2026-01-01T00:00:00Z ${session}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "\"account_sid\":\"AC0123456789abcdef0123456789abcdef\"")
  message(FATAL_ERROR "--account-sid: exit ${rc}")
endif()
