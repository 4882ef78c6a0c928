# All dependencies come from Debian packages (scripts/setup.sh installs them) and are found here.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(LUA REQUIRED IMPORTED_TARGET lua5.4)
pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
# libcrypto (libssl-dev): skynet.crypt's KDF, random bytes and constant-time compare.
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)

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
