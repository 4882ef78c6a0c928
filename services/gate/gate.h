#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/module.h"
#include "services/gate/lua_args.h"
#include "services/gate/packet_cutter.h"

namespace skyhive {

namespace net {
class SocketServer;
}

// The gate: skynet's gate protocol as a C++ service (module "gate"). It listens, tells a watchdog
// service about connections, and cuts each connection's bytes into packets on the socket thread
// (Module::inline_socket_events), sending every packet straight to the connection's agent as a
// "client" message: no worker hand-off between the read and the agent's mailbox.
//
// Commands, in the "lua" protocol (skynet.call(gate, "lua", cmd, ...)):
//   open(conf)                     conf: port (required), address ("0.0.0.0"), maxclient (1024),
//                                  nodelay (false), watchdog (the caller), and skyhive's own
//                                  mode ("header": skynet's netpack, 2-byte big-endian length;
//                                  "lines": one packet per line, "\r\n" or "\n"), max_packet
//                                  (bytes: 65535 for "header", the longest line for "lines",
//                                  default 65536), halfclose (false; see below), skip_long
//                                  ("lines": a longer line is not an error, its packet is its
//                                  first max_packet + 1 bytes and the rest is dropped; false).
//                                  window (packets; 0, the default: none): after that many
//                                  unhandled packets of a connection (see resume) reading stops,
//                                  so
//                                  a receiver slower than its client bounds what waits in its
//                                  mailbox. Returns the bound port.
//   close()                        stops listening; connections stay.
//   forward(fd, client, address)   the connection's packets go to `address` (default: the
//                                  caller) as "client" messages, source `client` (default 0),
//                                  session fd; reading starts.
//   accept(fd)                     reading starts; packets go to the watchdog.
//   kick(fd)                       closes the connection (queued output is still sent).
//   pause(fd), resume(fd, handled) stops reading the connection (its client is then held by
//                                  TCP flow control), starts again; for back-pressure on
//                                  "warning". A connection that is gone is ignored, as by kick.
// To the watchdog, in the "lua" protocol: "socket", then "open", fd, "ip:port" | "close", fd |
// "error", fd, text | "warning", fd, KB queued (0: drained) | "data", fd, packet (a packet of a
// connection that is not forwarded).
// A new connection is paused until forward or accept; past maxclient it is closed at once
// without a notice. With halfclose, a client's end of input (shutdown of its sending side) does
// not close the connection: in "lines" mode its last line without a line end is still
// delivered, the watchdog hears "close" and the gate forgets the connection, and the socket stays
// open for writing until the service that answers closes it (socket.close_fd(fd) in Lua).
// A packet over max_packet, or a line over it, is an error: the watchdog gets
// "error" and the connection is closed.
//
// Thread: one at a time (Module): commands on a worker, socket events on the socket thread.
class Gate : public Module {
  public:
    explicit Gate(net::SocketServer& server) : server_(server) {}

    bool inline_socket_events() const override { return true; }
    bool init(Service& self, std::string_view args) override;
    void on_message(Service& self, Message& msg) override;
    void release(Service& self) override;

  private:
    struct Connection {
        PacketCutter cutter;
        Handle agent;        // none: packets go to the watchdog
        Handle client;       // the source of forwarded packets
        std::string unread;  // bytes read past a full window, not cut yet
        size_t unacked = 0;  // packets handed out and not yet reported handled (for window)
    };

    Result<Payload> command(Service& self, Handle source, std::string_view bytes);
    Result<Payload> open(Service& self, Handle source, const LuaArg& conf);
    void on_socket(Service& self, Message& msg);
    void on_data(Service& self, int32_t fd, std::string_view bytes);
    // Closes a connection whose bytes break the bounds; the watchdog gets "error".
    void fail(Service& self, int32_t fd, std::string_view text);
    // halfclose, at the client's end of input: its unfinished line becomes its last packet.
    void on_last_line(Service& self, int32_t fd);
    // A packet to the connection's agent, or to the watchdog when it has none.
    void deliver(Service& self, Connection& c, int32_t fd, std::string_view packet);
    // Forgets a connection and tells the watchdog `what` ("close" or "error", with `text`).
    void drop(Service& self, int32_t fd, const char* what, std::string_view text = {});
    void notify(Service& self, LuaPacker& packer);

    net::SocketServer& server_;
    int32_t listener_ = -1;
    Handle watchdog_;
    size_t maxclient_ = 1024;
    bool nodelay_ = false;
    bool halfclose_ = false;
    bool skip_long_ = false;
    size_t window_ = 0;
    PacketMode mode_ = PacketMode::header2;
    size_t max_packet_ = 0xffff;
    std::unordered_map<int32_t, Connection> connections_;
    LuaCodec codec_;  // commands in, notices out (skynet.pack's codec)
};

}  // namespace skyhive
