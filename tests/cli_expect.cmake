# tests/cli_expect.cmake — run the wsk program once and check its exit status
# and output; used by the cli_* ctests (CMakeLists.txt).
#
#   cmake -DWSK_EXE=<path to wsk> [-DWSK_EMULATOR=qemu-aarch64|-L|...]
#         -DWSK_ARGS=info|--isas -DWSK_EXPECT=pass|fail
#         [-DWSK_EXPECT_REGEX=<regex on stdout+stderr, stripped>] -P tests/cli_expect.cmake
#
# Lists are '|'-joined because ';' does not survive add_test(). The emulator
# (CMAKE_CROSSCOMPILING_EMULATOR) is prefixed here, so the check runs unchanged
# under qemu. The environment (WSK_ISA, ...) is inherited from ctest.
foreach(_v IN ITEMS WSK_EXE WSK_EXPECT)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "cli_expect.cmake: -D${_v}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" _emu "${WSK_EMULATOR}")
string(REPLACE "|" ";" _args "${WSK_ARGS}")

execute_process(COMMAND ${_emu} "${WSK_EXE}" ${_args}
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
string(JOIN " " _cmd ${_emu} "${WSK_EXE}" ${_args})
message("$ ${_cmd}\n-- exit: ${_rc}\n-- stdout:\n${_out}-- stderr:\n${_err}")

if(WSK_EXPECT STREQUAL "pass")
  if(NOT _rc STREQUAL "0")
    message(FATAL_ERROR "expected exit status 0, got '${_rc}'")
  endif()
elseif(WSK_EXPECT STREQUAL "fail")
  # A non-zero exit, not a crash: execute_process reports a signal as text.
  if(_rc STREQUAL "0" OR NOT _rc MATCHES "^[0-9]+$")
    message(FATAL_ERROR "expected a non-zero exit status, got '${_rc}'")
  endif()
else()
  message(FATAL_ERROR "WSK_EXPECT must be pass or fail, not '${WSK_EXPECT}'")
endif()
string(STRIP "${_out}${_err}" _all)
if(DEFINED WSK_EXPECT_REGEX AND NOT _all MATCHES "${WSK_EXPECT_REGEX}")
  message(FATAL_ERROR "output does not match '${WSK_EXPECT_REGEX}'")
endif()
