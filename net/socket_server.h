#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "core/handle.h"
#include "core/message.h"
#include "core/result.h"
#include "net/control_pipe.h"
#include "net/framer.h"
#include "net/slot_table.h"
#include "net/socket_event.h"
#include "net/socket_info.h"
#include "net/udp_address.h"

namespace skyhive::net {

class Resolver;
class SocketLoop;

struct SocketServerOptions {
    // Receives conditions worth a log line (accepts paused for lack of descriptors, and resumed).
    // Called on the socket thread: must be quick and must not call the SocketServer. Default:
    // one line on stderr.
    std::function<void(std::string_view)> log;
    // A socket's write-queue high-water mark: the owner gets a warning event when the bytes
    // queued for a socket first reach it, again at each doubling, and once more (0 KB) when the
    // queue has drained. At least 1 KB (skynet warns at 1 MB, the default).
    uint64_t warning_bytes = uint64_t(1) << 20;
    // After a round that handled something, the socket thread polls for more (epoll_wait with a
    // zero timeout) for up to this many microseconds before it blocks. A thread that blocks pays
    // the kernel's wake-up on the next packet, which on a VM whose idle vCPU halts is tens of
    // microseconds: on a link that is latency-bound (one request in flight) that wake-up is most
    // of a round trip. The price is up to spin_us of CPU per quiet round; a thread that found
    // nothing for the whole time blocks as before, so an idle node spins not at all. 0 (the
    // default, as skynet): block at once.
    uint32_t spin_us = 0;
    // A worker's sends go out at the end of the batch of messages it is running, and the socket
    // thread's at the end of its epoll round, rather than one by one (see SocketServer::send):
    // the replies to a batch of requests leave together, and a peer waiting for them is woken
    // once. false: each send is written at once (skynet's way).
    bool batch_writes = true;
    // A paused socket (accepted, connected or bound and not started yet, or paused) whose owner
    // has been gone this long is closed, without an event. Nothing is read from it, so no
    // delivery finds out that the owner is gone, and its fd and slot would stay taken for good
    // (an accepted connection whose listener's owner died with the `accepted` event still in its
    // mailbox). The time lets a service the dead owner handed the id to start it first. The
    // socket goes between one and two of these after its owner (net/orphan_sweep.h). 0: never.
    uint32_t orphan_grace_ms = 10'000;
    // A graceful close (close() with bytes queued) that has not finished after this long is
    // ended as a shutdown would: the queued bytes are dropped and the fd released, with a log
    // line. A peer that never reads (a zero window, which TCP keeps probing for ever) would
    // otherwise hold the fd and up to the write queue's bytes for the life of the node, and a
    // closed socket no longer counts against any client limit. 0: no limit (skynet's way).
    uint32_t close_linger_ms = 30'000;
};

// A socket bound to a local port, as listen() and udp_open() return it.
struct BoundSocket {
    int32_t id = 0;
    int port = 0;  // the local port: the kernel's pick when 0 was asked for
};

// The socket server: one thread that owns every socket of a node and runs an epoll loop.
//
// Other threads never touch socket state: each public method writes a fixed-size command into a
// pipe the socket thread reads, so commands from one thread take effect in the order issued. The
// one exception is send(): when the socket has nothing queued and its write lock is free, the
// calling thread writes to the kernel itself (no pipe round trip), and hands any rest over.
//
// What happens on a socket arrives at its owner (a service handle) as a MessageType::socket
// message through the MessageSink; socket_event.h documents the payload. TCP sockets start paused
// after accept, connect and bind: nothing is read until the owner calls start(id).
//
// Ids are positive and carry a generation (socket_id.h): a command for a socket that is gone is
// ignored, and its buffer freed, even when a new socket has taken the slot since. A socket whose
// owner is gone (deliver() returns false) is closed without further ado; a paused one, which
// delivers nothing, once its owner has been gone for SocketServerOptions::orphan_grace_ms.
//
// Lifecycle: construct, start(), use, stop() (or the destructor). Identity type.
//
// Thread: every public method may be called from any thread, unless it says otherwise; start()
// and stop() not from the socket thread. On the socket thread itself (a service handler the sink
// runs there, see Module::inline_socket_events) commands are queued in the loop and take effect
// as soon as the event being handled is done, before anything else; sends are queued too, and
// every socket written to in an epoll round is flushed once at the round's end (the replies to
// the round's requests leave together, so a peer waiting for them is woken once rather than once
// per reply), and info/snapshot read the sockets at once.
class SocketServer {
  public:
    explicit SocketServer(MessageSink& sink, SocketServerOptions options = {});
    ~SocketServer();
    SocketServer(const SocketServer&) = delete;
    SocketServer& operator=(const SocketServer&) = delete;

