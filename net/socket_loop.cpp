#include "net/socket_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/clock.h"

namespace skyhive::net {

namespace {
constexpr uint64_t kPipeTag = 0;  // socket ids are positive, so 0 cannot be one
constexpr int kMaxEvents = 128;
constexpr size_t kCommandBatch = 64;
thread_local const SocketLoop* tls_loop = nullptr;  // the loop this thread runs, if any

// The earlier of two epoll timeouts in ms, where -1 is none.
int earlier(int a, int b) {
    if (a < 0) return b;
    if (b < 0) return a;
    return a < b ? a : b;
}
}  // namespace

SocketLoop::SocketLoop(SlotTable& slots, ControlPipe& pipe, MessageSink& sink, Resolver& resolver,
                       std::atomic<uint64_t>& buffered, LogFn log, uint64_t first_warning,
                       uint32_t spin_us, uint32_t orphan_grace_ms, uint32_t close_linger_ms)
    : slots_(slots),
      pipe_(pipe),
      sink_(sink),
      buffered_(buffered),
      log_(std::move(log)),
      first_warning_(first_warning),
      spin_ns_(uint64_t(spin_us) * 1000),
      scratch_(new char[kScratchSize]),
      acceptor_(*this, slots),
      connector_(*this, slots, resolver),
      orphans_(*this, slots, sink, orphan_grace_ms, close_linger_ms) {}

SocketLoop::~SocketLoop() {
    if (epfd_ >= 0) ::close(epfd_);
}

Result<void> SocketLoop::open() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return Error::from_errno("socket server epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kPipeTag;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, pipe_.read_fd(), &ev) != 0) {
        return Error::from_errno("socket server epoll_ctl(control pipe)");
    }
    return {};
}

bool SocketLoop::on_loop_thread() const {
    return tls_loop == this;
}

void SocketLoop::run() {
    thread_ = std::this_thread::get_id();
    tls_loop = this;
    pthread_setname_np(pthread_self(), "socket");  // for profilers and top -H
    epoll_event events[kMaxEvents];
    bool busy = false;  // the last round handled something: poll a while before blocking
    for (;;) {
        int n = 0;
        if (busy && spin_ns_ > 0) {
            const uint64_t until = monotonic_ns() + spin_ns_;
            do {
                n = ::epoll_wait(epfd_, events, kMaxEvents, 0);
            } while (n == 0 && monotonic_ns() < until);
        }
        if (n == 0) {
            const int timeout = earlier(acceptor_.next_timeout_ms(), orphans_.next_timeout_ms());
            n = ::epoll_wait(epfd_, events, kMaxEvents, timeout);
        }
        busy = n > 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "socket server: epoll_wait: %s\n", std::strerror(errno));
            std::abort();
        }
        // Everything this round delivers wakes at most one worker, once the round is done: a
        // worker woken at the first event would only contend for a core with this thread while it
        // reads the rest (on a small machine, preempt it), and find the others queued anyway.
        sink_.hold_wakes();
        in_round_ = true;
        round_ns_ = monotonic_ns();
        if (acceptor_.any_paused()) acceptor_.resume_due();
        orphans_.run_due(round_ns_);
        run_local_commands();
        for (int i = 0; i < n && !exiting_; ++i) {
            if (events[i].data.u64 == kPipeTag) {
                drain_commands();
            } else {
                on_event(int32_t(events[i].data.u64), events[i].events);
                run_local_commands();
            }
        }
        // Releasing the wake-ups may first run a service left for this thread (see
        // Scheduler::run_on_guest): its sends join the round's, its commands run here.
        sink_.release_wakes();
        run_local_commands();
        flush_round_writes();
        if (exiting_) return;
    }
}

void SocketLoop::post_local(const Command& c) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    if (pipe_.maybe_unread()) take_pipe();  // no system call while the pipe is empty
    if (intake_.empty())
        local_.push_back(c);
    else
        intake_.push_back(c);
}

void SocketLoop::take_pipe() {
    // Only the commands written before the local one must run before it; later ones stay in the
    // pipe, so a flood of writers cannot hold this thread here or grow intake_ past the pipe.
    Command batch[kCommandBatch];
    pipe_.read_written(intake_, batch, kCommandBatch);
}

