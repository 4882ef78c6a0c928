#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "net/address.h"

namespace skyhive::net {

// A UDP peer in the compact form that udp events carry and send_to takes back:
//
//     byte 0      family: 4 or 6
//     bytes 1-2   port, big endian
//     bytes 3-    the address: 4 bytes (IPv4) or 16 bytes (IPv6), network order
//
// so 7 or 19 bytes. A service replies to a datagram by passing the address it came with.
// Value type: copyable, cheap.
class UdpAddress {
  public:
    static constexpr size_t kMaxSize = 19;

    UdpAddress() = default;
    // From the trailing bytes of a udp event; nullopt when they are not a valid address.
    static std::optional<UdpAddress> from_bytes(std::string_view bytes);
    static UdpAddress from(const SocketAddress& a);
    // Numeric host only ("127.0.0.1", "::1"); the error names host:port.
    static Result<UdpAddress> parse(std::string_view host, int port);

    bool valid() const { return size_ != 0; }
    std::string_view bytes() const { return {reinterpret_cast<const char*>(data_), size_}; }
    SocketAddress to_socket_address() const;
    std::string to_string() const { return to_socket_address().to_string(); }

    friend bool operator==(const UdpAddress& a, const UdpAddress& b) {
        return a.bytes() == b.bytes();
    }

  private:
    uint8_t data_[kMaxSize] = {};
    uint8_t size_ = 0;
};

}  // namespace skyhive::net
