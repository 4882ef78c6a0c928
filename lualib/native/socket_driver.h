#pragma once

// skynet.socketdriver: the C side of lualib/skynet/socket.lua (skynet's lua-socket.c). Every
// function runs on the thread running its Lua service; none yields. Sockets opened here are owned
// by that service: their events arrive as PTYPE_SOCKET messages, decoded by unpack.
//
// Sockets
//   connect(host, port) -> id | nil, err      non-blocking: `connected` or `error` follows
//   listen(host, port [, backlog]) -> id, port | nil, err   port: the bound one (0 = kernel's)
//   bind(fd) -> id | nil, err                 adopts an open fd (stdin, a pipe)
//   start(id), pause(id), close(id), shutdown(id), nodelay(id [, on])
//   buffers(id, bytes)                        SO_SNDBUF and SO_RCVBUF of a TCP socket
//   warning_mark(id, kb)                      this socket's write-queue high-water mark (1 KB to
//                                             4 GB; the node's socket_warning_kb otherwise)
//   send(id, data [, size]) -> boolean        data: string, table of strings, or light userdata
//   lsend(id, data [, size]) -> boolean       + size (ownership moves here); low priority
//   set_framer(id, name [, options]) -> true | nil, err
//                                             framed mode with a registered framer; options: a
//                                             table of integers for its factory (see below)
//   info() -> { {id, type, state, owner, address, port, reading, read, write, wbuffer, rtime,
//              wtime, nodelay, keepalive, sndbuf, rcvbuf}, ... }   every socket (netstat)
//   info(id) -> {id, type, ...} | nil         one socket. Both wait for the socket thread's
//                                             answer, so every command issued before has been
//                                             processed when they return
// UDP
//   udp(host, port) -> id, port | nil, err    bound socket; reads at once
//   udp_send(id, address, data [, size]) -> boolean   address: the compact form below
//   udp_address(address) -> ip, port          compact form -> text
//   udp_target(host, port) -> address | nil, err      numeric host -> compact form
//   resolve(host) -> { ip, ... }                      getaddrinfo (blocks); raises on failure
// Events
//   unpack(msg, size) -> type, id, ...        the payload of a PTYPE_SOCKET message:
//       1 data       id, size                 bytes follow the 16-byte header; take the message
//                                             (skynet.core take) and push it into a buffer
//       2 connected  id, 0, "ip:port"
//       3 closed     id, reason               "eof" (peer finished) or "owner" (close/shutdown)
//       4 accepted   listener id, new id, "ip:port"
//       5 error      id, op, text, errno      the id is dead; op: "connect", "read", ...
//       6 udp        id, datagram, address
//       7 warning    id, KB queued (0: drained)
//       8 frames     id, count, ptr, size     ptr borrows the message: valid until the handler
//                                             returns or yields
// Read buffers (a chain of adopted data messages, no copy until read)
//   buffer() -> buf
//   push(buf, msg, size) -> bytes buffered    msg: a taken data message (ownership moves)
//   pop(buf, n) -> string | nil               nil while fewer than n bytes are buffered
//   readall(buf) -> string                    everything ("" when empty)
//   readline(buf, sep [, check]) -> string | nil   up to sep (removed); check: true/false only
//   size(buf) -> bytes buffered; clear(buf)

#include <lua.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/handle.h"
#include "core/result.h"
#include "net/framer.h"

namespace skyhive {

namespace net {
class SocketServer;
}

// Integer settings for a framer, by name (e.g. max_bulk for "resp"), from set_framer's table.
using FramerOptions = std::map<std::string, int64_t, std::less<>>;
// Makes a framer; an Error (naming the bad option) when the options do not fit.
using FramerFactory =
    std::function<Result<std::unique_ptr<net::Framer>>(const FramerOptions& options)>;

// What the socket binding of one node reaches: the node's socket server and the framers that
// set_framer may install, by name ("resp" for Redis connections). Owned beside the SocketServer
// (services/main.cpp) and lent to the node's LuaHost; it must outlive every Lua service.
//
// Thread: add_framer before the first Lua service starts; everything else from any thread.
class SocketDriver {
  public:
    explicit SocketDriver(net::SocketServer& server) : server_(server) {}
    SocketDriver(const SocketDriver&) = delete;
    SocketDriver& operator=(const SocketDriver&) = delete;

    net::SocketServer& server() const { return server_; }

    // Registers (or replaces) the framer factory for `name`.
    void add_framer(std::string name, FramerFactory make);
    // A new framer from the factory registered as `name`.
    Result<std::unique_ptr<net::Framer>> make_framer(std::string_view name,
                                                     const FramerOptions& options = {}) const;
    std::vector<std::string> framer_names() const;

  private:
    net::SocketServer& server_;
    std::map<std::string, FramerFactory, std::less<>> framers_;
};

// Makes `driver` reachable from L for skynet.socketdriver, with `self` (the service running L)
// as the owner of every socket opened there. A null driver leaves the module unavailable
// ("this node has no socket server"). Call before the service's script runs.
void socket_driver_bind(lua_State* L, SocketDriver* driver, Handle self);

// The socket server bound to L by socket_driver_bind, or null (native code that writes a
// service's sockets itself, e.g. a cluster link's direct path). Thread: the one running L.
net::SocketServer* socket_server_of(lua_State* L);

}  // namespace skyhive

extern "C" int luaopen_skynet_socketdriver(lua_State* L);
