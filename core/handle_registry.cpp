#include "core/handle_registry.h"

#include <algorithm>

namespace skyhive {

namespace {
constexpr size_t kInitialSlots = 64;
}

HandleRegistry::HandleRegistry(uint8_t node_id) : node_id_(node_id) {
    tables_.push_back(std::make_unique<Table>(kInitialSlots));
    tables_.back()->indices.assign(kInitialSlots, 0);
    table_.store(tables_.back().get(), std::memory_order_release);
}

HandleRegistry::~HandleRegistry() = default;

Handle HandleRegistry::insert(Service* s) {
    std::lock_guard guard(write_lock_);
    if (count_ >= Handle::kIndexMask) return {};
    Table* t = tables_.back().get();
    if (count_ * 2 >= t->size) {  // keep the table at most half full so probing stays short
        auto bigger = std::make_unique<Table>(t->size * 2);
        bigger->indices.assign(bigger->size, 0);
        for (size_t i = 0; i < t->size; ++i) {
            uint32_t idx = t->indices[i];
            if (!idx) continue;
            size_t slot = idx & (bigger->size - 1);
            bigger->slots[slot].store(t->slots[i].load(std::memory_order_relaxed),
                                      std::memory_order_relaxed);
            bigger->indices[slot] = idx;
        }
        tables_.push_back(std::move(bigger));
        t = tables_.back().get();
        table_.store(t, std::memory_order_release);
    }
    // A slot is addressed by index & mask, so an index is usable only when its slot is free.
    for (;;) {
        uint32_t idx = next_index_;
        next_index_ = (next_index_ + 1) & Handle::kIndexMask;
        if (next_index_ == 0) next_index_ = 1;
        size_t slot = idx & (t->size - 1);
        if (t->indices[slot] != 0) continue;
        t->indices[slot] = idx;
        t->slots[slot].store(s, std::memory_order_release);
        ++count_;
        return Handle::make(node_id_, idx);
    }
}

bool HandleRegistry::erase(Handle h) {
    {
        std::lock_guard guard(write_lock_);
        Table* t = tables_.back().get();
        size_t slot = h.index() & (t->size - 1);
        if (h.node() != node_id_ || t->indices[slot] != h.index()) return false;
        t->indices[slot] = 0;
        t->slots[slot].store(nullptr, std::memory_order_release);
        --count_;
    }
    std::unique_lock names(names_lock_);
    std::erase_if(names_, [h](const auto& kv) { return kv.second == h; });
    return true;
}

Service* HandleRegistry::find(Handle h) const noexcept {
    if (h.node() != node_id_ || h.index() == 0) return nullptr;
    Table* t = table_.load(std::memory_order_acquire);
    return t->slots[h.index() & (t->size - 1)].load(std::memory_order_acquire);
}

bool HandleRegistry::bind_name(std::string_view name, Handle h) {
    if (name.empty()) return false;
    std::unique_lock guard(names_lock_);
    // Under the names lock: erase() frees the slot before it takes that lock to drop the
    // handle's names, so a handle erased since the caller looked it up is seen here, and a name
    // is never bound to it after its names went (the name would be taken for good).
    {
        std::lock_guard slots(write_lock_);
        Table* t = tables_.back().get();
        if (h.node() != node_id_ || h.index() == 0 ||
            t->indices[h.index() & (t->size - 1)] != h.index())
            return false;
    }
    auto it = names_.find(name);
    if (it != names_.end()) return it->second == h;
    names_.emplace(std::string(name), h);
    return true;
}

Handle HandleRegistry::find_name(std::string_view name) const {
    std::shared_lock guard(names_lock_);
    auto it = names_.find(name);
    return it == names_.end() ? Handle() : it->second;
}

bool HandleRegistry::unbind_name(std::string_view name) {
    std::unique_lock guard(names_lock_);
    auto it = names_.find(name);
    if (it == names_.end()) return false;
    names_.erase(it);
    return true;
}

std::vector<std::string> HandleRegistry::names_of(Handle h) const {
    std::vector<std::string> out;
    std::shared_lock guard(names_lock_);
    for (const auto& [name, handle] : names_)
        if (handle == h) out.push_back(name);
    return out;
}

std::vector<std::pair<std::string, Handle>> HandleRegistry::names() const {
    std::shared_lock guard(names_lock_);
    return {names_.begin(), names_.end()};
}

std::vector<Handle> HandleRegistry::list() const {
    std::vector<Handle> out;
    std::lock_guard guard(write_lock_);
    const Table* t = tables_.back().get();
    for (size_t i = 0; i < t->size; ++i)
        if (t->indices[i]) out.push_back(Handle::make(node_id_, t->indices[i]));
    std::sort(out.begin(), out.end(), [](Handle a, Handle b) { return a.value < b.value; });
    return out;
}

size_t HandleRegistry::size() const {
    std::lock_guard guard(write_lock_);
    return count_;
}

}  // namespace skyhive
