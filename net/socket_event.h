#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "core/message.h"

namespace skyhive::net {

// The payload of every MessageType::socket message the socket server delivers:
//
//     offset 0   uint8   type   SocketEventType
//     offset 1   uint8   op     error: SocketOp that failed; closed: CloseReason; else 0
//     offset 2   uint16  reserved, 0
//     offset 4   int32   id     the socket the event is about (for accepted: the listener)
//     offset 8   int32   ud     per type, see SocketEventType
//     offset 12  int32   err    errno for error events, else 0
//     offset 16  bytes   the rest of the payload, per type
//
// Integers are in host byte order (the message never leaves the process). The header and the
// bytes are one malloc'd block: payload.size() - 16 is the byte count. Message.source is 0 and
// Message.session is 0.
enum class SocketEventType : uint8_t {
    // Bytes read from a stream socket (TCP or a bound fd). ud = 0.
    data = 1,
    // An outgoing connect succeeded; the socket is paused until start(). Bytes: peer "ip:port".
    connected = 2,
    // The read side of the socket ended. op = CloseReason. After CloseReason::eof the owner still
    // owns the id (it may send, and must close() it); after CloseReason::owner the id is dead.
    closed = 3,
    // A listener accepted a connection. id = the listener, ud = the new socket's id (paused until
    // start(), owned by the listener's owner until start() names another). Bytes: peer "ip:port".
    accepted = 4,
    // The socket failed and is released; its id is dead. op = SocketOp, err = errno (0 when the
    // failure is not a system call's, e.g. a malformed frame). Bytes: error text for humans, e.g.
    // "connect 127.0.0.1:6379: Connection refused".
    error = 5,
    // A UDP datagram. ud = length of the sender's address, which sits at the END of the payload
    // (UdpAddress compact form, see udp_address.h); the datagram is the bytes before it.
    udp = 6,
    // The write queue grew: ud = KB queued, first at >= 1024 KB, then each time it doubles. ud = 0
    // when the queue has drained after a warning.
    warning = 7,
    // Framed mode (set_framer): one read batch cut into frames. ud = frame count; bytes: the
    // framer's payload, in the framer's own encoding.
    frames = 8,
};

// The operation an error event is about.
enum class SocketOp : uint8_t {
    none = 0,
    accept = 1,
    connect = 2,  // includes host name resolution
    read = 3,
    write = 4,
    frame = 5,  // the framer rejected the stream
    poll = 6,   // the fd could not be watched (e.g. a regular file given to bind)
};

// Why a closed event was sent.
enum class CloseReason : uint8_t {
    owner = 0,  // close() or shutdown() took effect; queued bytes still go out after close()
    eof = 1,    // the peer finished sending
};

struct SocketEvent {
    SocketEventType type;
    uint8_t op;
    uint16_t reserved;
    int32_t id;
    int32_t ud;
    int32_t err;
};
static_assert(sizeof(SocketEvent) == 16, "the layout is documented above and decoded by Lua");
static_assert(std::is_trivially_copyable_v<SocketEvent>);

inline constexpr size_t kEventHeaderSize = sizeof(SocketEvent);

// Thread: any. The header of a socket message's payload (payload.size() >= kEventHeaderSize).
inline SocketEvent event_header(const Payload& p) {
    SocketEvent e;
    std::memcpy(&e, p.data(), sizeof e);
    return e;
}
// Thread: any. Everything after the header (for udp events this includes the trailing address).
inline std::string_view event_bytes(const Payload& p) {
    return std::string_view(p.data() + kEventHeaderSize, p.size() - kEventHeaderSize);
}

// Writes a header at `at` (kEventHeaderSize bytes).
inline void write_event_header(char* at, SocketEventType type, int32_t id, int32_t ud = 0,
                               uint8_t op = 0, int32_t err = 0) {
    SocketEvent e{type, op, 0, id, ud, err};
    std::memcpy(at, &e, sizeof e);
}

// One allocation holding a header and `bytes`.
Payload make_socket_event(SocketEventType type, int32_t id, int32_t ud = 0,
                          std::string_view bytes = {}, uint8_t op = 0, int32_t err = 0);

const char* to_string(SocketEventType t);
const char* to_string(SocketOp op);

}  // namespace skyhive::net
