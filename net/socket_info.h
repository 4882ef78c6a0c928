#pragma once

#include <cstdint>
#include <string>

#include "core/handle.h"
#include "net/slot.h"

namespace skyhive::net {

// A snapshot of one socket, for the debug console. Value type.
struct SocketInfo {
    int32_t id = 0;
    SocketKind kind = SocketKind::none;
    SlotState state = SlotState::free;
    Handle owner;
    bool reading = false;  // started and not paused, read side not closed
    std::string address;   // peer "ip:port"; listeners and UDP sockets: the local address
    int local_port = 0;
    bool nodelay = false;    // TCP_NODELAY as the kernel reports it
    bool keepalive = false;  // SO_KEEPALIVE as the kernel reports it
    int sndbuf = 0;          // TCP: SO_SNDBUF as the kernel reports it (bytes)
    int rcvbuf = 0;          // TCP: SO_RCVBUF as the kernel reports it (bytes)
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t buffered = 0;       // bytes queued for writing
    uint64_t last_read_ns = 0;   // monotonic_ns() of the last read, 0 = never
    uint64_t last_write_ns = 0;  // monotonic_ns() of the last write, 0 = never
};

}  // namespace skyhive::net