    // Creates the epoll set and the control pipe and starts the socket thread.
    // Thread: the owner, once.
    Result<void> start();
    // Closes every socket (no events are sent: the services are going away too), stops the
    // resolver and joins the socket thread. Commands issued afterwards are ignored. Idempotent.
    // Thread: the owner.
    void stop();
    bool running() const { return running_.load(std::memory_order_acquire); }
    // True on this server's socket thread (a handler it runs inline). Thread: any.
    bool on_socket_thread() const;

    // ---- TCP ----

    // Listens on host:port (empty host: 0.0.0.0; port 0: the kernel picks) with `backlog`.
    // Errors come back here: "listen 0.0.0.0:80: Permission denied". The listener is paused:
    // accepted events start after start(id). A host name is resolved on the calling thread.
    Result<BoundSocket> listen(Handle owner, std::string_view host, int port, int backlog = 128);

    // Connects without blocking and returns the new id at once; `owner` later receives
    // `connected` (the socket then waits for start()) or `error` with op connect. Numeric
    // addresses are used as they are; host names are resolved on a resolver thread, and every
    // address is tried in turn. Sends before `connected` are queued. Fails only when no slot is
    // free or the server is not running.
    Result<int32_t> connect(Handle owner, std::string_view host, int port);

    // Adopts an open fd (stdin, a pipe, a socket made elsewhere): it is made non-blocking, read
    // and written as a stream, and closed by the server in the end. Paused until start().
    // Writing to a pipe whose reader is gone raises SIGPIPE unless the process ignores it
    // (sockets never do: they are written with MSG_NOSIGNAL).
    Result<int32_t> bind(Handle owner, int fd);

    // Starts (or resumes) reading: data events for streams, accepted events for listeners.
    // A non-zero `owner` becomes the socket's owner from here on (a gate hands an accepted
    // connection to an agent this way). A socket handed on by a service that then ends must be
    // started within SocketServerOptions::orphan_grace_ms of that end.
    void start(int32_t id, Handle owner = Handle());
    // Stops reading until the next start(): unread bytes stay in the kernel and TCP throttles the
    // peer. Sending is unaffected.
    void pause(int32_t id);

    // Queues data[offset:] for writing at high priority; ownership of `data` moves here. A
    // data event's payload can be echoed back as-is with offset = kEventHeaderSize. Returns false
    // (and frees data) when the id is already known to be closed; a later failure arrives as an
    // error event instead.
    // When (with batch_writes, the default): on a worker running a batch of messages, the send
    // is put off to the end of the batch (core/deferred.h), or until this thread sends a message
    // or a socket command, 100 us into the batch, or 64 sends or 64 KB; on the socket thread, to
    // the end of its round; elsewhere, and without batch_writes, at once. Sends of one thread
    // keep their order.
    bool send(int32_t id, Payload data, uint32_t offset = 0);
    // Like send() at low priority: written only when no high-priority buffer is waiting. A buffer
    // once started is always finished before any other.
    bool send_low(int32_t id, Payload data, uint32_t offset = 0);