void SocketLoop::run_local_commands() {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    // Run right after the event or command whose inline handler posted them, before anything
    // else is read: once the handler returned, the service may run on a worker and send through
    // the pipe, and those later commands must not overtake these. A command may deliver an event
    // whose handler posts more: run until none is left. local_ only holds commands posted while
    // nothing from the pipe was waiting (post_local), so it goes first.
    for (;;) {
        while (!local_.empty()) {
            local_batch_.swap(local_);
            for (const Command& c : local_batch_)
                dispatch(c);
            local_batch_.clear();
        }
        if (exiting_ || intake_.empty()) return;
        Command c = intake_.front();
        intake_.pop_front();
        if (c.type == CommandType::exit) {
            exiting_ = true;  // what follows is discarded by close_all
            return;
        }
        dispatch(c);
    }
}

void SocketLoop::drain_commands() {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    // One bounded batch per wake-up, so a flood of commands cannot starve socket events; the
    // pipe stays readable (level-triggered) while more are waiting.
    Command batch[kCommandBatch];
    size_t n = pipe_.read(batch, kCommandBatch);
    intake_.insert(intake_.end(), batch, batch + n);
    run_local_commands();
}

void SocketLoop::dispatch(const Command& c) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    switch (c.type) {
        case CommandType::exit:
            break;
        case CommandType::listen:
            on_adopt(c, SocketKind::listener);
            break;
        case CommandType::bind:
            on_adopt(c, SocketKind::stream);
            break;
        case CommandType::udp_open:
            on_adopt(c, SocketKind::udp);
            break;
        case CommandType::connect:
            connector_.on_connect(c);
            break;
        case CommandType::resolved:
            connector_.on_resolved(c);
            break;
        case CommandType::start:
            on_start(c, Reading::start);
            break;
        case CommandType::pause:
            on_start(c, Reading::pause);
            break;
        case CommandType::send:
            on_send(c, Priority::high);
            break;
        case CommandType::send_low:
            on_send(c, Priority::low);
            break;
        case CommandType::want_write:
            on_want_write(c);
            break;
        case CommandType::close:
            on_close(c, Close::flush);
            break;
        case CommandType::shutdown:
            on_close(c, Close::drop);
            break;
        case CommandType::close_read:
            on_close_read(c);
            break;
        case CommandType::nodelay:
            on_option(c, IPPROTO_TCP, TCP_NODELAY);
            break;
        case CommandType::keepalive:
            on_option(c, SOL_SOCKET, SO_KEEPALIVE);
            break;
        case CommandType::warning_mark:
            on_warning_mark(c);
            break;
        case CommandType::buffers:
            on_buffers(c);
            break;
        case CommandType::framer:
            on_framer(c);
            break;
        case CommandType::snapshot:
            on_snapshot(c);
            break;
    }
}

void SocketLoop::discard(const Command& c, SlotTable& slots) {
    switch (c.type) {
        case CommandType::listen:
        case CommandType::bind:
        case CommandType::udp_open:
            ::close(c.arg);
            break;
        case CommandType::connect:
            delete static_cast<ConnectRequest*>(c.ptr);
            break;
        case CommandType::resolved:
            delete static_cast<ResolveResult*>(c.ptr);
            break;
        case CommandType::send:
        case CommandType::send_low:
            if (Slot* s = slots.slot(c.id)) s->in_pipe.fetch_sub(1, std::memory_order_relaxed);
            delete static_cast<WriteBuffer*>(c.ptr);
            break;
        case CommandType::close:
        case CommandType::shutdown:
            if (Slot* s = slots.slot(c.id)) s->in_pipe.fetch_sub(1, std::memory_order_relaxed);
            break;
        case CommandType::framer:
            delete static_cast<Framer*>(c.ptr);
            break;
        case CommandType::snapshot:
            static_cast<SnapshotRequest*>(c.ptr)->finish();
            break;
        default:
            break;
    }
}

void SocketLoop::close_all() {
    for (const Command& c : local_)  // posted by the socket thread after the exit command
        discard(c, slots_);
    local_.clear();
    for (const Command& c : intake_)  // read, or posted behind what was read, after it
        if (c.type != CommandType::exit) discard(c, slots_);
    intake_.clear();
    Command batch[kCommandBatch];
    while (size_t n = pipe_.read(batch, kCommandBatch)) {
        for (size_t i = 0; i < n; ++i)
            discard(batch[i], slots_);
    }
    slots_.for_each_used([this](Slot& s) { release(s); });
    acceptor_.clear();
    orphans_.clear();
}

