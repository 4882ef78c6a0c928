#include "lualib/native/socket_driver.h"

#include <cstring>
#include <new>

#include "core/message.h"
#include "lualib/native/socket_buffer.h"
#include "lualib/native/socket_driver_lua.h"
#include "net/socket_server.h"

// The functions of skynet.socketdriver; UDP in socket_driver_udp.cpp, info in
// socket_driver_info.cpp. socket_driver_lua.h says how errors cross the longjmp of Lua errors.

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

namespace socket_driver_lua {

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

int push_failure(lua_State* L, const char* text) {
    lua_pushnil(L);
    lua_pushstring(L, text);
    return 2;
}

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

}  // namespace socket_driver_lua

namespace {

using namespace socket_driver_lua;

char kBindingKey;

int send_common(lua_State* L, net::Priority priority) {
    const int32_t id = check_id(L, 1);
    const Body body = check_body(L, 2);
    bool ok;
    {
        Payload p = to_payload(L, 2, body);
        ok = priority == net::Priority::low ? server(L).send_low(id, std::move(p))
                                            : server(L).send(id, std::move(p));
    }
    lua_pushboolean(L, ok);
    return 1;
}

int l_send(lua_State* L) {
    return send_common(L, net::Priority::high);
}

int l_lsend(lua_State* L) {
    return send_common(L, net::Priority::low);
}

int l_connect(lua_State* L) {
    size_t len = 0;
    const char* host = luaL_checklstring(L, 1, &len);
    const int port = check_port(L, 2);
    ErrorText err = "";
    int32_t id = 0;
    if (!take(server(L).connect(binding(L).self, std::string_view(host, len), port), id, err))
        return push_failure(L, err);
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
    if (!take(server(L).listen(binding(L).self, host, port, int(backlog)), bound, err))
        return push_failure(L, err);
    lua_pushinteger(L, bound.id);
    lua_pushinteger(L, bound.port);
    return 2;
}

int l_bind(lua_State* L) {
    const lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "not a file descriptor");
    ErrorText err = "";
    int32_t id = 0;
    if (!take(server(L).bind(binding(L).self, int(fd)), id, err)) return push_failure(L, err);
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

int l_buffers(lua_State* L) {
    const int32_t id = check_id(L, 1);
    const lua_Integer bytes = luaL_checkinteger(L, 2);
    luaL_argcheck(L, bytes >= 1 && bytes <= (lua_Integer(1) << 30), 2,
                  "the buffer size is 1 to 1073741824 bytes");
    server(L).set_buffers(id, int(bytes));
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
    bool made;
    {
        std::unique_ptr<net::Framer> framer;
        made = take(binding(L).driver->make_framer(std::string_view(name, len), *options), framer,
                    err);
        if (made) server(L).set_framer(id, std::move(framer));
    }
    if (!made) return push_failure(L, err);
    lua_pushboolean(L, 1);
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

}  // namespace

void socket_driver_bind(lua_State* L, SocketDriver* driver, Handle self) {
    if (!driver) return;
    auto* b = static_cast<Binding*>(lua_newuserdatauv(L, sizeof(Binding), 0));
    *b = Binding{driver, self};
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kBindingKey);
}

net::SocketServer* socket_server_of(lua_State* L) {
    const bool bound = lua_rawgetp(L, LUA_REGISTRYINDEX, &kBindingKey) == LUA_TUSERDATA;
    auto* b = bound ? static_cast<Binding*>(lua_touserdata(L, -1)) : nullptr;
    lua_pop(L, 1);
    return b ? &b->driver->server() : nullptr;
}

}  // namespace skyhive

extern "C" int luaopen_skynet_socketdriver(lua_State* L) {
    using namespace skyhive;
    using namespace skyhive::socket_driver_lua;
    static const luaL_Reg bound[] = {
        {"connect", l_connect},
        {"listen", l_listen},
        {"bind", l_bind},
        {"start", l_start},
        {"pause", l_pause},
        {"close", l_close},
        {"shutdown", l_shutdown},
        {"nodelay", l_nodelay},
        {"buffers", l_buffers},
        {"warning_mark", l_warning_mark},
        {"send", l_send},
        {"lsend", l_lsend},
        {"set_framer", l_set_framer},
        {"udp", l_udp},
        {"udp_send", l_udp_send},
        {"info", l_info},
        {nullptr, nullptr},
    };
    static const luaL_Reg plain[] = {
        {"unpack", l_unpack},         {"udp_address", l_udp_address},
        {"udp_target", l_udp_target}, {"resolve", l_resolve},
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
