#include "lualib/native/cluster_router.h"

#include <atomic>
#include <map>

#include "core/node.h"

namespace skyhive::cluster {

namespace {

// id -> router, for the framer factory, which gets an id among its integer options. Routers of
// every node of the process share it (ids never repeat), so two nodes in one process work.
struct Registry {
    std::mutex mu;
    std::map<uint64_t, std::weak_ptr<Router>> routers;
};

Registry& registry() {
    static Registry r;
    return r;
}

std::atomic<uint64_t> next_id{1};

}  // namespace

Router::Router(Node& node, Handle link)
    : node_(node), link_(link), id_(next_id.fetch_add(1, std::memory_order_relaxed)) {}

Router::~Router() {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    r.routers.erase(id_);
}

std::shared_ptr<Router> Router::make(Node& node, Handle link) {
    auto router = std::make_shared<Router>(node, link);
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    r.routers.emplace(router->id_, router);
    return router;
}

std::shared_ptr<Router> Router::find(uint64_t id) {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    auto it = r.routers.find(id);
    return it == r.routers.end() ? nullptr : it->second.lock();
}

bool Router::add(uint32_t ls, Handle source, int32_t session) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    return waiting_.try_emplace(ls, Waiter{source, session}).second;
}

bool Router::take(uint32_t ls, Handle* source, int32_t* session) {
    std::lock_guard lock(mu_);
    auto it = waiting_.find(ls);
    if (it == waiting_.end()) return false;
    *source = it->second.source;
    *session = it->second.session;
    waiting_.erase(it);
    return true;
}

size_t Router::close(std::string_view text) {
    std::unordered_map<uint32_t, Waiter> failed;
    {
        std::lock_guard lock(mu_);
        closed_ = true;
        failed.swap(waiting_);
    }
    for (const auto& [ls, w] : failed)
        node_.send(link_, w.source, MessageType::error, w.session, Payload::copy(text));
    return failed.size();
}

bool Router::has(uint32_t ls) const {
    std::lock_guard lock(mu_);
    return waiting_.count(ls) != 0;
}

size_t Router::waiting() const {
    std::lock_guard lock(mu_);
    return waiting_.size();
}

uint64_t Router::drain_bytes() {
    std::lock_guard lock(mu_);
    const uint64_t bytes = routed_bytes_;
    routed_bytes_ = 0;
    return bytes;
}

bool Router::route(uint32_t ls, const char* data, uint32_t size, uint32_t frame_bytes) {
    Waiter w;
    {
        std::lock_guard lock(mu_);
        if (closed_) return false;
        auto it = waiting_.find(ls);
        if (it == waiting_.end()) return false;
        w = it->second;
        waiting_.erase(it);
        routed_bytes_ += frame_bytes;
    }
    // A caller that has gone meanwhile drops it (an answer to a dead handle goes nowhere).
    node_.send(link_, w.source, MessageType::response, w.session,
               size ? Payload::copy(data, size) : Payload());
    return true;
}

}  // namespace skyhive::cluster