void SocketLoop::on_adopt(const Command& c, SocketKind kind) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    Slot* s = slots_.live(c.id);
    if (!s) {
        ::close(c.arg);
        return;
    }
    int fd = c.arg;
    if (kind == SocketKind::stream) {
        int type = 0;
        socklen_t len = sizeof type;
        if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM) {
            kind = SocketKind::tcp;
        }
    }
    install(*s, fd, kind, Handle(c.handle));
    switch (kind) {
        case SocketKind::listener:
        case SocketKind::udp:
            s->address = local_address(fd).to_string();
            break;
        case SocketKind::tcp:
            s->address = peer_address(fd).to_string();
            break;
        default:
            s->address = "fd " + std::to_string(fd);
            break;
    }
    s->reading = kind == SocketKind::udp;
    set_interest(*s);
}

void SocketLoop::on_start(const Command& c, Reading reading) {
    Slot* s = slots_.live(c.id);
    if (!s || s->state.load(std::memory_order_relaxed) == SlotState::closing) return;
    if (reading == Reading::start && c.handle != 0) s->owner = Handle(c.handle);
    s->reading = reading == Reading::start;
    if (!s->reading) orphans_.watch(*s);
    set_interest(*s);
}

void SocketLoop::on_send(const Command& c, Priority priority) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    auto* b = static_cast<WriteBuffer*>(c.ptr);
    Slot* s = slots_.slot(c.id);  // the sender checked the page exists
    bool taken = false;
    FlushResult r{FlushStatus::blocked, 0, 0};
    uint64_t queued = 0;
    {
        std::lock_guard g(s->write_lock);
        // Under the lock, so a worker trying a direct write sees either this command pending or
        // its buffer queued, never neither.
        s->in_pipe.fetch_sub(1, std::memory_order_relaxed);
        SlotState state = s->state.load(std::memory_order_relaxed);
        bool fits =
            s->kind == SocketKind::udp
                ? b->to.valid()
                : (s->kind == SocketKind::tcp || s->kind == SocketKind::stream) && !b->to.valid();
        if (s->id.load(std::memory_order_relaxed) == c.id && fits &&
            (state == SlotState::open || state == SlotState::connecting)) {
            taken = true;
            buffered_.fetch_add(b->remaining(), std::memory_order_relaxed);
            s->queue.push(b, priority);
            // Write at once rather than wait for EPOLLOUT when nothing was waiting.
            if (state == SlotState::open && !s->want_write) r = flush_locked(*s);
            queued = s->queue.bytes;
        }
    }
    if (!taken) {
        delete b;
        return;
    }
    if (s->state.load(std::memory_order_relaxed) == SlotState::connecting) {
        // Written once connected; warnings still apply.
        s->want_write = true;
        if (queued >= s->warn_at) after_write(*s, r, queued);
        return;
    }
    after_write(*s, r, queued);
}

void SocketLoop::on_want_write(const Command& c) {
    Slot* s = slots_.live(c.id);
    if (!s || s->state.load(std::memory_order_relaxed) == SlotState::connecting) return;
    uint64_t queued;
    {
        std::lock_guard g(s->write_lock);
        queued = s->queue.bytes;
    }
    if (queued == 0) return;  // flushed by the socket thread in the meantime
    after_write(*s, FlushResult{FlushStatus::blocked, 0, 0}, queued);
}

void SocketLoop::on_close(const Command& c, Close how) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    Slot* slot = slots_.slot(c.id);  // the caller checked the page exists
    // Counted down only once the close has taken effect, so no direct write slips in between.
    struct CountDown {
        Slot* s;
        ~CountDown() { s->in_pipe.fetch_sub(1, std::memory_order_relaxed); }
    } count_down{slot};
    Slot* s = slots_.live(c.id);
    if (!s) return;
    if (c.handle != 0 && s->owner.value != c.handle) return;  // handed on: not the sender's now
    if (s->state.load(std::memory_order_relaxed) == SlotState::closing) {
        // A graceful close still flushing has no time limit: a peer that never reads would keep
        // the fd and the queued bytes for good. A shutdown ends it now, as skynet's does; the
        // owner had its closed event at the close.
        if (how == Close::drop) release(*s);
        return;
    }
    if (s->round_write) {
        // Sent on this thread just before and queued for the round's end: written now, as a
        // direct write would have been, so that a shutdown drops only what the kernel refuses
        // (a handshake's refusal, then shutdown, must still reach the peer).
        s->round_write = false;
        if (!s->want_write) write_ready(*s);
        s = slots_.live(c.id);
        if (!s) return;  // the write failed: the owner has its error event
    }
    Handle owner = s->owner;
    bool linger = false;
    if (how == Close::flush) {
        std::lock_guard g(s->write_lock);
        if (!s->queue.empty() && s->state.load(std::memory_order_relaxed) == SlotState::open) {
            s->state.store(SlotState::closing, std::memory_order_relaxed);
            linger = true;
        }
    }
    if (linger) {
        // Incoming bytes are read and dropped meanwhile: unread data at close() would make the
        // kernel answer with a reset, which can destroy the reply still in flight.
        s->reading = true;
        set_interest(*s);
        orphans_.watch_close(*s);
    } else {
        release(*s);
    }
    deliver_to(owner, make_socket_event(SocketEventType::closed, c.id, 0, {},
                                        uint8_t(CloseReason::owner)));
}

