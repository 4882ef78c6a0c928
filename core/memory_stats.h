#pragma once

#include <cstdint>
#include <optional>

namespace skyhive {

// The process allocator's view of memory, from jemalloc's mallctl. Absent when the process does not
// run on jemalloc (sanitizer builds, tests linked without it).
struct AllocatorStats {
    uint64_t allocated = 0;  // bytes handed to the program
    uint64_t active = 0;     // bytes in active pages
    uint64_t resident = 0;   // bytes of physically resident pages held by the allocator
};

// Thread: any.
std::optional<AllocatorStats> allocator_stats();

// Resident set size of the whole process from /proc/self/statm, in bytes (0 if unreadable).
uint64_t process_rss();

}  // namespace skyhive
