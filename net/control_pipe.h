#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/result.h"
#include "net/command.h"

namespace skyhive::net {

// The command channel into the socket thread: a pipe carrying fixed-size Commands. Any thread
// writes (blocking when the pipe is full, which throttles a flood of commands), the socket thread
// reads without blocking. Identity type.
class ControlPipe {
  public:
    ControlPipe() = default;
    ~ControlPipe();
    ControlPipe(const ControlPipe&) = delete;
    ControlPipe& operator=(const ControlPipe&) = delete;

    // Thread: the owner, once.
    Result<void> open();
    // Thread: any. Writes one command whole.
    void write(const Command& c);
    // Thread: the reader. Reads up to `max` commands that are already there; returns how many.
    size_t read(Command* out, size_t max);
    // Thread: the reader. Appends to `into` the commands written before this call (at most as
    // many as were counted then, so writers that keep writing cannot keep the reader here; the
    // rest stay in the pipe, bounded by it), read through `batch` (room for `batch_size`);
    // returns how many.
    template <class Queue>
    size_t read_written(Queue& into, Command* batch, size_t batch_size) {
        uint64_t left = unread_.load(std::memory_order_relaxed);
        size_t total = 0;
        while (left > 0) {
            const size_t n = read(batch, left < batch_size ? size_t(left) : batch_size);
            if (n == 0) break;  // counted by a writer that has not written yet
            into.insert(into.end(), batch, batch + n);
            total += n;
            left -= n;
        }
        return total;
    }
    // False when no command is written and unread, so a read would find nothing: every command
    // whose write() happened before this call is counted until read. Thread: the reader.
    bool maybe_unread() const { return unread_.load(std::memory_order_relaxed) != 0; }
    int read_fd() const { return fds_[0]; }

  private:
    int fds_[2] = {-1, -1};
    std::atomic<uint64_t> unread_{0};  // counted before each write, uncounted when read
};

}  // namespace skyhive::net
