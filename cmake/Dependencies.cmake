# All dependencies come from Debian packages (scripts/setup.sh installs them) and are found here.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(LUA REQUIRED IMPORTED_TARGET lua5.4)
pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
# libcrypto (libssl-dev): skynet.crypt's KDF, random bytes and constant-time compare.
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
# libhttp-parser (libhttp-parser-dev): the HTTP library's parser. Debian ships no pkg-config file
# for it, so it is looked up by header and library.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h)
find_library(HTTP_PARSER_LIBRARY http_parser)
if(NOT HTTP_PARSER_INCLUDE_DIR OR NOT HTTP_PARSER_LIBRARY)
    message(FATAL_ERROR "libhttp-parser not found (http_parser.h: ${HTTP_PARSER_INCLUDE_DIR}, "
                        "libhttp_parser: ${HTTP_PARSER_LIBRARY}); install the Debian package "
                        "libhttp-parser-dev (bash scripts/setup.sh)")
endif()
add_library(skyhive_http_parser INTERFACE)
target_include_directories(skyhive_http_parser SYSTEM INTERFACE ${HTTP_PARSER_INCLUDE_DIR})
target_link_libraries(skyhive_http_parser INTERFACE ${HTTP_PARSER_LIBRARY})

if(SKYHIVE_BUILD_TESTS)
    find_package(GTest REQUIRED)
endif()
if(SKYHIVE_BUILD_BENCH)
    find_package(benchmark QUIET)
endif()

# jemalloc is the allocator of the skyhive binary only. Sanitizer builds keep the sanitizer's own
# allocator: both replacing malloc in one process does not work.
add_library(skyhive_allocator INTERFACE)
if(SKYHIVE_SANITIZE STREQUAL "")
    target_link_libraries(skyhive_allocator INTERFACE PkgConfig::JEMALLOC)
endif()
