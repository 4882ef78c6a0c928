#pragma once

#include <cstdint>
#include <vector>

#include "core/handle.h"

namespace skyhive {
class MessageSink;
}

namespace skyhive::net {

class SlotTable;
class SocketLoop;
struct Slot;

// Releases the paused sockets of services that are gone. A paused socket (accepted, connected or
// bound and not started yet, or paused by its owner) is not read, so no event of it ever reaches
// its owner, and the loop's rule "an owner that a delivery no longer finds loses its socket"
// never applies to it: an accepted connection whose listener's owner died with the `accepted`
// event still in its mailbox would keep its fd and slot for the life of the node.
//
// Every `grace / 2` while it has sockets to watch, the sweep asks the sink whether each one's
// owner is alive (MessageSink::alive). A socket whose owner has been gone for `grace` is released
// without an event; so it goes between one and two graces after its owner. The grace is for an
// id in flight: a dying service may have handed it on (from its accept callback, or after
// abandoning it), and the service it went to may still start it (start(id, new_owner)) in that
// time.
//
// It also bounds graceful closes: a socket still closing (flushing its queue to a peer that does
// not read) `linger` after its close() is released, as a shutdown would, with a log line. Both
// are sockets that no event of their own will ever end.
//
// Owned by its SocketLoop. Identity type. Thread: socket thread only (asserted), except clear(),
// which runs where close_all() does.
class OrphanSweep {
  public:
    // grace_ms 0: never release an orphan; linger_ms 0: never end a graceful close.
    OrphanSweep(SocketLoop& loop, SlotTable& slots, MessageSink& sink, uint32_t grace_ms,
                uint32_t linger_ms = 0);
    OrphanSweep(const OrphanSweep&) = delete;
    OrphanSweep& operator=(const OrphanSweep&) = delete;

    // The socket was just set up, or paused: watched from now on, until it reads or is gone.
    void watch(Slot& s);
    // The socket began a graceful close: ended `linger` from now if still closing then.
    void watch_close(Slot& s);
    // Sweeps if a sweep is due at `now_ns` (monotonic_ns).
    void run_due(uint64_t now_ns);
    // How long the loop may wait in epoll before a sweep is due; -1: none is.
    int next_timeout_ms() const;
    // Forgets every socket (their slots are being released).
    void clear();

  private:
    void sweep(uint64_t now_ns);
    void end_lingering(uint64_t now_ns);
    void schedule(uint64_t now_ns);

    struct Watched {
        int32_t id;
        Handle owner;            // as last seen; a new owner starts the grace again
        uint64_t gone_since_ns;  // when `owner` was first seen gone; 0 while alive
    };
    SocketLoop& loop_;
    SlotTable& slots_;
    MessageSink& sink_;
    const uint64_t grace_ns_;
    std::vector<Watched> watched_;  // each socket once (Slot::sweep_listed)
    std::vector<Watched> kept_;     // the next watched_, built by a sweep
    struct Closing {
        int32_t id;
        uint64_t end_ns;  // when the close is ended if still in progress
    };
    const uint64_t linger_ns_;
    std::vector<Closing> closing_;  // in close() order, so in end_ns order
    uint64_t due_ns_ = 0;           // when the next sweep is due; 0: none (nothing watched)
};

}  // namespace skyhive::net
