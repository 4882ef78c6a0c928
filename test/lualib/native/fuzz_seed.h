#pragma once

// Shared by the seed programs of the fuzz targets (*_fuzz_seed.cpp): each builds its inputs in
// memory and hands them to write_seeds, which writes one file per input into the directory named
// on its command line. Single-threaded programs only.

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace skyhive::fuzz {

// Whether the command line names exactly one directory; prints the usage line when not.
inline bool seed_args_ok(int argc, char** argv) {
    if (argc == 2) return true;
    std::fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
    return false;
}

// Writes seeds[i] to "<dir>/seed-<i>", creating dir (and its parents) when missing. Returns the
// program's exit code: 0, or 1 after printing what could not be created or written.
inline int write_seeds(const char* dir, const std::vector<std::string>& seeds) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        std::fprintf(stderr, "%s: %s\n", dir, ec.message().c_str());
        return 1;
    }
    for (size_t i = 0; i < seeds.size(); ++i) {
        const std::string path = std::string(dir) + "/seed-" + std::to_string(i);
        std::FILE* f = std::fopen(path.c_str(), "wb");
        const bool written =
            f != nullptr && std::fwrite(seeds[i].data(), 1, seeds[i].size(), f) == seeds[i].size();
        if (f != nullptr && std::fclose(f) != 0) return 1;
        if (!written) {
            std::perror(path.c_str());
            return 1;
        }
    }
    return 0;
}

}  // namespace skyhive::fuzz