    // Graceful close: no more data events and no more sends; what is queued is still written,
    // then FIN. The owner receives `closed` (CloseReason::owner) when the command is processed;
    // the id is dead from then on, except to shutdown(). The flush has no time limit: a peer that
    // never reads keeps the socket until a shutdown(id) ends it.
    void close(int32_t id);
    // close(), but only while `owner` still owns the socket: for a service that exits and closes
    // the ids it knew, so that a socket another service has started since is left alone.
    void close_if_owner(int32_t id, Handle owner);
    // Immediate close: queued bytes are dropped. The owner receives `closed` (CloseReason::owner).
    // On a socket a close() left flushing, ends the flush at once, without a second event.
    void shutdown(int32_t id);
    // Half-closes the read side: no more data events; the socket can still send. No event.
    void close_read(int32_t id);
    void set_nodelay(int32_t id, bool on);
    void set_keepalive(int32_t id, bool on);  // on by default for TCP, as in skynet
    // The kernel's send and receive buffers of a connected or accepted TCP socket, in bytes
    // (SO_SNDBUF and SO_RCVBUF; Linux doubles the value and stops tuning them): bounds what can
    // wait in the kernel ahead of a later write, e.g. a small message behind a large one written
    // at low priority. Ignored for other sockets.
    void set_buffers(int32_t id, int bytes);
    // This socket's write-queue high-water mark (SocketServerOptions::warning_bytes for the
    // others), in KB, at least 1: the warning events come at it and at each doubling.
    void set_warning_mark(int32_t id, uint32_t kb);
    // Switches a stream socket to framed mode: what is read from now on goes through `framer`
    // and arrives as `frames` events, one per read. Ownership of the framer moves to the socket
    // thread (it is destroyed with the socket, or at once if the id is stale).
    void set_framer(int32_t id, std::unique_ptr<Framer> framer);

    // ---- UDP ----

    // Opens a UDP socket bound to host:port (empty host: 0.0.0.0; port 0: the kernel picks).
    // Unlike TCP it reads at once: `owner` receives udp events (datagram + sender address).
    Result<BoundSocket> udp_open(Handle owner, std::string_view host = {}, int port = 0);
    // Sends data[offset:] as one datagram to `to`. Same return convention as send().
    bool send_to(int32_t id, const UdpAddress& to, Payload data, uint32_t offset = 0);

    // ---- statistics ----

    // One socket, or every socket. Waits for the socket thread to answer (normally a few
    // microseconds; on the socket thread itself, a handler running there, it reads the sockets
    // at once); meant for the debug console and heartbeats, not for hot paths. Empty when not
    // running.
    std::optional<SocketInfo> info(int32_t id);
    std::vector<SocketInfo> snapshot();
    // Bytes queued for writing, over all sockets. Thread: any, lock-free.
    uint64_t buffered_bytes() const { return buffered_.load(std::memory_order_relaxed); }
    // Sockets in use (slots not free). Thread: any, lock-free.
    uint32_t socket_count() const { return slots_.in_use(); }

  private:
    bool submit(int32_t id, Payload data, uint32_t offset, const UdpAddress* to, Priority priority,
                bool may_put_off);
    // Sends this thread put off (see send), in order. The deferred::Fn of the socket servers.
    static void flush_put_off();
    // True when `data` was consumed: written whole, or written in part with the rest queued.
    bool write_direct(Slot& s, int32_t id, Payload& data, uint32_t offset, const UdpAddress* to);
    Result<int32_t> adopt(CommandType type, Handle owner, int fd, const std::string& what);
    void command(CommandType type, int32_t id, uint32_t handle = 0, int32_t arg = 0,
                 void* ptr = nullptr);
    void post(const Command& c);
    std::vector<SocketInfo> query(int32_t id);

    MessageSink& sink_;
    SocketServerOptions options_;
    SlotTable slots_;
    ControlPipe pipe_;
    std::atomic<uint64_t> buffered_{0};
    std::unique_ptr<Resolver> resolver_;
    std::unique_ptr<SocketLoop> loop_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    bool stopped_ = false;
    // Held shared by query() from its running() check to its post, and exclusively by stop()
    // to clear running_: a snapshot command is then either in the pipe before stop() drains it
    // (and answered there) or never posted; one posted after the drain would wait for ever.
    std::shared_mutex query_lock_;
};

}  // namespace skyhive::net
