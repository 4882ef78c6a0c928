#include "lualib/native/socket_driver.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/clock.h"
#include "core/message.h"
#include "lualib/native/socket_buffer.h"
#include "net/socket_server.h"

// Lua raises errors with longjmp, which skips C++ destructors. Each function checks its arguments
// first, keeps objects that own memory (Result, Payload, std::string) inside a scope that ends
// before anything is pushed, and copies error texts into plain char arrays on the way out.

namespace skyhive {

void SocketDriver::add_framer(std::string name, FramerFactory make) {
    framers_.insert_or_assign(std::move(name), std::move(make));
}

Result<std::unique_ptr<net::Framer>> SocketDriver::make_framer(std::string_view name,
                                                               const FramerOptions& options) const {
    auto it = framers_.find(name);
    if (it == framers_.end()) return Error{"no framer named '" + std::string(name) + "'"};
    return it->second(options);
}

std::vector<std::string> SocketDriver::framer_names() const {
    std::vector<std::string> names;
    for (const auto& [name, make] : framers_)
        names.push_back(name);
    return names;
}

namespace {

char kBindingKey;

// The per-state upvalue of every function: which driver, and which service owns new sockets.
struct Binding {
    SocketDriver* driver;
    Handle self;
};

Binding& binding(lua_State* L) {
    return *static_cast<Binding*>(lua_touserdata(L, lua_upvalueindex(1)));
}

net::SocketServer& server(lua_State* L) {
    return binding(L).driver->server();
}

int32_t check_id(lua_State* L, int arg) {
    lua_Integer id = luaL_checkinteger(L, arg);
    luaL_argcheck(L, id > 0 && id <= INT32_MAX, arg, "socket id out of range");
    return int32_t(id);
}

int check_port(lua_State* L, int arg) {
    lua_Integer port = luaL_checkinteger(L, arg);
    luaL_argcheck(L, port >= 0 && port <= 65535, arg, "port out of range");
    return int(port);
}

std::string_view opt_host(lua_State* L, int arg) {
    size_t len = 0;
    const char* host = luaL_optlstring(L, arg, "", &len);
    return {host, len};
}

using ErrorText = char[512];

void keep_error(ErrorText& out, const Error& e) {
    std::snprintf(out, sizeof(ErrorText), "%s", e.message.c_str());
}

int push_failure(lua_State* L, const char* text) {
    lua_pushnil(L);
    lua_pushstring(L, text);
    return 2;
}

// A message body for send: what lies at `arg` (and `arg + 1` for light userdata + size).
struct Body {
    enum Kind { string, table, adopt } kind = string;
    const char* data = nullptr;
    size_t size = 0;
};

Body check_body(lua_State* L, int arg) {
    Body b;
    switch (lua_type(L, arg)) {
        case LUA_TSTRING:
            b.data = lua_tolstring(L, arg, &b.size);
            break;
        case LUA_TLIGHTUSERDATA: {
            lua_Integer size = luaL_checkinteger(L, arg + 1);
            luaL_argcheck(L, size >= 0 && size <= lua_Integer(UINT32_MAX), arg + 1,
                          "size out of range");
            b.kind = Body::adopt;
            b.data = static_cast<const char*>(lua_touserdata(L, arg));
            b.size = size_t(size);
            break;
        }
        case LUA_TTABLE: {
            b.kind = Body::table;
            const lua_Integer n = lua_Integer(lua_rawlen(L, arg));
            for (lua_Integer i = 1; i <= n; ++i) {
                size_t len = 0;
                if (lua_rawgeti(L, arg, i) != LUA_TSTRING)
                    luaL_error(L, "bad argument #%d (element %d is not a string)", arg, int(i));
                lua_tolstring(L, -1, &len);
                lua_pop(L, 1);
                b.size += len;
            }
            break;
        }
        default:
            luaL_typeerror(L, arg, "string, table of strings or light userdata");
    }
    luaL_argcheck(L, b.size <= UINT32_MAX, arg, "data larger than 4 GB");
    return b;
}

// Builds the payload; no Lua call in here can raise (every element was checked above).
Payload to_payload(lua_State* L, int arg, const Body& b) {
    switch (b.kind) {
        case Body::adopt:
            return Payload::adopt(const_cast<char*>(b.data), uint32_t(b.size));
        case Body::string:
            return Payload::copy(b.data, b.size);
        case Body::table: {
            Payload p = Payload::allocate(b.size);
            char* at = p.data();
            const lua_Integer n = lua_Integer(lua_rawlen(L, arg));
            for (lua_Integer i = 1; i <= n; ++i) {
                size_t len = 0;
                lua_rawgeti(L, arg, i);
                const char* s = lua_tolstring(L, -1, &len);
                std::memcpy(at, s, len);
                at += len;
                lua_pop(L, 1);
            }
            return p;
        }
    }
    return {};
}

int send_common(lua_State* L, bool low) {
    const int32_t id = check_id(L, 1);
    const Body body = check_body(L, 2);
    bool ok;
    {
        Payload p = to_payload(L, 2, body);
        ok = low ? server(L).send_low(id, std::move(p)) : server(L).send(id, std::move(p));
    }
    lua_pushboolean(L, ok);
    return 1;
}

int l_send(lua_State* L) {
    return send_common(L, false);
}

int l_lsend(lua_State* L) {
    return send_common(L, true);
}

int l_connect(lua_State* L) {
    size_t len = 0;
    const char* host = luaL_checklstring(L, 1, &len);
    const int port = check_port(L, 2);
    ErrorText err = "";
    int32_t id = 0;
    {
        auto r = server(L).connect(binding(L).self, std::string_view(host, len), port);
        if (r)
            id = r.value();
        else
            keep_error(err, r.error());
    }
    if (!id) return push_failure(L, err);
    lua_pushinteger(L, id);
    return 1;
}

int l_listen(lua_State* L) {
    const std::string_view host = opt_host(L, 1);
    const int port = check_port(L, 2);
    const lua_Integer backlog = luaL_optinteger(L, 3, 128);
    luaL_argcheck(L, backlog > 0 && backlog <= 65535, 3, "backlog out of range");
    ErrorText err = "";
    net::BoundSocket bound;
    {
        auto r = server(L).listen(binding(L).self, host, port, int(backlog));
        if (r)
            bound = r.value();
        else
            keep_error(err, r.error());
    }
    if (!bound.id) return push_failure(L, err);
    lua_pushinteger(L, bound.id);
    lua_pushinteger(L, bound.port);
    return 2;
}

int l_bind(lua_State* L) {
    const lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "not a file descriptor");
    ErrorText err = "";
    int32_t id = 0;
    {
        auto r = server(L).bind(binding(L).self, int(fd));
        if (r)
            id = r.value();
        else
            keep_error(err, r.error());
    }
    if (!id) return push_failure(L, err);
    lua_pushinteger(L, id);
    return 1;
}

int l_start(lua_State* L) {
    server(L).start(check_id(L, 1), binding(L).self);
    return 0;
}

int l_pause(lua_State* L) {
    server(L).pause(check_id(L, 1));
    return 0;
}

// close(id [, only_if_mine])
int l_close(lua_State* L) {
    const int32_t id = check_id(L, 1);
    if (lua_toboolean(L, 2))
        server(L).close_if_owner(id, binding(L).self);
    else
        server(L).close(id);
    return 0;
}

int l_shutdown(lua_State* L) {
    server(L).shutdown(check_id(L, 1));
    return 0;
}

int l_warning_mark(lua_State* L) {
    const int32_t id = check_id(L, 1);
    const lua_Integer kb = luaL_checkinteger(L, 2);
    luaL_argcheck(L, kb >= 1 && kb <= (lua_Integer(1) << 22), 2,
                  "the warning mark is 1 to 4194304 KB");
    server(L).set_warning_mark(id, uint32_t(kb));
    return 0;
}

int l_nodelay(lua_State* L) {
    const int32_t id = check_id(L, 1);
    server(L).set_nodelay(id, lua_isnone(L, 2) || lua_toboolean(L, 2));
    return 0;
}

// Deletes the FramerOptions held in a userdata (its __gc): see l_info for why it is boxed.
int options_gc(lua_State* L) {
    static_cast<FramerOptions*>(lua_touserdata(L, 1))->~FramerOptions();
    return 0;
}

int l_set_framer(lua_State* L) {
    const int32_t id = check_id(L, 1);
    size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    auto* options = static_cast<FramerOptions*>(lua_newuserdatauv(L, sizeof(FramerOptions), 0));
    new (options) FramerOptions();
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, options_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) != LUA_TSTRING || !lua_isinteger(L, -1))
                return luaL_error(L, "set_framer %s: options must map names to integers", name);
            options->insert_or_assign(lua_tostring(L, -2), int64_t(lua_tointeger(L, -1)));
            lua_pop(L, 1);
        }
    }
    ErrorText err = "";
    {
        auto framer = binding(L).driver->make_framer(std::string_view(name, len), *options);
        if (framer)
            server(L).set_framer(id, std::move(framer.value()));
        else
            keep_error(err, framer.error());
    }
    if (err[0]) return push_failure(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

int l_udp(lua_State* L) {
    const std::string_view host = opt_host(L, 1);
    const int port = lua_isnoneornil(L, 2) ? 0 : check_port(L, 2);
    ErrorText err = "";
    net::BoundSocket bound;
    {
        auto r = server(L).udp_open(binding(L).self, host, port);
        if (r)
            bound = r.value();
        else
            keep_error(err, r.error());
    }
    if (!bound.id) return push_failure(L, err);
    lua_pushinteger(L, bound.id);
    lua_pushinteger(L, bound.port);
    return 2;
}

std::optional<net::UdpAddress> check_udp_address(lua_State* L, int arg) {
    size_t len = 0;
    const char* bytes = luaL_checklstring(L, arg, &len);
    auto a = net::UdpAddress::from_bytes(std::string_view(bytes, len));
    luaL_argcheck(L, a.has_value(), arg, "not a UDP address (see udp_target)");
    return a;
}

int l_udp_send(lua_State* L) {
    const int32_t id = check_id(L, 1);
    const net::UdpAddress to = *check_udp_address(L, 2);
    const Body body = check_body(L, 3);
    bool ok;
    {
        Payload p = to_payload(L, 3, body);
        ok = server(L).send_to(id, to, std::move(p));
    }
    lua_pushboolean(L, ok);
    return 1;
}

int l_udp_address(lua_State* L) {
    const net::UdpAddress a = *check_udp_address(L, 1);
    const std::string_view b = a.bytes();
    char ip[INET6_ADDRSTRLEN] = "";
    inet_ntop(b[0] == 4 ? AF_INET : AF_INET6, b.data() + 3, ip, sizeof ip);
    lua_pushstring(L, ip);
    lua_pushinteger(L, (uint8_t(b[1]) << 8) | uint8_t(b[2]));
    return 2;
}

int l_udp_target(lua_State* L) {
    size_t len = 0;
    const char* host = luaL_checklstring(L, 1, &len);
    const int port = check_port(L, 2);
    ErrorText err = "";
    net::UdpAddress a;
    {
        auto r = net::UdpAddress::parse(std::string_view(host, len), port);
        if (r)
            a = r.value();
        else
            keep_error(err, r.error());
    }
    if (!a.valid()) return push_failure(L, err);
    lua_pushlstring(L, a.bytes().data(), a.bytes().size());
    return 1;
}

const char* close_reason(uint8_t op) {
    return op == uint8_t(net::CloseReason::eof) ? "eof" : "owner";
}

int l_unpack(lua_State* L) {
    luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
    const lua_Integer size = luaL_checkinteger(L, 2);
    luaL_argcheck(L, size >= lua_Integer(net::kEventHeaderSize), 2, "not a socket message");
    const char* msg = static_cast<const char*>(lua_touserdata(L, 1));
    net::SocketEvent e;
    std::memcpy(&e, msg, sizeof e);
    const char* bytes = msg + net::kEventHeaderSize;
    const size_t n = size_t(size) - net::kEventHeaderSize;
    lua_pushinteger(L, lua_Integer(e.type));
    lua_pushinteger(L, e.id);
    switch (e.type) {
        case net::SocketEventType::data:
            lua_pushinteger(L, lua_Integer(n));
            return 3;
        case net::SocketEventType::connected:
            lua_pushinteger(L, 0);
            lua_pushlstring(L, bytes, n);
            return 4;
        case net::SocketEventType::closed:
            lua_pushstring(L, close_reason(e.op));
            return 3;
        case net::SocketEventType::accepted:
            lua_pushinteger(L, e.ud);
            lua_pushlstring(L, bytes, n);
            return 4;
        case net::SocketEventType::error:
            lua_pushstring(L, net::to_string(net::SocketOp(e.op)));
            lua_pushlstring(L, bytes, n);
            lua_pushinteger(L, e.err);
            return 5;
        case net::SocketEventType::udp: {
            const size_t alen = size_t(e.ud) <= n ? size_t(e.ud) : n;
            lua_pushlstring(L, bytes, n - alen);
            lua_pushlstring(L, bytes + (n - alen), alen);
            return 4;
        }
        case net::SocketEventType::warning:
            lua_pushinteger(L, e.ud);
            return 3;
        case net::SocketEventType::frames:
            lua_pushinteger(L, e.ud);
            lua_pushlightuserdata(L, const_cast<char*>(bytes));
            lua_pushinteger(L, lua_Integer(n));
            return 5;
    }
    return luaL_error(L, "socket message of unknown type %d", int(e.type));
}

// Destroys the snapshot vector held in a userdata (its __gc), so a Lua error while the table is
// built frees it too.
int snapshot_gc(lua_State* L) {
    using Infos = std::vector<net::SocketInfo>;
    static_cast<Infos*>(lua_touserdata(L, 1))->~Infos();
    return 0;
}

void set_field(lua_State* L, const char* key, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

int l_info(lua_State* L) {
    using Infos = std::vector<net::SocketInfo>;
    const bool one = !lua_isnoneornil(L, 1);
    const int32_t id = one ? check_id(L, 1) : 0;
    auto* box = static_cast<Infos*>(lua_newuserdatauv(L, sizeof(Infos), 0));
    new (box) Infos();
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, snapshot_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    if (one) {
        if (auto info = server(L).info(id)) box->push_back(std::move(*info));
        if (box->empty()) return 0;
    } else {
        *box = server(L).snapshot();
    }
    const uint64_t now = monotonic_ns();
    if (!one) lua_createtable(L, int(box->size()), 0);
    for (size_t i = 0; i < box->size(); ++i) {
        const net::SocketInfo& s = (*box)[i];
        lua_createtable(L, 0, 14);
        set_field(L, "id", s.id);
        lua_pushstring(L, net::to_string(s.kind));
        lua_setfield(L, -2, "type");
        lua_pushstring(L, net::to_string(s.state));
        lua_setfield(L, -2, "state");
        set_field(L, "owner", s.owner.value);
        lua_pushlstring(L, s.address.data(), s.address.size());
        lua_setfield(L, -2, "address");
        set_field(L, "port", s.local_port);
        lua_pushboolean(L, s.reading);
        lua_setfield(L, -2, "reading");
        set_field(L, "read", lua_Integer(s.bytes_in));
        set_field(L, "write", lua_Integer(s.bytes_out));
        set_field(L, "wbuffer", lua_Integer(s.buffered));
        // Milliseconds since the last read / write; absent when there was none.
        if (s.last_read_ns) set_field(L, "rtime", lua_Integer((now - s.last_read_ns) / 1000000));
        if (s.last_write_ns) set_field(L, "wtime", lua_Integer((now - s.last_write_ns) / 1000000));
        lua_pushboolean(L, s.nodelay);
        lua_setfield(L, -2, "nodelay");
        lua_pushboolean(L, s.keepalive);
        lua_setfield(L, -2, "keepalive");
        if (!one) lua_rawseti(L, -2, lua_Integer(i + 1));
    }
    lua_remove(L, -2);  // the box; collected later
    return 1;
}

}  // namespace

void socket_driver_bind(lua_State* L, SocketDriver* driver, Handle self) {
    if (!driver) return;
    auto* b = static_cast<Binding*>(lua_newuserdatauv(L, sizeof(Binding), 0));
    *b = Binding{driver, self};
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kBindingKey);
}

}  // namespace skyhive

extern "C" int luaopen_skynet_socketdriver(lua_State* L) {
    using namespace skyhive;
    static const luaL_Reg bound[] = {
        {"connect", l_connect},   {"listen", l_listen},     {"bind", l_bind},
        {"start", l_start},       {"pause", l_pause},       {"close", l_close},
        {"shutdown", l_shutdown}, {"nodelay", l_nodelay},   {"warning_mark", l_warning_mark},
        {"send", l_send},         {"lsend", l_lsend},       {"set_framer", l_set_framer},
        {"udp", l_udp},           {"udp_send", l_udp_send}, {"info", l_info},
        {nullptr, nullptr},
    };
    static const luaL_Reg plain[] = {
        {"unpack", l_unpack},
        {"udp_address", l_udp_address},
        {"udp_target", l_udp_target},
        {nullptr, nullptr},
    };
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kBindingKey) != LUA_TUSERDATA)
        return luaL_error(L, "skynet.socketdriver: this node has no socket server");
    lua_createtable(L, 0, int(std::size(bound) + std::size(plain)) + 8);
    lua_insert(L, -2);
    luaL_setfuncs(L, bound, 1);
    luaL_setfuncs(L, plain, 0);
    socket_buffer_register(L);
    return 1;
}
