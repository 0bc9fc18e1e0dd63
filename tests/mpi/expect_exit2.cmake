# Runs PROGRAM with ARGS (separated by |; a singleton MPI run) and expects exit status 2 and
# one line on stderr that names EXPECT.
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${PROGRAM} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "expected exit status 2, got ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()
string(STRIP "${err}" err)
string(FIND "${err}" "\n" newline)
if(NOT newline EQUAL -1 OR NOT err MATCHES "${EXPECT}")
  message(FATAL_ERROR "expected one line on stderr naming '${EXPECT}', got:\n${err}")
endif()
message(STATUS "exit 2: ${err}")
