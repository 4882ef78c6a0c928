#include "services/gate/gate.h"

#include <algorithm>

#include "core/node.h"
#include "core/service.h"
#include "net/socket_event.h"
#include "net/socket_server.h"

namespace skyhive {

namespace {

Error gate_error(std::string_view what) {
    return Error{"gate: " + std::string(what)};
}

// conf[key] as an integer in [lo, hi], or `fallback` when absent.
Result<int64_t> int_field(const LuaArg& conf, const char* key, int64_t fallback, int64_t lo,
                          int64_t hi) {
    auto it = conf.fields.find(key);
    if (it == conf.fields.end() || it->second.is_nil()) return fallback;
    const int64_t* i = it->second.integer();
    if (!i || *i < lo || *i > hi)
        return gate_error("open: conf." + std::string(key) + " must be an integer in " +
                          std::to_string(lo) + ".." + std::to_string(hi));
    return *i;
}

// args[i] as an integer, or `fallback` when absent or nil.
Result<int64_t> int_arg(const std::vector<LuaArg>& args, size_t i, const char* cmd,
                        const char* name, int64_t fallback) {
    if (i >= args.size() || args[i].value.is_nil()) return fallback;
    const int64_t* v = args[i].value.integer();
    if (!v) return gate_error(std::string(cmd) + ": " + name + " must be an integer");
    return *v;
}

}  // namespace

bool Gate::init(Service&, std::string_view args) {
    // Everything is set by "open"; skynet's C gate took its settings here, this one takes none.
    return args.find_first_not_of(' ') == std::string_view::npos;
}

void Gate::on_message(Service& self, Message& msg) {
    if (msg.type == MessageType::socket) {
        on_socket(self, msg);
        return;
    }
    if (msg.type != MessageType::lua) return;
    std::string_view bytes(msg.payload.data(), msg.payload.size());
    Result<Payload> r = command(self, msg.source, bytes);
    if (msg.session == 0) {
        if (!r) self.log(r.error().message);
        return;
    }
    if (r)
        self.send(msg.source, MessageType::response, msg.session, std::move(*r));
    else
        self.send(msg.source, MessageType::error, msg.session, Payload::copy(r.error().message));
}

Result<Payload> Gate::command(Service& self, Handle source, std::string_view bytes) {
    auto parsed = codec_.unpack(bytes);
    if (!parsed) return gate_error(parsed.error().message);
    const std::vector<LuaArg>& args = *parsed;
    const std::string* cmd = args.empty() ? nullptr : args[0].value.string();
    if (!cmd) return gate_error("the first argument must be a command name");
    // A command without results answers with an empty payload: no values.
    if (*cmd == "open") {
        if (args.size() < 2 || !args[1].is_table) return gate_error("open: expects a conf table");
        return open(self, source, args[1]);
    }
    if (*cmd == "close") {
        if (listener_ >= 0) server_.close(listener_);
        listener_ = -1;
        return Payload();
    }
    if (*cmd == "forward" || *cmd == "accept" || *cmd == "kick" || *cmd == "pause" ||
        *cmd == "resume") {
        auto fd = int_arg(args, 1, cmd->c_str(), "fd", -1);
        if (!fd) return fd.error();
        auto it = connections_.find(int32_t(*fd));
        if (*cmd == "kick") {
            // As skynet: kicking a connection that is gone is not an error. The watchdog hears
            // "close" when the close takes effect.
            if (it != connections_.end()) server_.close(it->first);
            return Payload();
        }
        if (*cmd == "pause" || *cmd == "resume") {
            // Like kick, a connection that is gone is not an error: the watchdog may act on a
            // warning that crossed the connection's close.
            if (it != connections_.end()) {
                if (*cmd == "pause") {
                    server_.pause(it->first);
                } else {
                    auto handled = int_arg(args, 2, "resume", "handled", 0);
                    if (!handled) return handled.error();
                    Connection& c = it->second;
                    c.unacked -= std::min(c.unacked, size_t(std::max<int64_t>(*handled, 0)));
                    if (window_ && c.unacked < window_ && !c.unread.empty()) {
                        std::string unread = std::move(c.unread);
                        c.unread.clear();
                        on_data(self, *fd, unread);  // may pause again, or fail
                        it = connections_.find(int32_t(*fd));
                        if (it == connections_.end() || !it->second.unread.empty())
                            return Payload();
                    }
                    if (!window_ || it->second.unacked < window_)
                        server_.start(it->first, self.handle());
                }
            }
            return Payload();
        }
        if (it == connections_.end())
            return gate_error(*cmd + ": no connection " + std::to_string(*fd));
        Connection& c = it->second;
        if (*cmd == "forward") {
            auto client = int_arg(args, 2, "forward", "client", 0);
            if (!client) return client.error();
            auto address = int_arg(args, 3, "forward", "address", source.value);
            if (!address) return address.error();
            c.client = Handle(uint32_t(*client));
            c.agent = Handle(uint32_t(*address));
        } else {
            c.agent = Handle();
            c.client = Handle();
        }
        server_.start(it->first, self.handle());
        return Payload();
    }
    return gate_error("unknown command " + *cmd);
}

Result<Payload> Gate::open(Service& self, Handle source, const LuaArg& conf) {
    if (listener_ >= 0) return gate_error("open: already listening");
    auto port = int_field(conf, "port", -1, 0, 65535);
    if (!port) return port.error();
    if (*port < 0) return gate_error("open: conf.port is required");
    auto maxclient = int_field(conf, "maxclient", 1024, 1, 1 << 24);
    if (!maxclient) return maxclient.error();
    auto watchdog = int_field(conf, "watchdog", source.value, 0, UINT32_MAX);
    if (!watchdog) return watchdog.error();
    std::string address = "0.0.0.0";
    if (auto it = conf.fields.find("address"); it != conf.fields.end() && !it->second.is_nil()) {
        if (!it->second.string()) return gate_error("open: conf.address must be a string");
        address = *it->second.string();
    }
    nodelay_ = false;
    if (auto it = conf.fields.find("nodelay"); it != conf.fields.end() && !it->second.is_nil()) {
        if (!it->second.boolean()) return gate_error("open: conf.nodelay must be a boolean");
        nodelay_ = *it->second.boolean();
    }
    auto window = int_field(conf, "window", 0, 0, 1 << 30);
    if (!window) return window.error();
    window_ = size_t(*window);
    skip_long_ = false;
    if (auto it = conf.fields.find("skip_long"); it != conf.fields.end() && !it->second.is_nil()) {
        if (!it->second.boolean()) return gate_error("open: conf.skip_long must be a boolean");
        skip_long_ = *it->second.boolean();
    }
    halfclose_ = false;
    if (auto it = conf.fields.find("halfclose"); it != conf.fields.end() && !it->second.is_nil()) {
        if (!it->second.boolean()) return gate_error("open: conf.halfclose must be a boolean");
        halfclose_ = *it->second.boolean();
    }
    mode_ = PacketMode::header2;
    if (auto it = conf.fields.find("mode"); it != conf.fields.end() && !it->second.is_nil()) {
        const std::string* m = it->second.string();
        if (m && *m == "lines")
            mode_ = PacketMode::lines;
        else if (!m || *m != "header")
            return gate_error("open: conf.mode must be \"header\" or \"lines\"");
    }
    const int64_t max_limit = mode_ == PacketMode::header2 ? 0xffff : (int64_t(1) << 30);
    auto max_packet =
        int_field(conf, "max_packet", mode_ == PacketMode::header2 ? 0xffff : 65536, 1, max_limit);
    if (!max_packet) return max_packet.error();

    auto bound = server_.listen(self.handle(), address, int(*port));
    if (!bound) return gate_error("open: " + bound.error().message);
    listener_ = bound->id;
    watchdog_ = Handle(uint32_t(*watchdog));
    maxclient_ = size_t(*maxclient);
    max_packet_ = size_t(*max_packet);
    server_.start(listener_);
    LuaPacker reply(codec_);
    reply.integer(bound->port);
    return reply.take();
}

void Gate::on_socket(Service& self, Message& msg) {
    if (msg.payload.size() < net::kEventHeaderSize) return;
    net::SocketEvent e = net::event_header(msg.payload);
    std::string_view bytes = net::event_bytes(msg.payload);
    switch (e.type) {
        case net::SocketEventType::accepted: {
            if (e.id != listener_ || connections_.size() >= maxclient_) {
                server_.close(e.ud);  // the closed event that follows finds no connection
                return;
            }
            if (nodelay_) server_.set_nodelay(e.ud, true);
            connections_.emplace(
                e.ud, Connection{PacketCutter(mode_, max_packet_, skip_long_), {}, {}, {}, 0});
            LuaPacker p(codec_);
            p.string("socket").string("open").integer(e.ud).string(bytes);
            notify(self, p);
            break;
        }
        case net::SocketEventType::data:
            on_data(self, e.id, bytes);
            break;
        case net::SocketEventType::closed:
            if (e.op == uint8_t(net::CloseReason::eof)) {
                if (halfclose_) {
                    // The client has only stopped sending: its last line (without a line end)
                    // still counts, and the socket stays open for the answers.
                    on_last_line(self, e.id);
                } else {
                    server_.close(e.id);
                }
            }
            drop(self, e.id, "close");
            break;
        case net::SocketEventType::error:
            if (e.id == listener_) {
                self.log("gate: listener failed: " + std::string(bytes));
                listener_ = -1;
                return;
            }
            drop(self, e.id, "error", bytes);
            break;
        case net::SocketEventType::warning:
            if (connections_.count(e.id)) {
                LuaPacker p(codec_);
                p.string("socket").string("warning").integer(e.id).integer(e.ud);
                notify(self, p);
            }
            break;
        default:
            break;
    }
}

void Gate::on_data(Service& self, int32_t fd, std::string_view bytes) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;  // kicked or failed; its closed event is on the way
    Connection& c = it->second;
    auto on_packet = [&](std::string_view packet) { deliver(self, c, fd, packet); };
    if (!window_ || mode_ != PacketMode::lines) {
        auto r = c.cutter.feed(bytes.data(), bytes.size(), on_packet);
        if (!r) fail(self, fd, r.error().message);
        return;
    }
    // With a window, lines are cut one at a time while the receiver has room; the rest of the
    // bytes wait here as they came (cheaper than a message per line) and reading stops.
    if (!c.unread.empty()) {
        c.unread.append(bytes.data(), bytes.size());
        return;
    }
    while (!bytes.empty() && c.unacked < window_) {
        size_t end = bytes.find_first_of("\r\n");
        size_t take = end == std::string_view::npos ? bytes.size() : end + 1;
        auto r = c.cutter.feed(bytes.data(), take, on_packet);
        if (!r) return fail(self, fd, r.error().message);
        bytes.remove_prefix(take);
    }
    if (!bytes.empty()) {
        c.unread.assign(bytes.data(), bytes.size());
        server_.pause(fd);  // until resume(fd) makes room
    }
}

