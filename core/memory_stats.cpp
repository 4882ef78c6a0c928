#include "core/memory_stats.h"

#include <unistd.h>

#include <cstdio>

// Declared weak so that binaries without jemalloc link and report "unavailable".
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace skyhive {

std::optional<AllocatorStats> allocator_stats() {
    if (!mallctl) return std::nullopt;
    // Statistics are cached by jemalloc until the epoch advances.
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    mallctl("epoch", &epoch, &len, &epoch, len);
    AllocatorStats s;
    struct {
        const char* name;
        uint64_t* out;
    } keys[] = {{"stats.allocated", &s.allocated},
                {"stats.active", &s.active},
                {"stats.resident", &s.resident}};
    for (auto& k : keys) {
        size_t value = 0;
        len = sizeof(value);
        if (mallctl(k.name, &value, &len, nullptr, 0) != 0) return std::nullopt;
        *k.out = value;
    }
    return s;
}

uint64_t process_rss() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return n == 2 ? uint64_t(resident) * uint64_t(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace skyhive
