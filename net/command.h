#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "net/address.h"
#include "net/socket_info.h"

namespace skyhive::net {

// What a command asks the socket thread to do. `ptr` ownership per type is listed; everything a
// command owns is freed by the socket thread, also when the command turns out to be stale.
enum class CommandType : uint8_t {
    exit,      // leave the loop
    listen,    // arg = listening fd (owned), handle = owner
    bind,      // arg = fd (owned), handle = owner
    udp_open,  // arg = bound UDP fd (owned), handle = owner
    connect,   // ptr = ConnectRequest*, handle = owner
    resolved,  // ptr = ResolveResult* (from the resolver thread)
    start,     // handle = new owner (0 keeps the current one)
    pause,
    send,        // ptr = WriteBuffer*; the caller incremented slot.in_pipe
    send_low,    // ptr = WriteBuffer*; the caller incremented slot.in_pipe
    want_write,  // a worker queued the rest of a short direct write: watch for EPOLLOUT
    close,       // handle = the only owner it applies to (0: any); the caller incremented in_pipe
    shutdown,    // the caller incremented slot.in_pipe
    close_read,
    nodelay,       // arg = on/off
    keepalive,     // arg = on/off
    warning_mark,  // arg = the socket's write-queue high-water mark in KB (> 0)
    buffers,       // arg = SO_SNDBUF and SO_RCVBUF in bytes (> 0)
    framer,        // ptr = Framer*
    snapshot,      // ptr = SnapshotRequest* (borrowed: the caller waits for it)
};

// Fixed size, written to the control pipe with one write() (atomic: far below PIPE_BUF), so
// commands from many threads never interleave.
struct Command {
    CommandType type = CommandType::exit;
    uint8_t pad[3] = {};
    int32_t id = 0;
    uint32_t handle = 0;
    int32_t arg = 0;
    void* ptr = nullptr;
};
static_assert(sizeof(Command) == 24);
static_assert(std::is_trivially_copyable_v<Command>);

struct ConnectRequest {
    std::string host;
    int port = 0;
};

// The outcome of resolving a connect's host name off the socket thread.
struct ResolveResult {
    int32_t id = 0;
    std::string target;                    // "host:port"
    std::vector<SocketAddress> addresses;  // empty on failure
    std::string error;                     // set on failure
    int err = 0;
};

// info()/snapshot(): the caller waits while the socket thread fills `result`. Not a
// std::promise: its set_value() may still touch the shared state after the waiter has woken and
// destroyed it; here the notification happens under the mutex the waiter must take to return.
struct SnapshotRequest {
    int32_t id = 0;  // 0 = every socket
    std::vector<SocketInfo> result;

    void finish() {
        std::lock_guard g(mutex_);
        done_ = true;
        cv_.notify_one();
    }
    void wait() {
        std::unique_lock lk(mutex_);
        cv_.wait(lk, [this] { return done_; });
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
};

}  // namespace skyhive::net
