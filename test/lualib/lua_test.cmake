# skyhive_lua_test(NAME [UNDER runner] [UNDER_ARGS arg...] [VARIANT suffix] [LABELS label...]
#                  [TIMEOUT seconds])
#
# Registers the Lua test service NAME.lua of the calling folder as the ctest lua.NAME: the real
# binary runs test/config/lua-test.lua with TEST=NAME, and the service stops the node with exit
# code 0 on success and non-zero on failure (tlib.lua). A first line "-- config: CONFIG" picks
# test/config/CONFIG.lua instead (e.g. a low monitor threshold); that config's search paths must
# reach the folder. UNDER names a test-support program that starts what the test needs and then
# runs the node (redis_lab: a redis-server and a fake one; with_sentinel: a master, 2 replicas and
# 3 sentinels; with_cluster: a 3-master Redis Cluster). UNDER_ARGS go to the runner before the
# binary (with_cluster --full-coverage no); VARIANT registers the same script once more under the
# ctest lua.NAME.VARIANT, so one test can run under two settings. Every test is labelled "lua"
# plus LABELS; TIMEOUT defaults to 60 s.
include_guard(GLOBAL)

function(skyhive_lua_test name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "UNDER;TIMEOUT;VARIANT" "LABELS;UNDER_ARGS")
    if(arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "skyhive_lua_test(${name}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
    endif()
    set(script ${CMAKE_CURRENT_SOURCE_DIR}/${name}.lua)
    if(NOT EXISTS ${script})
        message(FATAL_ERROR "skyhive_lua_test(${name}): no script ${script}")
    endif()
    file(STRINGS ${script} first_line LIMIT_COUNT 1)
    set(config lua-test)
    if(first_line MATCHES "^-- config: ([a-z0-9_-]+)")
        set(config ${CMAKE_MATCH_1})
    endif()
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 60)
    endif()
    set(command $<TARGET_FILE:skyhive> ${PROJECT_SOURCE_DIR}/test/config/${config}.lua)
    if(arg_UNDER_ARGS AND NOT arg_UNDER)
        message(FATAL_ERROR "skyhive_lua_test(${name}): UNDER_ARGS without UNDER")
    endif()
    if(arg_UNDER)
        list(PREPEND command ${arg_UNDER} ${arg_UNDER_ARGS})
    endif()
    set(test lua.${name})
    if(arg_VARIANT)
        set(test lua.${name}.${arg_VARIANT})
    endif()
    set(labels lua ${arg_LABELS})
    add_test(NAME ${test} COMMAND ${command} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(${test} PROPERTIES ENVIRONMENT "TEST=${name}" LABELS "${labels}"
                                            TIMEOUT ${arg_TIMEOUT})
endfunction()
