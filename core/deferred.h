#pragma once

// Work a worker thread may put off while it runs one service's batch of messages, to be done
// before anything that batch did can be seen by another thread:
//   - before the worker hands any service a message (Node::push): the receiver may act on what
//     the batch did, e.g. write to the same socket after it;
//   - between two messages, once the batch has run for kDeferredFlushUs;
//   - when the batch ends, before the worker lets the mailbox go (Scheduler).
// The socket server puts its direct writes off so (SocketServer::send): the replies to one
// batch of requests leave together, and a peer waiting for them is woken once, not per reply.
//
// One put-off function per thread at a time (the socket server's is the only one).
// Thread: every function acts on the calling thread's own state.
namespace skyhive::deferred {

using Fn = void (*)();

// How long a batch may hold put-off work before the scheduler flushes it between two messages.
inline constexpr int kDeferredFlushUs = 100;

namespace detail {
inline thread_local bool open = false;
inline thread_local Fn pending = nullptr;
}  // namespace detail

// True while this thread runs a worker's batch: work may be put off.
inline bool open() {
    return detail::open;
}

// fn runs at this thread's next flush.
inline void defer(Fn fn) {
    detail::pending = fn;
}

inline bool pending() {
    return detail::pending != nullptr;
}

// Runs what was put off, if anything.
inline void flush() {
    if (Fn fn = detail::pending) {
        detail::pending = nullptr;
        fn();
    }
}

// The scheduler's, around each batch a worker runs.
inline void begin_batch() {
    detail::open = true;
}
inline void end_batch() {
    detail::open = false;
    flush();
}

}  // namespace skyhive::deferred
