#include "lualib/native/cluster_direct.h"

#include "core/metrics.h"
#include "core/node.h"
#include "core/service.h"
#include "lualib/native/cluster_codec.h"
#include "lualib/native/cluster_router.h"
#include "net/socket_server.h"

namespace skyhive::cluster {

namespace {

// skynet.cluster's protocol: skynet.call(link, "cluster", address, ...).
constexpr auto kClusterProtocol = MessageType(13);

}  // namespace

DirectPath::~DirectPath() {
    if (host_ && host_->filter() == this) host_->set_filter(nullptr);
}

void DirectPath::attach(LuaServiceHost& host, net::SocketServer& server) {
    if (host_) return;
    host_ = &host;
    server_ = &server;
    host.set_filter(this);
}

void DirectPath::connect(int32_t id, std::shared_ptr<Router> router, bool calls) {
    id_ = router ? id : 0;
    router_ = id_ ? std::move(router) : nullptr;
    calls_ = id_ != 0 && calls;
}

uint32_t DirectPath::next_session() {
    if (next_ls_ == 0x7fffffff) wrapped_ = true;
    next_ls_ = next_ls_ % 0x7fffffff + 1;
    if (wrapped_ && router_)
        while (router_->has(next_ls_))
            next_ls_ = next_ls_ % 0x7fffffff + 1;
    return next_ls_;
}

void DirectPath::serve(int32_t s, uint32_t ls, int32_t id) {
    serving_[s] = Served{ls, id};
}

bool DirectPath::served(int32_t s, uint32_t* ls, int32_t* id) {
    auto it = serving_.find(s);
    if (it == serving_.end()) return false;
    *ls = it->second.ls;
    *id = it->second.id;
    serving_.erase(it);
    return true;
}

bool DirectPath::take(Message& msg) {
    if (id_ == 0 || gathered_ != 0 || host_->service().mailbox_length() != 0) return false;
    if (msg.type == kClusterProtocol) return request(msg);
    if (msg.type == MessageType::response) return response(msg);
    return false;
}

bool DirectPath::request(Message& msg) {
    if (!calls_ || msg.session < 0 || router_->waiting() != 0) return false;
    const uint32_t ls = next_session();
    frames_.clear();
    // Anything but one frame (a large message, an error the Lua side words) goes to Lua, which
    // frames it again with a session of its own: this one is merely skipped.
    if (!codec_.request(ls, msg.session == 0, msg.payload.data(), msg.payload.size(), frames_) ||
        frames_.size() != 1) {
        frames_.clear();
        return false;
    }
    // (before the write: the answer may reach the socket thread at once)
    if (msg.session > 0 && !router_->add(ls, msg.source, msg.session)) {
        frames_.clear();
        return false;
    }
    if (requests_) requests_->add(1);
    ++requests_taken_;
    write();
    return true;
}

bool DirectPath::response(Message& msg) {
    auto it = serving_.find(msg.session);
    if (it == serving_.end() || it->second.id != id_) return false;
    frames_.clear();
    if (!codec_.response(it->second.ls, true, msg.payload.data(), msg.payload.size(), frames_) ||
        frames_.size() != 1) {
        frames_.clear();
        return false;
    }
    serving_.erase(it);
    ++answers_taken_;
    write();
    return true;
}

void DirectPath::write() {
    if (bytes_) bytes_->add(frames_[0].size());
    last_send_ = host_->service().node().now();
    server_->send(id_, std::move(frames_[0]));
    frames_.clear();
}

}  // namespace skyhive::cluster
