#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/message.h"
#include "core/result.h"
#include "net/command.h"
#include "net/control_pipe.h"
#include "net/resolver.h"
#include "net/slot_table.h"
#include "net/socket_event.h"
#include "net/write_queue.h"

namespace skyhive::net {

// The socket thread's half of the SocketServer: the epoll loop, the commands, the reads and
// writes, and the events for the owners. socket_loop.cpp holds the loop and the commands,
// socket_io.cpp the stream and UDP I/O, socket_connect.cpp accepting and connecting,
// socket_lifecycle.cpp setting up, watching and releasing a socket and delivering its events.
//
// Thread: socket thread only, except open() (before the thread starts) and close_all() (after it
// is joined), which run on the SocketServer's owner.
class SocketLoop {
  public:
    using LogFn = std::function<void(std::string_view)>;

    SocketLoop(SlotTable& slots, ControlPipe& pipe, MessageSink& sink, Resolver& resolver,
               std::atomic<uint64_t>& buffered, LogFn log, uint64_t first_warning);
    ~SocketLoop();
    SocketLoop(const SocketLoop&) = delete;
    SocketLoop& operator=(const SocketLoop&) = delete;

    Result<void> open();
    // Runs until an exit command.
    void run();
    // Frees what the commands still in the pipe own, then releases every socket without events.
    void close_all();
    // Frees what one command owns, without acting on it.
    static void discard(const Command& c, SlotTable& slots);

    // True on this loop's socket thread. Thread: any.
    bool on_loop_thread() const;
    // A command the socket thread issues to itself, from a service handler it runs inline (see
    // Module::inline_socket_events): run in the order posted, right after the event or command
    // during which the handler ran, before the loop reads anything else.
    // Going through the pipe instead would block the thread on itself once the pipe is full.
    // Thread: socket thread.
    void post_local(const Command& c) { local_.push_back(c); }

    // Adaptive read buffer bounds for data events.
    static constexpr uint32_t kMinRead = 64;
    static constexpr uint32_t kMaxRead = 256 * 1024;

  private:
    // --- commands (socket_loop.cpp) ---
    bool drain_commands();
    void run_local_commands();
    void dispatch(const Command& c);
    void on_adopt(const Command& c, SocketKind kind);
    void on_start(const Command& c, bool reading);
    void on_send(const Command& c, bool low);
    void on_want_write(const Command& c);
    void on_close(const Command& c, bool graceful);
    void on_close_read(const Command& c);
    void on_option(const Command& c, int level, int name);
    void on_warning_mark(const Command& c);
    void on_framer(const Command& c);
    void on_snapshot(const Command& c);

    // --- I/O (socket_io.cpp) ---
    void on_event(int32_t id, uint32_t events);
    void read_stream(Slot& s);
    void read_framed(Slot& s);
    void read_datagram(Slot& s);
    void discard_input(Slot& s);
    void on_eof(Slot& s);
    void write_ready(Slot& s);
    // Socket thread's write, under the slot's write lock: flushes and keeps the counters.
    FlushResult flush_locked(Slot& s);
    // Acts on a flush: error event, warnings, drained, closing finished, epoll mask.
    void after_write(Slot& s, const FlushResult& r, uint64_t queued);

    // --- accept and connect (socket_connect.cpp) ---
    void accept_ready(Slot& listener);
    void pause_accepts(Slot& listener, int err);
    void resume_accepts();
    int next_timeout_ms() const;
    void on_connect(const Command& c);
    void on_resolved(const Command& c);
    void start_connect(Slot& s);
    void finish_connect(Slot& s);
    void connected(Slot& s);

    // --- socket lifecycle (socket_lifecycle.cpp) ---
    // Makes the epoll registration match what the socket wants now (not registered at all when
    // it wants nothing, so a paused socket's hang-up cannot spin the loop). On failure the socket
    // fails with an error event; returns false then.
    bool set_interest(Slot& s);
    // Sets up a reserved slot as an open socket on `fd`.
    void install(Slot& s, int fd, SocketKind kind, Handle owner);
    // Closes the fd, drops the queue, frees the slot. No event.
    void release(Slot& s);
    // Releases the socket and sends the owner an error event.
    void fail(Slot& s, SocketOp op, int err, std::string text);
    // Sends an event to the socket's owner; when the owner is gone, releases the socket and
    // returns false.
    bool deliver(Slot& s, Payload event);
    bool deliver_to(Handle owner, Payload event);
    void fill_info(Slot& s, SocketInfo& info);
    void log(const std::string& line) const;

    SlotTable& slots_;
    ControlPipe& pipe_;
    MessageSink& sink_;
    Resolver& resolver_;
    std::atomic<uint64_t>& buffered_;
    LogFn log_;
    const uint64_t first_warning_;  // write-queue high-water mark (SocketServerOptions)
    int epfd_ = -1;
    std::unique_ptr<char[]> scratch_;  // framed and UDP reads land here first

    struct PausedAccept {
        int32_t id;
        uint64_t retry_ns;
    };
    std::vector<PausedAccept> paused_accepts_;
    std::vector<Command> local_;  // see post_local
    std::vector<Command> local_batch_;
    // Connections dropped because every slot was taken, logged at most once a second.
    uint64_t slot_drops_ = 0;
    uint64_t slot_drop_logged_ns_ = 0;
    std::thread::id thread_;  // the socket thread, once run() has started
};

inline constexpr size_t kScratchSize = 64 * 1024;
inline constexpr uint64_t kAcceptRetryNs = 100'000'000;  // 100 ms

}  // namespace skyhive::net
