// skynet.socketdriver's info: the socket thread's snapshot of one socket or all of them, as
// Lua tables (netstat in the debug console).
#include <new>
#include <vector>

#include "core/clock.h"
#include "lualib/native/socket_driver_lua.h"
#include "net/socket_info.h"
#include "net/socket_server.h"

namespace skyhive::socket_driver_lua {

namespace {

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

}  // namespace

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
        if (s.sndbuf > 0) set_field(L, "sndbuf", lua_Integer(s.sndbuf));
        if (s.rcvbuf > 0) set_field(L, "rcvbuf", lua_Integer(s.rcvbuf));
        if (!one) lua_rawseti(L, -2, lua_Integer(i + 1));
    }
    lua_remove(L, -2);  // the box; collected later
    return 1;
}

}  // namespace skyhive::socket_driver_lua
