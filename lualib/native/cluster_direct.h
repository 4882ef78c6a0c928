#pragma once

// A cluster link's direct path: the messages of the link's service that need no decision are
// handled in C++ before its Lua sees them (a MessageFilter), so that a call costs no Lua dispatch
// of the link on either node:
//   - a caller's request (protocol "cluster", skynet.call(link, "cluster", address, ...)) is
//     framed, its caller recorded in the connection's router, and the frame written;
//   - a local service's answer to a request the link served (a response whose session the link
//     recorded with serve) is framed and written;
//   - a batch of frames read on the connection (a socket "frames" event) that holds nothing but
//     whole requests addressed to a handle or a local ".name" is handed out here: each request
//     goes to its service as a call of the link (recorded with serve) or a push.
// Only while the connection is up and the burst is over: nothing gathered for a later write,
// nothing else in the mailbox, and, for a request, no other call waiting for an answer (those are
// what tells the link's Lua that more requests are coming, so it gathers them into one socket
// write). Anything else (an error answer, a message of several frames, a push or call while the
// link is down or its send queue full, a batch with a control frame, an answer, an assembled
// message, an "@name" or anything malformed) goes to the link's Lua as before. Because the filter
// sees the messages in mailbox order and takes one only when nothing is queued ahead of it in the
// link, frames leave in the order the messages came.
//
// The link's Lua keeps the state the decision needs here (the connection, whether requests may
// take the path) and takes its sessions and the served requests from here, so that both paths
// share them.
//
// Thread: the link's service only (Lua calls and the filter both run on the thread that runs it).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/handle.h"
#include "core/message.h"
#include "lualib/native/skynet_core.h"

namespace skyhive {
class Metric;
class Service;
namespace net {
class SocketServer;
}
}  // namespace skyhive

namespace skyhive::cluster {

class Codec;
class Router;

class DirectPath final : public MessageFilter {
  public:
    // codec: the link's outgoing codec; gathered: the bytes the link has gathered for a later
    // write (the path stays shut while there are any). Both outlive this object.
    DirectPath(Codec& codec, const size_t& gathered) : codec_(codec), gathered_(gathered) {}
    ~DirectPath();
    DirectPath(const DirectPath&) = delete;
    DirectPath& operator=(const DirectPath&) = delete;

    // Registers this object as the service's filter (once; later calls change nothing).
    void attach(LuaServiceHost& host, net::SocketServer& server);
    // Connection `id` (a socket id) is up with `router`; requests take the path only when `calls`
    // (the link is neither full nor leaving). id 0: no connection (the path is shut).
    void connect(int32_t id, std::shared_ptr<Router> router, bool calls);

    // The next link session (1..2^31-1; after a wrap, one that no call of the connection waits
    // with).
    uint32_t next_session();
    // Local session s is the link's call to a service serving the peer's request ls on connection
    // id (0: drop the answer, e.g. the node's error for a dead target).
    void serve(int32_t s, uint32_t ls, int32_t id);
    // Takes request s's record (false when there is none).
    bool served(int32_t s, uint32_t* ls, int32_t* id);
    // At most `max` requests of the peer are served at once (cluster_max_serving): one past it is
    // answered at once with `text` instead of reaching its service, here and in the link's Lua
    // (which asks admit()).
    void limit_serving(size_t max, std::string text);
    // Whether one more request may be served; false past the limit, with a log line the first
    // time (again once the records fell to half the limit).
    bool admit();

    // The link's metrics (they outlive this object), which this path adds to: requests (calls and
    // pushes) written, frame bytes written, requests of the peer handed out, bytes read.
    struct Counters {
        Metric* requests = nullptr;
        Metric* sent_bytes = nullptr;
        Metric* served = nullptr;
        Metric* received_bytes = nullptr;
    };
    void count(const Counters& c) { counters_ = c; }
    // The peer's name, for log lines.
    void set_peer(std::string name) { peer_ = std::move(name); }
    // The node's time (centiseconds) of the last write here and of the last batch read here, 0
    // before the first.
    uint64_t last_send() const { return last_send_; }
    uint64_t last_recv() const { return last_recv_; }
    // Requests and answers written here so far; requests of the peer handed out here.
    uint64_t requests() const { return requests_taken_; }
    uint64_t answers() const { return answers_taken_; }
    uint64_t served() const { return served_taken_; }

    bool take(Message& msg) override;

  private:
    bool request(Message& msg);
    bool response(Message& msg);
    bool frames(Message& msg);
    // Answers the peer's request ls with an error (its target is dead).
    void refuse(uint32_t ls, const char* text, size_t len);
    // Writes the one frame in frames_ on the connection.
    void write();

    struct Served {
        uint32_t ls;
        int32_t id;
    };
    // A request of a batch being handed out.
    struct Incoming {
        uint32_t ls = 0;
        bool push = false;
        Handle target;
        uint32_t handle = 0;    // the address, when it is a handle
        std::string_view name;  // the address, when it is a name (in the batch)
        const char* data = nullptr;
        uint32_t size = 0;
    };

    Codec& codec_;
    const size_t& gathered_;
    LuaServiceHost* host_ = nullptr;
    net::SocketServer* server_ = nullptr;
    int32_t id_ = 0;
    std::shared_ptr<Router> router_;
    bool calls_ = false;
    uint32_t next_ls_ = 0;
    bool wrapped_ = false;
    std::unordered_map<int32_t, Served> serving_;
    size_t max_serving_ = SIZE_MAX;
    std::string full_text_;
    bool full_logged_ = false;  // the limit's log line was written and not re-armed
    std::vector<Payload> frames_;
    std::vector<Incoming> incoming_;  // scratch of frames()
    Counters counters_;
    std::string peer_;
    uint64_t last_send_ = 0;
    uint64_t last_recv_ = 0;
    uint64_t requests_taken_ = 0;
    uint64_t answers_taken_ = 0;
    uint64_t served_taken_ = 0;
};

}  // namespace skyhive::cluster
