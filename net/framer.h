#pragma once

#include <cstddef>
#include <cstdint>

#include "core/message.h"
#include "core/result.h"

namespace skyhive::net {

// Cuts a socket's byte stream into whole frames on the socket thread (a protocol-aware socket
// mode: the Redis client installs a RESP framer so its service receives whole replies, batched).
// Installed with SocketServer::set_framer; the socket server owns it from then on and destroys it
// with the socket. Thread: socket thread only.
class Framer {
  public:
    virtual ~Framer() = default;
    // Consumes all `n` bytes, keeping any incomplete tail internally. Error = malformed stream
    // (the socket is then closed and the owner gets an error event with this text).
    virtual Result<void> feed(const char* data, size_t n) = 0;
    // Moves the frames completed so far into one payload (the framer's own encoding, opaque to
    // net/), and how many there are; {} and 0 when none.
    virtual Payload take(uint32_t* count) = 0;

    // The socket thread puts its event header (kHeadroom bytes, socket_event.h) in front of the
    // frames it delivers. A framer whose take() leaves that many bytes free at the front of its
    // payload, before the frames, says so here, and the header is written there; otherwise the
    // frames are moved behind a header (a realloc and a pass over them per delivery).
    static constexpr size_t kHeadroom = 16;
    virtual bool leaves_headroom() const { return false; }
};

}  // namespace skyhive::net
