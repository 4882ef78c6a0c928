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

void Router::serve(Handle answerer) {
    std::lock_guard lock(mu_);
    answerer_ = answerer;
}

void Router::set_names(std::unordered_map<std::string, Handle> names) {
    std::lock_guard lock(mu_);
    names_.swap(names);
}

void Router::drain_stats(uint64_t* bytes, uint64_t* served) {
    std::lock_guard lock(mu_);
    *bytes = routed_bytes_;
    *served = served_;
    routed_bytes_ = served_ = 0;
}

bool Router::request(uint32_t ls, bool push, bool by_name, uint32_t handle, std::string_view name,
                     const char* data, uint32_t size, uint32_t frame_bytes) {
    if (!push && (ls == 0 || ls > 0x7fffffff)) return false;
    Handle target(handle);
    if (by_name && (name.size() < 2 || name == ".clusterd")) return false;
    if (by_name && name[0] == '.') {
        target = node_.query_name(name);
        if (!target) return false;  // the link answers "service .x is dead"
    }
    Handle answerer;
    {
        std::lock_guard lock(mu_);
        if (closed_ || !answerer_) return false;
        if (by_name && name[0] != '.') {
            auto it = names_.find(std::string(name));
            if (it == names_.end()) return false;  // the link answers "unknown name @x"
            target = it->second;
        }
        answerer = answerer_;
        routed_bytes_ += frame_bytes;
        ++served_;
    }
    // A dead target: a call's error reply goes to the answerer, which answers the peer with it.
    if (!node_.send(answerer, target, MessageType::lua, push ? 0 : int32_t(ls),
                    size ? Payload::copy(data, size) : Payload()) &&
        push)
        node_.log(link_, LogLevel::warn,
                  "cluster: a push of the peer to :" + std::to_string(target.value) +
                      " dropped: service is dead");
    return true;
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
