# Run by ctest (build.layers, see cmake/Layers.cmake): builds every layer probe at once, going on
# past failures, and checks that each probe whose header should be visible compiled, and that
# each whose header should be hidden failed on exactly that header not being found.
#   cmake -D BUILD_DIR=<build tree> -D PROBE_FILE=<build>/layer_probes/probes.cmake -P check_layers.cmake
if(NOT BUILD_DIR OR NOT PROBE_FILE)
    message(FATAL_ERROR "check_layers.cmake: BUILD_DIR and PROBE_FILE are required")
endif()
include("${PROBE_FILE}")  # PROBES: name|library|header|expect|object;...  GENERATOR

# Stale objects would pass for fresh ones: every probe is compiled again.
foreach(probe IN LISTS PROBES)
    string(REPLACE "|" ";" fields "${probe}")
    list(GET fields 4 object)
    file(REMOVE "${object}")
endforeach()

if(GENERATOR MATCHES "Ninja")
    set(keep_going -- -k 0)
elseif(GENERATOR MATCHES "Makefiles")
    set(keep_going -- -k)
else()
    message(FATAL_ERROR "check_layers.cmake: no keep-going flag known for '${GENERATOR}'")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target layer_probes
                        ${keep_going}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)

set(failures 0)
foreach(probe IN LISTS PROBES)
    string(REPLACE "|" ";" fields "${probe}")
    list(GET fields 0 name)
    list(GET fields 1 library)
    list(GET fields 2 header)
    list(GET fields 3 expect)
    list(GET fields 4 object)
    # The compiler names the probe's source, then the header: gcc "x.cpp:2:10: fatal error:
    # net/socket_server.h: No such file or directory", clang "... fatal error:
    # 'net/socket_server.h' file not found".
    string(REGEX REPLACE "([.+])" "\\\\\\1" header_re "${header}")
    set(not_found FALSE)
    if(out MATCHES "${name}\\.cpp:[0-9:]+ fatal error: '?${header_re}'?:? (No such file|file not found)")
        set(not_found TRUE)
    endif()
    if(expect STREQUAL "visible" AND EXISTS "${object}")
        message(STATUS "ok: ${library} sees ${header}")
    elseif(expect STREQUAL "hidden" AND NOT EXISTS "${object}" AND not_found)
        message(STATUS "ok: ${library} does not see ${header}")
    else()
        math(EXPR failures "${failures} + 1")
        if(expect STREQUAL "visible")
            message(STATUS "FAILED: ${library} should see ${header}, but ${name} does not compile")
        elseif(EXISTS "${object}")
            message(STATUS "FAILED: ${library} should not see ${header}, but ${name} compiles "
                           "(an include directory or a link reaches that layer)")
        else()
            message(STATUS "FAILED: ${name} does not compile, but not because ${header} is not found")
        endif()
    endif()
endforeach()
if(failures GREATER 0)
    message(STATUS "The build's output:\n${out}")
    message(FATAL_ERROR "${failures} of the layer probes failed")
endif()