void Gate::fail(Service& self, int32_t fd, std::string_view text) {
    server_.close(fd);
    drop(self, fd, "error", text);
}

void Gate::on_last_line(Service& self, int32_t fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end() || mode_ != PacketMode::lines) return;
    Connection& c = it->second;
    if (!c.unread.empty()) {
        // The client has stopped sending: what it sent is handed out whatever the window.
        std::string unread = std::move(c.unread);
        c.unread.clear();
        auto r = c.cutter.feed(unread.data(), unread.size(),
                               [&](std::string_view packet) { deliver(self, c, fd, packet); });
        if (!r) return;
    }
    std::string last = c.cutter.take_pending();
    if (!last.empty()) deliver(self, it->second, fd, last);
}

void Gate::deliver(Service& self, Connection& c, int32_t fd, std::string_view packet) {
    ++c.unacked;
    if (c.agent) {
        // deliver, not send: an agent that opts in to inline events (a C++ one) handles the
        // packet right here, before the next read (Module::inline_socket_events).
        self.node().deliver(c.agent,
                            Message{c.client, fd, MessageType::client, Payload::copy(packet)});
    } else {
        LuaPacker p(codec_);
        p.string("socket").string("data").integer(fd).string(packet);
        self.node().send(self.handle(), watchdog_, MessageType::lua, 0, p.take());
    }
}

void Gate::drop(Service& self, int32_t fd, const char* what, std::string_view text) {
    if (connections_.erase(fd) == 0) return;
    LuaPacker p(codec_);
    p.string("socket").string(what).integer(fd);
    if (!text.empty()) p.string(text);
    notify(self, p);
}

void Gate::notify(Service& self, LuaPacker& packer) {
    if (watchdog_) self.send(watchdog_, MessageType::lua, 0, packer.take());
}

void Gate::release(Service&) {
    for (auto& [fd, c] : connections_)
        server_.close(fd);
    connections_.clear();
    if (listener_ >= 0) server_.close(listener_);
    listener_ = -1;
}

}  // namespace skyhive
