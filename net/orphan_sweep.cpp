#include "net/orphan_sweep.h"

#include <cassert>
#include <cstdio>
#include <string>

#include "core/clock.h"
#include "core/message.h"
#include "net/slot_table.h"
#include "net/socket_loop.h"

namespace skyhive::net {

OrphanSweep::OrphanSweep(SocketLoop& loop, SlotTable& slots, MessageSink& sink, uint32_t grace_ms,
                         uint32_t linger_ms)
    : loop_(loop),
      slots_(slots),
      sink_(sink),
      grace_ns_(uint64_t(grace_ms) * 1'000'000),
      linger_ns_(uint64_t(linger_ms) * 1'000'000) {}

void OrphanSweep::watch(Slot& s) {
    assert(loop_.on_loop_thread() && "OrphanSweep: socket thread only");
    if (grace_ns_ == 0 || s.sweep_listed) return;
    s.sweep_listed = true;
    watched_.push_back({s.id.load(std::memory_order_relaxed), s.owner, 0});
    if (due_ns_ == 0) due_ns_ = monotonic_ns() + grace_ns_ / 2;
}

void OrphanSweep::watch_close(Slot& s) {
    assert(loop_.on_loop_thread() && "OrphanSweep: socket thread only");
    if (linger_ns_ == 0) return;
    const uint64_t now = monotonic_ns();
    closing_.push_back({s.id.load(std::memory_order_relaxed), now + linger_ns_});
    if (due_ns_ == 0 || closing_.back().end_ns < due_ns_) due_ns_ = closing_.back().end_ns;
}

void OrphanSweep::run_due(uint64_t now_ns) {
    assert(loop_.on_loop_thread() && "OrphanSweep: socket thread only");
    if (due_ns_ != 0 && now_ns >= due_ns_) sweep(now_ns);
}

int OrphanSweep::next_timeout_ms() const {
    assert(loop_.on_loop_thread() && "OrphanSweep: socket thread only");
    if (due_ns_ == 0) return -1;
    uint64_t now = monotonic_ns();
    return due_ns_ <= now ? 0 : int((due_ns_ - now + 999'999) / 1'000'000);
}

void OrphanSweep::clear() {
    watched_.clear();
    closing_.clear();
    due_ns_ = 0;
}

void OrphanSweep::end_lingering(uint64_t now_ns) {
    size_t ended = 0, kept = 0;
    std::string last;
    for (const Closing& c : closing_) {
        Slot* s = slots_.live(c.id);
        // Released since (its queue drained, a shutdown, an error): nothing to do.
        if (!s || s->state.load(std::memory_order_relaxed) != SlotState::closing) continue;
        if (now_ns < c.end_ns) {
            closing_[kept++] = c;
            continue;
        }
        last = "socket " + std::to_string(c.id) + " (" + s->address + ")";
        ++ended;
        loop_.release(*s);
    }
    closing_.resize(kept);
    if (ended > 0) {
        loop_.log("ended " + std::to_string(ended) + " graceful close(s) still flushing after " +
                  std::to_string(linger_ns_ / 1'000'000) +
                  " ms (the peer does not read); the last: " + last);
    }
}

// The next sweep: every half grace while orphans are watched, and by the first close's end.
void OrphanSweep::schedule(uint64_t now_ns) {
    due_ns_ = watched_.empty() ? 0 : now_ns + grace_ns_ / 2;
    if (!closing_.empty() && (due_ns_ == 0 || closing_.front().end_ns < due_ns_))
        due_ns_ = closing_.front().end_ns;
}

void OrphanSweep::sweep(uint64_t now_ns) {
    end_lingering(now_ns);
    kept_.clear();
    size_t released = 0;
    std::string last;
    for (Watched w : watched_) {
        Slot* s = slots_.live(w.id);
        // Released since: the slot's flag was reset then, and may list another socket by now.
        if (!s) continue;
        if (s->reading) {
            // Started (or being flushed by a close): a delivery will find out about its owner.
            s->sweep_listed = false;
            continue;
        }
        if (s->owner != w.owner) {
            w.owner = s->owner;  // handed on (start with an owner, then pause)
            w.gone_since_ns = 0;
        }
        if (sink_.alive(w.owner)) {
            w.gone_since_ns = 0;
        } else if (w.gone_since_ns == 0) {
            w.gone_since_ns = now_ns;
        } else if (now_ns - w.gone_since_ns >= grace_ns_ &&
                   s->state.load(std::memory_order_relaxed) == SlotState::open) {
            // (A socket still connecting is released by the delivery of its outcome.)
            char owner[16];
            std::snprintf(owner, sizeof owner, ":%08x", w.owner.value);
            last = "socket " + std::to_string(w.id) + " (" + to_string(s->kind) + " " + s->address +
                   ", owner " + owner + ")";
            ++released;
            loop_.release(*s);
            continue;
        }
        kept_.push_back(w);
    }
    watched_.swap(kept_);
    schedule(now_ns);
    if (released > 0) {
        loop_.log("released " + std::to_string(released) +
                  " paused socket(s) whose owner had been gone for " +
                  std::to_string(grace_ns_ / 1'000'000) +
                  " ms with nobody starting them; the last: " + last);
    }
}

}  // namespace skyhive::net
