#include "net/udp_address.h"

#include <netinet/in.h>

#include <cstring>

namespace skyhive::net {

std::optional<UdpAddress> UdpAddress::from_bytes(std::string_view bytes) {
    if (bytes.empty()) return std::nullopt;
    size_t want = bytes[0] == 4 ? 7 : bytes[0] == 6 ? 19 : 0;
    if (want == 0 || bytes.size() != want) return std::nullopt;
    UdpAddress a;
    std::memcpy(a.data_, bytes.data(), want);
    a.size_ = uint8_t(want);
    return a;
}

UdpAddress UdpAddress::from(const SocketAddress& s) {
    UdpAddress a;
    uint16_t port = uint16_t(s.port());
    a.data_[1] = uint8_t(port >> 8);
    a.data_[2] = uint8_t(port);
    if (s.family() == AF_INET) {
        a.data_[0] = 4;
        std::memcpy(a.data_ + 3, &reinterpret_cast<const sockaddr_in*>(&s.storage)->sin_addr, 4);
        a.size_ = 7;
    } else if (s.family() == AF_INET6) {
        a.data_[0] = 6;
        std::memcpy(a.data_ + 3, &reinterpret_cast<const sockaddr_in6*>(&s.storage)->sin6_addr, 16);
        a.size_ = 19;
    }
    return a;
}

Result<UdpAddress> UdpAddress::parse(std::string_view host, int port) {
    if (!is_numeric_host(host)) {
        return Error{"udp address " + host_port(host, port) + ": not a numeric IP address", 0};
    }
    auto r = resolve(host, port, SOCK_DGRAM, Endpoint::remote);
    if (!r) return r.error();
    return from(r.value().front());
}

SocketAddress UdpAddress::to_socket_address() const {
    SocketAddress s;
    uint16_t port = uint16_t((data_[1] << 8) | data_[2]);
    if (size_ == 7) {
        auto* in = reinterpret_cast<sockaddr_in*>(&s.storage);
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        std::memcpy(&in->sin_addr, data_ + 3, 4);
        s.length = sizeof(sockaddr_in);
    } else if (size_ == 19) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        std::memcpy(&in6->sin6_addr, data_ + 3, 16);
        s.length = sizeof(sockaddr_in6);
    }
    return s;
}

}  // namespace skyhive::net
