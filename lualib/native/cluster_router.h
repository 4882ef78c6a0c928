#pragma once

// The calls one connection of a node-to-node link has waiting on the peer (link session ->
// the caller's handle and session), shared by the link's service and the socket thread: the
// link adds each call before its request is written; the connection's "cluster" framer hands
// every answer frame whose session is waiting straight to the caller as its response, with the link
// as the source, so that an answer costs no message to the link's service; when the connection
// drops, the link closes the router, which fails every call still waiting with one text. Each
// waiting call is answered exactly once: by the framer, by the link (an answer the framer passed
// on, see take), or by close.
//
// Ownership: a std::shared_ptr, because the link's Lua object and the connection's framer (owned
// by the socket, destroyed with it on the socket thread) each hold it and either may go first.
// The framer finds the router by id (the framer's option `router`) in a registry of weak
// pointers. Thread: every method is safe from any thread (one mutex guards the table).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "core/handle.h"
#include "lualib/native/cluster_codec.h"

namespace skyhive {
class Node;
}

namespace skyhive::cluster {

class Router final : public AnswerRouter {
  public:
    // Answers go to callers of `node` with `link` (the link's service) as their source.
    Router(Node& node, Handle link);
    ~Router() override;
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    // A new router, registered for find(). Thread: any.
    static std::shared_ptr<Router> make(Node& node, Handle link);
    // The live router with this id, or null.
    static std::shared_ptr<Router> find(uint64_t id);

    uint64_t id() const { return id_; }
    // Call ls of source's session waits from now on. False (nothing recorded) when ls already
    // waits or the router is closed.
    bool add(uint32_t ls, Handle source, int32_t session);
    // Removes call ls: its caller and session, or false when it does not wait.
    bool take(uint32_t ls, Handle* source, int32_t* session);
    // Fails every waiting call with `text` (an error message from the link) and routes nothing
    // from now on. -> how many calls it failed.
    size_t close(std::string_view text);
    bool has(uint32_t ls) const;
    size_t waiting() const;
    // Bytes of answer frames routed since the last call.
    uint64_t drain_bytes();

    // Thread: socket thread (the framer). Sends the answer to its caller when ls waits.
    bool route(uint32_t ls, const char* data, uint32_t size, uint32_t frame_bytes) override;

  private:
    struct Waiter {
        Handle source;
        int32_t session;
    };

    Node& node_;
    const Handle link_;
    const uint64_t id_;
    mutable std::mutex mu_;
    std::unordered_map<uint32_t, Waiter> waiting_;  // guarded by mu_
    bool closed_ = false;                           // guarded by mu_
    uint64_t routed_bytes_ = 0;                     // guarded by mu_
};

}  // namespace skyhive::cluster
