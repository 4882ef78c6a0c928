#include "net/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace skyhive::net {

int SocketAddress::port() const {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    }
    return 0;
}

std::string SocketAddress::to_string() const {
    char ip[INET6_ADDRSTRLEN];
    if (family() == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        if (!inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip)) return "?";
        return std::string(ip) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (family() == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip)) return "?";
        return "[" + std::string(ip) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    return "?";
}

SocketAddress SocketAddress::from(const sockaddr* sa, socklen_t len) {
    SocketAddress a;
    if (len > sizeof a.storage) len = sizeof a.storage;
    std::memcpy(&a.storage, sa, len);
    a.length = len;
    return a;
}

std::string host_port(std::string_view host, int port) {
    std::string s;
    if (host.find(':') != std::string_view::npos) {
        s.append("[").append(host).append("]");
    } else {
        s.append(host);
    }
    return s + ":" + std::to_string(port);
}

bool is_numeric_host(std::string_view host) {
    char buf[INET6_ADDRSTRLEN + 1];
    if (host.empty() || host.size() >= sizeof buf) return false;
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = '\0';
    unsigned char out[sizeof(in6_addr)];
    return inet_pton(AF_INET, buf, out) == 1 || inet_pton(AF_INET6, buf, out) == 1;
}

Result<std::vector<SocketAddress>> resolve(std::string_view host, int port, int socktype,
                                           Endpoint use) {
    if (port < 0 || port > 65535) {
        return Error{"resolve " + host_port(host, port) + ": port out of range", 0};
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICSERV | (use == Endpoint::local ? AI_PASSIVE : 0);
    if (is_numeric_host(host)) hints.ai_flags |= AI_NUMERICHOST;
    std::string h(host);
    std::string service = std::to_string(port);
    addrinfo* list = nullptr;
    int rc = getaddrinfo(h.empty() ? nullptr : h.c_str(), service.c_str(), &hints, &list);
    if (rc != 0) {
        int err = rc == EAI_SYSTEM ? errno : 0;
        return Error{"resolve " + host_port(host, port) + ": " +
                         (rc == EAI_SYSTEM ? std::strerror(err) : gai_strerror(rc)),
                     err};
    }
    std::vector<SocketAddress> out;
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
            out.push_back(SocketAddress::from(ai->ai_addr, ai->ai_addrlen));
        }
    }
    freeaddrinfo(list);
    if (out.empty()) return Error{"resolve " + host_port(host, port) + ": no IP address", 0};
    return out;
}

SocketAddress local_address(int fd) {
    SocketAddress a;
    a.length = sizeof a.storage;
    if (getsockname(fd, a.get(), &a.length) != 0) a.length = 0;
    return a;
}

SocketAddress peer_address(int fd) {
    SocketAddress a;
    a.length = sizeof a.storage;
    if (getpeername(fd, a.get(), &a.length) != 0) a.length = 0;
    return a;
}

}  // namespace skyhive::net
