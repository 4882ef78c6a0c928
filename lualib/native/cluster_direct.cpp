#include "lualib/native/cluster_direct.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/metrics.h"
#include "core/node.h"
#include "core/service.h"
#include "lualib/native/cluster_codec.h"
#include "lualib/native/cluster_router.h"
#include "net/socket_event.h"
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
    if (serving_.size() <= max_serving_ / 2) full_logged_ = false;
    return true;
}

void DirectPath::limit_serving(size_t max, std::string text) {
    max_serving_ = max;
    full_text_ = std::move(text);
}

bool DirectPath::admit() {
    if (serving_.size() < max_serving_) return true;
    if (!full_logged_ && host_) {
        full_logged_ = true;
        char line[400];
        std::snprintf(line, sizeof line,
                      "cluster: calls of node %s refused: %zu of them wait for an answer here "
                      "(cluster_max_serving)",
                      peer_.c_str(), serving_.size());
        host_->service().log(line);
    }
    return false;
}

bool DirectPath::take(Message& msg) {
    if (id_ == 0 || gathered_ != 0) return false;
    if (msg.type == MessageType::socket) return frames(msg);
    if (host_->service().mailbox_length() != 0) return false;
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
    if (counters_.requests) counters_.requests->add(1);
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
    if (serving_.size() <= max_serving_ / 2) full_logged_ = false;
    ++answers_taken_;
    write();
    return true;
}

namespace {

uint32_t be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

}  // namespace

bool DirectPath::frames(Message& msg) {
    const auto* p = reinterpret_cast<const uint8_t*>(msg.payload.data());
    const size_t n = msg.payload.size();
    if (n <= net::kEventHeaderSize) return false;
    net::SocketEvent e;
    std::memcpy(&e, p, sizeof e);
    if (e.type != net::SocketEventType::frames || e.id != id_) return false;
    // First the whole batch is checked: one frame it cannot hand out sends all of it to Lua, so
    // that the requests keep their order with whatever else the batch holds.
    Node& node = host_->service().node();
    incoming_.clear();
    for (size_t at = net::kEventHeaderSize; at < n;) {
        if (n - at < 4) return false;
        const uint32_t len = be32(p + at);
        at += 4;
        // kind, session, flags, total, and at least the address tag
        if (len > n - at || len < 11) return false;
        const uint8_t* b = p + at;
        at += len;
        const uint8_t flags = b[5];
        if (b[0] != kRequest || (flags & kFlagMore)) return false;
        Incoming r;
        r.ls = be32(b + 1);
        r.push = flags & kFlagPush;
        size_t head = 10;
        if (b[head] == 0 && len >= head + 5) {
            r.handle = be32(b + head + 1);
            r.target = Handle(r.handle);
            head += 5;
        } else if (b[head] == 1 && len >= head + 2 && b[head + 1] > 0 &&
                   len >= head + 2 + b[head + 1]) {
            r.name = std::string_view(reinterpret_cast<const char*>(b + head + 2), b[head + 1]);
            // ".clusterd" and "@names" are the link's to resolve
            if (r.name[0] != '.' || r.name == ".clusterd") return false;
            r.target = node.query_name(r.name);
            if (!r.target) return false;
            head += 2 + b[head + 1];
        } else {
            return false;
        }
        if (be32(b + 6) != len - head) return false;
        r.data = reinterpret_cast<const char*>(b + head);
        r.size = len - uint32_t(head);
        incoming_.push_back(r);
    }
    // The texts below are the link's own (clusterlink.lua, serve and incoming_request): change
    // them together.
    Service& self = host_->service();
    for (const Incoming& r : incoming_) {
        char address[16];
        if (r.name.empty()) std::snprintf(address, sizeof address, ":%08x", r.handle);
        Payload data = r.size ? Payload::copy(r.data, r.size) : Payload();
        if (r.push) {
            if (!self.send(r.target, MessageType::lua, 0, std::move(data))) {
                char line[400];
                std::snprintf(line, sizeof line,
                              "cluster: push from node %s to %s dropped: service is dead",
                              peer_.c_str(),
                              r.name.empty() ? std::to_string(r.handle).c_str()
                                             : std::string(r.name).c_str());
                self.log(line);
            }
        } else if (!admit()) {
            refuse(r.ls, full_text_.data(), full_text_.size());
        } else {
            const int32_t s = self.new_session();
            serving_[s] = Served{r.ls, id_};
            if (!self.send(r.target, MessageType::lua, s, std::move(data))) {
                serving_[s].id = 0;  // the node's error answer for the dead target is dropped
                char text[300];
                const int len =
                    std::snprintf(text, sizeof text, "service %s is dead",
                                  r.name.empty() ? address : std::string(r.name).c_str());
                refuse(r.ls, text, size_t(std::min<int>(len, sizeof text - 1)));
            }
        }
        ++served_taken_;
        if (counters_.served) counters_.served->add(1);
    }
    if (counters_.received_bytes) counters_.received_bytes->add(n - net::kEventHeaderSize);
    last_recv_ = node.now();
    return true;
}

void DirectPath::refuse(uint32_t ls, const char* text, size_t len) {
    frames_.clear();
    if (!codec_.response(ls, false, text, len, frames_) || frames_.size() != 1) {
        frames_.clear();
        return;
    }
    write();
}

void DirectPath::write() {
    if (counters_.sent_bytes) counters_.sent_bytes->add(frames_[0].size());
    last_send_ = host_->service().node().now();
    server_->send(id_, std::move(frames_[0]));
    frames_.clear();
}

}  // namespace skyhive::cluster
