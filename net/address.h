#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace skyhive::net {

// An IPv4 or IPv6 socket address. Value type.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
    int family() const { return storage.ss_family; }
    int port() const;
    // "1.2.3.4:80" or "[::1]:80"; "?" for an unknown family.
    std::string to_string() const;

    static SocketAddress from(const sockaddr* sa, socklen_t len);
};

// "host:port" as given, or "[host]:port" when host contains ':' (for error texts).
std::string host_port(std::string_view host, int port);

// True when host is an IPv4 or IPv6 literal (resolving it never blocks).
bool is_numeric_host(std::string_view host);

// What an address is for: a peer to connect or send to, or a local address to bind or listen on
// (an empty host then means every local address).
enum class Endpoint : uint8_t { remote, local };

// Addresses for host:port and a socket type (SOCK_STREAM, SOCK_DGRAM). Numeric hosts never block;
// a host name calls the system resolver, which may block for seconds: never call it on the socket
// thread. Error text: "resolve host:port: <gai_strerror>".
Result<std::vector<SocketAddress>> resolve(std::string_view host, int port, int socktype,
                                           Endpoint use);

// The local or peer address of fd; an empty address (length 0) on failure.
SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);

}  // namespace skyhive::net
