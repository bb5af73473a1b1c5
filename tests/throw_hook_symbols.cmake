# Run by CTest: whether the built library defines the C++ runtime entry points the throw hook
# interposes. With STREAMLL_THROW_HOOK off (the default) it must define none of them, since
# defining them replaces the runtime's own in every executable that links streamll; with it on,
# all three.
#   cmake -DNM=<nm> -DLIBRARY=<libstreamll> -DHOOK=<ON|OFF> -P throw_hook_symbols.cmake
set(options --defined-only)
if(LIBRARY MATCHES "\\.so(\\.|$)|\\.dylib$")
  list(APPEND options -D)  # a shared library's exported symbols
endif()
execute_process(COMMAND "${NM}" ${options} "${LIBRARY}" OUTPUT_VARIABLE symbols
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIBRARY}")
endif()
foreach(entry_point __cxa_throw __cxa_rethrow __cxa_begin_catch)
  # A defined text symbol: "<address> T __cxa_throw" (W when weak).
  string(REGEX MATCH "[0-9a-fA-F]+ [TtWw] ${entry_point}\n" defined "${symbols}\n")
  if(HOOK AND NOT defined)
    message(FATAL_ERROR "STREAMLL_THROW_HOOK is ON but ${LIBRARY} does not define ${entry_point}")
  elseif(NOT HOOK AND defined)
    message(FATAL_ERROR "${LIBRARY} defines ${entry_point} although STREAMLL_THROW_HOOK is OFF: "
                        "it would replace the C++ runtime's in every program linking streamll")
  endif()
endforeach()
message(STATUS "${LIBRARY}: throw hook entry points as expected (hook ${HOOK})")
