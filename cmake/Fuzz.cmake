# skyhive_fuzz_target(<name> [SOURCES ...] [LIBRARIES ...] [SEED_SOURCES ...]
#                     [SEED_LIBRARIES ...])
# A libFuzzer target <name> (from <name>.cpp in the calling folder) and the program that fills its
# corpus with valid inputs (<name>_seed, from <name>_seed.cpp), both built only on request
# (SKYHIVE_FUZZ) with clang, and not in a ThreadSanitizer tree. SOURCES are the sources under
# test, compiled into the fuzz target so that libFuzzer's coverage sees them; LIBRARIES what it
# links. ctest runs <name>_seed (label fuzz, a fixture) and then <name> for a bounded time from
# that corpus, under the build tree; crashes are written beside it as <name>-crash-...
function(skyhive_fuzz_target name)
    cmake_parse_arguments(arg "" "" "SOURCES;LIBRARIES;SEED_SOURCES;SEED_LIBRARIES" ${ARGN})
    if(NOT SKYHIVE_FUZZ OR SKYHIVE_SANITIZE STREQUAL "thread")
        return()
    endif()
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
        message(WARNING "SKYHIVE_FUZZ needs clang (libFuzzer); ${name} is not built")
        return()
    endif()
    set(fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
    add_executable(${name} ${name}.cpp ${arg_SOURCES})
    target_compile_options(${name} PRIVATE ${fuzz_flags})
    target_link_options(${name} PRIVATE ${fuzz_flags})
    target_link_libraries(${name} PRIVATE ${arg_LIBRARIES})

    add_executable(${name}_seed ${name}_seed.cpp ${arg_SEED_SOURCES})
    target_link_libraries(${name}_seed PRIVATE ${arg_SEED_LIBRARIES})

    set(corpus ${CMAKE_CURRENT_BINARY_DIR}/${name}_corpus)
    add_dependencies(fuzz_targets ${name} ${name}_seed)
    add_test(NAME ${name}_seed COMMAND ${name}_seed ${corpus})
    add_test(NAME ${name}
             COMMAND ${name} -max_total_time=20 -max_len=4096 -rss_limit_mb=2048
                     -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/${name}- ${corpus})
    set_tests_properties(${name}_seed PROPERTIES LABELS fuzz FIXTURES_SETUP ${name}_corpus)
    set_tests_properties(${name} PROPERTIES LABELS fuzz FIXTURES_REQUIRED ${name}_corpus
                                            TIMEOUT 120)
endfunction()
