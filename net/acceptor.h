#pragma once

#include <cstdint>
#include <vector>

namespace skyhive::net {

class SlotTable;
class SocketLoop;
struct Slot;

// Accepting on the loop's listeners: a bounded batch of connections per readiness, each given a
// slot and announced to the listener's owner. Survives descriptor exhaustion (EMFILE, ENFILE,
// ENOBUFS...): the listener leaves the epoll set and is retried after kAcceptRetryNs, the
// condition logged once when it starts and once when it ends. Connections that find every slot
// taken are closed at once (logged at most once a second).
//
// Owned by its SocketLoop. Identity type.
// Thread: socket thread only (asserted), except clear(), which runs where close_all() does.
class Acceptor {
  public:
    Acceptor(SocketLoop& loop, SlotTable& slots) : loop_(loop), slots_(slots) {}
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    // The listener is readable: accepts what is waiting, up to a batch.
    void accept_ready(Slot& listener);
    // Puts the paused listeners whose retry time has come back in the epoll set.
    void resume_due();
    // How long the loop may wait in epoll before a paused listener is due; -1: none is paused.
    int next_timeout_ms() const;
    bool any_paused() const { return !paused_.empty(); }
    // Forgets the paused listeners (their slots are being released).
    void clear() { paused_.clear(); }

  private:
    void pause(Slot& listener, int err);

    struct Paused {
        int32_t id;
        uint64_t retry_ns;
    };
    SocketLoop& loop_;
    SlotTable& slots_;
    std::vector<Paused> paused_;
    // Connections dropped because every slot was taken, logged at most once a second.
    uint64_t slot_drops_ = 0;
    uint64_t slot_drop_logged_ns_ = 0;
};

inline constexpr uint64_t kAcceptRetryNs = 100'000'000;  // 100 ms

}  // namespace skyhive::net
