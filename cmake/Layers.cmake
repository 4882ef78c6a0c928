# Include roots per layer. Sources name headers from the project root ("core/node.h",
# "net/socket_server.h"), but no target sees the project root itself: every layer folder gets an
# include root of its own under the build tree, holding one link to that folder,
#   <build>/layers/net/net -> <source>/net
# and a library of the layer exports that root as a PUBLIC include directory. A target therefore
# sees the headers of exactly the layers it links, so an include across layers without a link
# (core including "net/...") fails to build instead of working by accident. The ctest check
# build.layers, below, shows that this holds.

# Adds the include root of `layer` (a folder of the project root) to `target`, PUBLIC.
function(skyhive_layer_include target layer)
    if(NOT IS_DIRECTORY "${PROJECT_SOURCE_DIR}/${layer}")
        message(FATAL_ERROR "skyhive_layer_include(${target} ${layer}): no folder "
                            "'${layer}' in ${PROJECT_SOURCE_DIR}")
    endif()
    set(root "${PROJECT_BINARY_DIR}/layers/${layer}")
    set(link "${root}/${layer}")
    # Made once per build tree; a link left from another source tree is replaced.
    set(current "")
    if(IS_SYMLINK "${link}")
        file(READ_SYMLINK "${link}" current)
    endif()
    if(NOT current STREQUAL "${PROJECT_SOURCE_DIR}/${layer}")
        file(MAKE_DIRECTORY "${root}")
        file(REMOVE "${link}")
        file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${layer}" "${link}" SYMBOLIC)
    endif()
    target_include_directories(${target} PUBLIC "${root}")
endfunction()

# The ctest check build.layers: one small object library per entry below, left out of `all`, that
# includes one header with the include directories a library's own sources are compiled with
# (its own and those its links bring). cmake/check_layers.cmake builds them all and expects each
# to compile (the header is reachable from that library) or to fail on that header not being
# found (it is not). A global include of the project root, or a link that runs against the
# layers, makes the check fail. Each entry: library, header, and "visible" or "hidden".
function(skyhive_add_layer_check)
    set(probes
        "skyhive_base|core/message.h|visible"
        "skyhive_base|net/socket_server.h|hidden"
        "skyhive_core|core/node.h|visible"
        "skyhive_core|net/socket_server.h|hidden"
        "skyhive_core|lualib/native/seri.h|hidden"
        "skyhive_net|net/socket_server.h|visible"
        "skyhive_net|redis/resp_framer.h|hidden"
        "skyhive_redis|redis/resp_framer.h|visible"
        "skyhive_redis|lualib/native/redis_codec.h|hidden"
        "skyhive_lualib_redis|lualib/native/redis_codec.h|visible"
        "skyhive_lualib_redis|services/runtime.h|hidden"
        "skyhive_lualib|lualib/native/seri.h|visible"
        "skyhive_lualib|services/runtime.h|hidden"
        "skyhive_services|services/runtime.h|visible"
    )
    set(dir "${PROJECT_BINARY_DIR}/layer_probes")
    add_custom_target(layer_probes)
    set(entries "")
    foreach(probe IN LISTS probes)
        string(REPLACE "|" ";" fields "${probe}")
        list(GET fields 0 library)
        list(GET fields 1 header)
        list(GET fields 2 expect)
        string(MAKE_C_IDENTIFIER "layer_probe_${library}_${header}" name)
        file(CONFIGURE OUTPUT "${dir}/${name}.cpp"
             CONTENT "// build.layers: with the include directories of ${library}, this include \
must be ${expect}.\n#include \"${header}\"\n")
        add_library(${name} OBJECT EXCLUDE_FROM_ALL "${dir}/${name}.cpp")
        # Not a link: the probe needs no library built, only its include directories.
        target_include_directories(${name} PRIVATE
                                   $<TARGET_PROPERTY:${library},INCLUDE_DIRECTORIES>)
        add_dependencies(layer_probes ${name})
        list(APPEND entries "${name}|${library}|${header}|${expect}|$<TARGET_OBJECTS:${name}>")
    endforeach()
    file(GENERATE OUTPUT "${dir}/probes.cmake" CONTENT
         "set(PROBES \"${entries}\")\nset(GENERATOR \"${CMAKE_GENERATOR}\")\n")
    add_test(NAME build.layers
             COMMAND ${CMAKE_COMMAND} -D "BUILD_DIR=${PROJECT_BINARY_DIR}"
                     -D "PROBE_FILE=${dir}/probes.cmake"
                     -P "${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake")
    set_tests_properties(build.layers PROPERTIES LABELS build TIMEOUT 300)
endfunction()
