#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/handle.h"

namespace skyhive {

class Service;

// Maps handles to services and `.name` aliases to handles.
//
// Indices are handed out by a counter that only moves forward (wrapping at 2^24 and skipping live
// ones), so a freed index is reused only after ~16 million further launches: a stale handle does
// not reach a new service.
//
// Lookup is lock-free: a slot table of atomic pointers, grown by copying into a larger table; old
// tables are kept until the registry dies so a reader on an old table reads valid memory. Slot
// contents may be stale: callers validate the handle under the mailbox lock.
//
// Thread: any.
class HandleRegistry {
  public:
    explicit HandleRegistry(uint8_t node_id);
    ~HandleRegistry();
    HandleRegistry(const HandleRegistry&) = delete;
    HandleRegistry& operator=(const HandleRegistry&) = delete;

    // Assigns a fresh handle to `s`. Returns an empty handle when 2^24 - 1 services are live.
    Handle insert(Service* s);
    // Removes h (and every name bound to it). Returns false if h was not registered.
    bool erase(Handle h);
    // Service that held h's slot, possibly stale or null. Validate before use.
    Service* find(Handle h) const noexcept;

    // Names. A name starting with '.' is local by convention; any non-empty name is accepted.
    // False when taken by another handle, or h is not (any more) a handle of this registry.
    bool bind_name(std::string_view name, Handle h);
    Handle find_name(std::string_view name) const;
    bool unbind_name(std::string_view name);
    std::vector<std::string> names_of(Handle h) const;
    // Every name with its handle, sorted by name (snapshot).
    std::vector<std::pair<std::string, Handle>> names() const;

    // Live handles in ascending order (snapshot).
    std::vector<Handle> list() const;
    size_t size() const;
    uint8_t node_id() const { return node_id_; }

  private:
    struct Table {
        explicit Table(size_t n) : size(n), slots(new std::atomic<Service*>[n]) {
            for (size_t i = 0; i < n; ++i)
                slots[i].store(nullptr, std::memory_order_relaxed);
        }
        size_t size;  // power of two
        std::unique_ptr<std::atomic<Service*>[]> slots;
        std::vector<uint32_t> indices;  // index held by each slot (writer side only)
    };

    const uint8_t node_id_;
    mutable std::mutex write_lock_;  // serialises insert/erase/grow
    std::atomic<Table*> table_;
    std::vector<std::unique_ptr<Table>> tables_;  // all tables ever made; back() is current
    uint32_t next_index_ = 1;
    size_t count_ = 0;

    mutable std::shared_mutex names_lock_;
    std::map<std::string, Handle, std::less<>> names_;
};

}  // namespace skyhive
