#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/message.h"
#include "core/result.h"
#include "net/acceptor.h"
#include "net/command.h"
#include "net/connector.h"
#include "net/control_pipe.h"
#include "net/orphan_sweep.h"
#include "net/resolver.h"
#include "net/slot_table.h"
#include "net/socket_event.h"
#include "net/write_queue.h"

namespace skyhive::net {

// The socket thread's half of the SocketServer: the epoll loop, the commands, the reads and
// writes, and the events for the owners. socket_loop.cpp holds the loop and the commands,
// socket_io.cpp the stream and UDP I/O, socket_lifecycle.cpp setting up, watching and releasing a
// socket and delivering its events. Accepting is the Acceptor's (net/acceptor.*), outgoing
// connects the Connector's (net/connector.*), releasing the paused sockets of dead owners the
// OrphanSweep's (net/orphan_sweep.*); the loop owns all three and lends them its lifecycle
// calls.
//
// Identity type. Thread: socket thread only (asserted), except open() (before the thread
// starts), close_all() (after it is joined), on_loop_thread() and discard().
class SocketLoop {
  public:
    using LogFn = std::function<void(std::string_view)>;

    SocketLoop(SlotTable& slots, ControlPipe& pipe, MessageSink& sink, Resolver& resolver,
               std::atomic<uint64_t>& buffered, LogFn log, uint64_t first_warning,
               uint32_t spin_us = 0, uint32_t orphan_grace_ms = 0, uint32_t close_linger_ms = 0);
    ~SocketLoop();
    SocketLoop(const SocketLoop&) = delete;
    SocketLoop& operator=(const SocketLoop&) = delete;

    Result<void> open();
    // Runs until an exit command.
    void run();
    // Frees what the commands still in the pipe own, then releases every socket without events.
    void close_all();
    // Frees what one command owns, without acting on it. Thread: any.
    static void discard(const Command& c, SlotTable& slots);

    // True on this loop's socket thread. Thread: any.
    bool on_loop_thread() const;
    // A command the socket thread issues to itself, from a service handler it runs inline (see
    // Module::inline_socket_events): run in the order posted, right after the event or command
    // during which the handler ran, and after every command other threads had put in the pipe
    // by then (read in first): those may come from the same service, run on a worker just
    // before (a send to the same socket), and must not be overtaken.
    // Going through the pipe instead would block the thread on itself once the pipe is full.
    // Thread: socket thread.
    void post_local(const Command& c);
    // Fills req's result from the slots as they are now (one socket, or every socket when
    // req.id is 0). The snapshot command's work, also called directly by a handler running on
    // the socket thread, which cannot wait for a command to itself. Thread: socket thread.
    void answer(SnapshotRequest& req);
    // A send made on the socket thread itself (a handler it runs inline) while an epoll round
    // is being handled: queued, and flushed with every other such send when the round ends
    // (flush_round_writes), as Redis writes its replies before it sleeps. Returns false when the
    // send must take the command path instead: not in a round, a datagram, a socket not open, or
    // one with a command or an earlier queue ahead of this send. Thread: socket thread.
    bool write_at_round_end(Slot& s, int32_t id, Payload& data, uint32_t offset,
                            const UdpAddress* to);

    // --- a socket's life cycle (socket_lifecycle.cpp), for the loop and its Acceptor and
    // Connector. Thread: socket thread only. ---

    // Sets up a reserved slot as a socket on `fd` (-1 while connecting) in `state`, paused (the
    // OrphanSweep watches it).
    void install(Slot& s, int fd, SocketKind kind, Handle owner, SlotState state = SlotState::open);
    // Makes the epoll registration match what the socket wants now (not registered at all when
    // it wants nothing, so a paused socket's hang-up cannot spin the loop). On failure the socket
    // fails with an error event; returns false then.
    bool set_interest(Slot& s);
    // Takes the socket's fd out of the epoll set (explicitly: a shared file description would
    // otherwise stay in it after close()).
    void unwatch(Slot& s);
    // Closes the fd, drops the queue, frees the slot. No event.
    void release(Slot& s);
    // Releases the socket and sends the owner an error event.
    void fail(Slot& s, SocketOp op, int err, std::string text);
    // Sends an event to the socket's owner; when the owner is gone, releases the socket and
    // returns false.
    bool deliver(Slot& s, Payload event);
    bool deliver_to(Handle owner, Payload event);
    // To the server's log function (stderr without one).
    void log(const std::string& line) const;

    // Adaptive read buffer bounds for data events.
    static constexpr uint32_t kMinRead = 64;
    static constexpr uint32_t kMaxRead = 256 * 1024;

  private:
    // --- commands (socket_loop.cpp) ---
    void drain_commands();
    // Moves the commands written to the pipe before this call to the back of intake_.
    void take_pipe();
    // Runs local_, then intake_, until both are empty (or intake_ reaches the exit command).
    void run_local_commands();
    void dispatch(const Command& c);
    void on_adopt(const Command& c, SocketKind kind);
    // start and pause: whether the owner wants the socket's data.
    enum class Reading : uint8_t { pause, start };
    // close flushes what is queued first (reading and dropping input meanwhile); shutdown drops it.
    enum class Close : uint8_t { flush, drop };
    void on_start(const Command& c, Reading reading);
    void on_send(const Command& c, Priority priority);
    void on_want_write(const Command& c);
    void on_close(const Command& c, Close how);
    void on_close_read(const Command& c);
    void on_option(const Command& c, int level, int name);
    void on_warning_mark(const Command& c);
    void on_buffers(const Command& c);
    void on_framer(const Command& c);
    void on_snapshot(const Command& c);
    void fill_info(Slot& s, SocketInfo& info);

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
    // Writes what write_at_round_end queued in this round.
    void flush_round_writes();

    SlotTable& slots_;
    ControlPipe& pipe_;
    MessageSink& sink_;
    std::atomic<uint64_t>& buffered_;
    LogFn log_;
    const uint64_t first_warning_;  // write-queue high-water mark (SocketServerOptions)
    const uint64_t spin_ns_;        // how long to poll before blocking (SocketServerOptions)
    int epfd_ = -1;
    std::unique_ptr<char[]> scratch_;  // framed and UDP reads land here first
    Acceptor acceptor_;
    Connector connector_;
    OrphanSweep orphans_;
    // Commands waiting to run, in the order they must run: local_ (posted by this thread with
    // nothing read and waiting before them), then intake_ (read from the pipe, and those this
    // thread posted behind them). See post_local.
    std::vector<Command> local_;
    std::vector<Command> local_batch_;
    std::deque<Command> intake_;
    bool exiting_ = false;   // the exit command was taken from intake_
    bool in_round_ = false;  // handling what one epoll_wait returned
    // monotonic_ns() when this round began: the time of the reads and writes it does (netstat's
    // rtime and wtime), one clock read per round instead of one per read and per write.
    uint64_t round_ns_ = 0;
    std::vector<int32_t> round_writes_;  // sockets with a round_write to flush
    std::thread::id thread_;             // the socket thread, once run() has started
};

inline constexpr size_t kScratchSize = 64 * 1024;

}  // namespace skyhive::net
