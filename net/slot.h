#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/handle.h"
#include "core/spinlock.h"
#include "net/address.h"
#include "net/framer.h"
#include "net/write_queue.h"

namespace skyhive::net {

enum class SlotState : uint8_t {
    free,        // in the pool
    reserved,    // id handed out, the socket thread has not set it up yet
    connecting,  // outgoing connect (or name resolution) in progress; sends are queued
    open,        // usable
    closing,     // close() taken: no more reads or sends, queued bytes are being flushed
};

enum class SocketKind : uint8_t {
    none,
    listener,
    tcp,
    udp,
    stream,  // a non-socket fd given to bind() (stdin, a pipe)
};

const char* to_string(SlotState s);
const char* to_string(SocketKind k);

// An outgoing connect in progress: the addresses left to try after the current one fails.
struct PendingConnect {
    std::string target;  // "host:port" as asked, for error texts
    std::vector<SocketAddress> addresses;
    size_t next = 0;
    int last_err = 0;
};

// One socket's state. Slots live in pages that are never freed while the SocketServer lives
// (type-stable memory), so any thread may look at a slot for any id it holds and find out, by
// comparing `id`, whether that socket still exists.
//
// Fields are grouped by who may touch them. Setting up and tearing down a socket (fd, kind, state
// changes to and from open) happens on the socket thread under `write_lock`, so a worker holding
// the lock sees either a whole socket or none.
struct Slot {
    // --- any thread (atomics) ---
    std::atomic<int32_t> id{0};  // 0 while free
    std::atomic<SlotState> state{SlotState::free};
    // Send, close and shutdown commands for this slot still in the control pipe, whatever
    // generation they target. Never reset: a stale command decrements it like any other, so the
    // count stays exact. While it is non-zero a worker must not write directly, or its bytes
    // would overtake queued ones (or a close issued before them).
    std::atomic<uint32_t> in_pipe{0};
    Spinlock write_lock;

    // --- SlotTable mutex ---
    uint32_t generation = 0;

    // --- write_lock ---
    int fd = -1;
    SocketKind kind = SocketKind::none;
    WriteQueue queue;
    uint64_t bytes_out = 0;
    uint64_t last_write_ns = 0;

    // --- socket thread only ---
    Handle owner;
    bool reading = false;        // the owner wants data (start/pause)
    bool read_closed = false;    // EOF seen or close_read(): never read again
    bool want_write = false;     // the queue is non-empty: EPOLLOUT wanted
    bool round_write = false;    // queued by the socket thread, flushed at the round's end
    bool accept_paused = false;  // listener out of fds, waiting for the retry time
    bool nodelay = false;        // TCP options, kept so they apply to a socket still connecting
    bool keepalive = true;
    bool sweep_listed = false;          // in the OrphanSweep's list (net/orphan_sweep.h)
    uint64_t accept_failing_since = 0;  // monotonic_ns of the first failed accept, 0 = accepting
    uint32_t events = 0;                // epoll mask registered; 0 = not in the epoll set
    uint32_t read_size = 0;             // adaptive read buffer size
    uint64_t warn_mark = 0;             // this socket's write-queue high-water mark
    uint64_t warn_at = 0;               // next write-queue size that triggers a warning event
    uint64_t bytes_in = 0;
    uint64_t last_read_ns = 0;
    std::string address;  // peer "ip:port"; listeners and UDP: the local address
    std::unique_ptr<Framer> framer;
    std::unique_ptr<PendingConnect> pending;
};

}  // namespace skyhive::net