void SocketLoop::on_close_read(const Command& c) {
    Slot* s = slots_.live(c.id);
    if (!s || s->state.load(std::memory_order_relaxed) != SlotState::open || s->read_closed) return;
    if (s->kind != SocketKind::tcp && s->kind != SocketKind::stream) return;
    s->read_closed = true;
    if (s->kind == SocketKind::tcp) ::shutdown(s->fd, SHUT_RD);
    set_interest(*s);
}

void SocketLoop::on_option(const Command& c, int level, int name) {
    Slot* s = slots_.live(c.id);
    if (!s || (s->kind != SocketKind::tcp)) return;
    bool on = c.arg != 0;
    if (name == TCP_NODELAY) {
        s->nodelay = on;
    } else {
        s->keepalive = on;
    }
    if (s->fd >= 0) {
        int v = on ? 1 : 0;
        ::setsockopt(s->fd, level, name, &v, sizeof v);
    }
}

void SocketLoop::on_buffers(const Command& c) {
    Slot* s = slots_.live(c.id);
    if (!s || s->kind != SocketKind::tcp || s->fd < 0 || c.arg <= 0) return;
    const int v = c.arg;
    ::setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    ::setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
}

void SocketLoop::on_warning_mark(const Command& c) {
    Slot* s = slots_.live(c.id);
    if (!s || c.arg <= 0) return;
    // Warned already: the owner still gets its drained event, and the next warning comes at a
    // doubling past both what it was told and the new mark.
    const bool warned = s->warn_at > s->warn_mark;
    s->warn_mark = uint64_t(c.arg) * 1024;
    s->warn_at = warned ? std::max(s->warn_at, s->warn_mark * 2) : s->warn_mark;
}

void SocketLoop::on_framer(const Command& c) {
    std::unique_ptr<Framer> framer(static_cast<Framer*>(c.ptr));
    Slot* s = slots_.live(c.id);
    if (!s || (s->kind != SocketKind::tcp && s->kind != SocketKind::stream)) return;
    s->framer = std::move(framer);
}

void SocketLoop::on_snapshot(const Command& c) {
    auto* req = static_cast<SnapshotRequest*>(c.ptr);
    answer(*req);
    req->finish();
}

void SocketLoop::answer(SnapshotRequest& req) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    if (req.id != 0) {
        if (Slot* s = slots_.live(req.id)) fill_info(*s, req.result.emplace_back());
    } else {
        slots_.for_each_used([&](Slot& s) {
            if (s.state.load(std::memory_order_relaxed) != SlotState::reserved) {
                fill_info(s, req.result.emplace_back());
            }
        });
    }
}

void SocketLoop::fill_info(Slot& s, SocketInfo& info) {
    info.id = s.id.load(std::memory_order_relaxed);
    info.state = s.state.load(std::memory_order_relaxed);
    info.kind = s.kind;  // written only by this thread
    info.owner = s.owner;
    info.reading = s.reading && !s.read_closed;
    info.address = s.address;
    info.bytes_in = s.bytes_in;
    info.last_read_ns = s.last_read_ns;
    if (s.fd >= 0) {
        info.local_port = local_address(s.fd).port();
        if (s.kind == SocketKind::tcp) {
            int v = 0;
            socklen_t len = sizeof v;
            info.nodelay = ::getsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v;
            len = sizeof v;
            info.keepalive = ::getsockopt(s.fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len) == 0 && v;
            len = sizeof v;
            if (::getsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0) info.sndbuf = v;
            len = sizeof v;
            if (::getsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0) info.rcvbuf = v;
        }
    }
    std::lock_guard g(s.write_lock);
    info.bytes_out = s.bytes_out;
    info.buffered = s.queue.bytes;
    info.last_write_ns = s.last_write_ns;
}

}  // namespace skyhive::net
