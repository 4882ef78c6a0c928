#include "net/write_queue.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

namespace skyhive::net {

namespace {
constexpr int kMaxIov = 64;
}

void WriteList::push_back(WriteBuffer* b) {
    b->next = nullptr;
    if (tail_) {
        tail_->next = b;
    } else {
        head_ = b;
    }
    tail_ = b;
}

void WriteList::push_front(WriteBuffer* b) {
    b->next = head_;
    head_ = b;
    if (!tail_) tail_ = b;
}

WriteBuffer* WriteList::pop_front() {
    WriteBuffer* b = head_;
    if (b) {
        head_ = b->next;
        if (!head_) tail_ = nullptr;
        b->next = nullptr;
    }
    return b;
}

void WriteList::clear() {
    while (WriteBuffer* b = pop_front())
        delete b;
}

void WriteQueue::push(WriteBuffer* b, Priority priority) {
    bytes += b->remaining();
    (priority == Priority::low ? low : high).push_back(b);
}

uint64_t WriteQueue::clear() {
    uint64_t dropped = bytes;
    high.clear();
    low.clear();
    bytes = 0;
    return dropped;
}

FlushResult flush_stream(int fd, bool is_socket, WriteQueue& q) {
    uint64_t total = 0;
    for (;;) {
        bool from_low = q.high.empty();
        WriteList& list = from_low ? q.low : q.high;
        if (list.empty()) return {FlushStatus::drained, total, 0};

        iovec iov[kMaxIov];
        int count = 0;
        size_t want = 0;
        for (WriteBuffer* b = list.front(); b && count < kMaxIov; b = b->next) {
            iov[count].iov_base = b->data.data() + b->offset;
            iov[count].iov_len = b->remaining();
            want += b->remaining();
            ++count;
        }
        ssize_t n;
        if (is_socket && count == 1) {
            // One buffer (the usual reply): send(2) skips copying in a msghdr and an iovec.
            n = ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else if (is_socket) {
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = size_t(count);
            n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        } else {
            n = ::writev(fd, iov, count);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return {FlushStatus::blocked, total, 0};
            return {FlushStatus::failed, total, errno};
        }
        total += uint64_t(n);
        q.bytes -= uint64_t(n);
        size_t left = size_t(n);
        while (left > 0) {
            WriteBuffer* b = list.front();
            if (left >= b->remaining()) {
                left -= b->remaining();
                delete list.pop_front();
            } else {
                b->offset += uint32_t(left);
                left = 0;
                // Keep the invariant: a cut buffer goes out first, before any new high one.
                if (from_low) q.high.push_front(q.low.pop_front());
            }
        }
        if (size_t(n) < want) return {FlushStatus::blocked, total, 0};
    }
}

FlushResult flush_datagrams(int fd, WriteQueue& q) {
    uint64_t total = 0;
    for (;;) {
        WriteList& list = q.high.empty() ? q.low : q.high;
        if (list.empty()) return {FlushStatus::drained, total, 0};
        WriteBuffer* b = list.front();
        SocketAddress to = b->to.to_socket_address();
        ssize_t n = ::sendto(fd, b->data.data() + b->offset, b->remaining(), MSG_NOSIGNAL, to.get(),
                             to.length);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return {FlushStatus::blocked, total, 0};
        } else {
            total += uint64_t(n);
        }
        q.bytes -= b->remaining();
        delete list.pop_front();
    }
}

}  // namespace skyhive::net
