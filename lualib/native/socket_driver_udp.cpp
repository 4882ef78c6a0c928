// skynet.socketdriver's UDP functions: bound sockets, datagrams to compact addresses, and the
// conversions between that compact form and text (see socket_driver.h); and resolve, the name
// lookup skynet.socket offers.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstring>

#include <optional>
#include <string_view>

#include "lualib/native/socket_driver_lua.h"
#include "net/socket_server.h"
#include "net/udp_address.h"

namespace skyhive::socket_driver_lua {

namespace {

std::optional<net::UdpAddress> check_udp_address(lua_State* L, int arg) {
    size_t len = 0;
    const char* bytes = luaL_checklstring(L, arg, &len);
    auto a = net::UdpAddress::from_bytes(std::string_view(bytes, len));
    luaL_argcheck(L, a.has_value(), arg, "not a UDP address (see udp_target)");
    return a;
}

}  // namespace

int l_udp(lua_State* L) {
    const std::string_view host = opt_host(L, 1);
    const int port = lua_isnoneornil(L, 2) ? 0 : check_port(L, 2);
    ErrorText err = "";
    net::BoundSocket bound;
    if (!take(server(L).udp_open(binding(L).self, host, port), bound, err))
        return push_failure(L, err);
    lua_pushinteger(L, bound.id);
    lua_pushinteger(L, bound.port);
    return 2;
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
    if (!take(net::UdpAddress::parse(std::string_view(host, len), port), a, err))
        return push_failure(L, err);
    lua_pushlstring(L, a.bytes().data(), a.bytes().size());
    return 1;
}

int l_resolve(lua_State* L) {
    const char* host = luaL_checkstring(L, 1);
    addrinfo hints;
    std::memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host, nullptr, &hints, &list);
    if (rc != 0) {
        char text[512];
        std::snprintf(text, sizeof text, "resolve %s: %s", host, gai_strerror(rc));
        return luaL_error(L, "%s", text);
    }
    // Copy out first, so that no Lua call (which may raise) runs while `list` is held.
    char ips[32][INET6_ADDRSTRLEN];
    int n = 0;
    for (addrinfo* a = list; a && n < 32; a = a->ai_next) {
        const void* ip =
            a->ai_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
        if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
            inet_ntop(a->ai_family, ip, ips[n], INET6_ADDRSTRLEN))
            ++n;
    }
    ::freeaddrinfo(list);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; ++i) {
        lua_pushstring(L, ips[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

}  // namespace skyhive::socket_driver_lua
