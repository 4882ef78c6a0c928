#include "net/socket_event.h"

namespace skyhive::net {

Payload make_socket_event(SocketEventType type, int32_t id, int32_t ud, std::string_view bytes,
                          uint8_t op, int32_t err) {
    Payload p = Payload::allocate(kEventHeaderSize + bytes.size());
    write_event_header(p.data(), type, id, ud, op, err);
    if (!bytes.empty()) std::memcpy(p.data() + kEventHeaderSize, bytes.data(), bytes.size());
    return p;
}

const char* to_string(SocketEventType t) {
    switch (t) {
        case SocketEventType::data:
            return "data";
        case SocketEventType::connected:
            return "connected";
        case SocketEventType::closed:
            return "closed";
        case SocketEventType::accepted:
            return "accepted";
        case SocketEventType::error:
            return "error";
        case SocketEventType::udp:
            return "udp";
        case SocketEventType::warning:
            return "warning";
        case SocketEventType::frames:
            return "frames";
    }
    return "unknown";
}

const char* to_string(SocketOp op) {
    switch (op) {
        case SocketOp::none:
            return "none";
        case SocketOp::accept:
            return "accept";
        case SocketOp::connect:
            return "connect";
        case SocketOp::read:
            return "read";
        case SocketOp::write:
            return "write";
        case SocketOp::frame:
            return "frame";
        case SocketOp::poll:
            return "poll";
    }
    return "unknown";
}

}  // namespace skyhive::net
