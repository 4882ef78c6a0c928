#pragma once

#include <cstdint>

#include "core/message.h"
#include "net/udp_address.h"

namespace skyhive::net {

// One buffer waiting to be written: the bytes of `data` from `offset` on.
struct WriteBuffer {
    WriteBuffer* next = nullptr;
    Payload data;
    uint32_t offset = 0;
    UdpAddress to;  // destination of a datagram; unused on stream sockets

    uint32_t remaining() const { return data.size() - offset; }
};

// Intrusive FIFO of buffers; owns them. Not copyable.
class WriteList {
  public:
    WriteList() = default;
    WriteList(const WriteList&) = delete;
    WriteList& operator=(const WriteList&) = delete;
    ~WriteList() { clear(); }

    bool empty() const { return head_ == nullptr; }
    WriteBuffer* front() const { return head_; }
    void push_back(WriteBuffer* b);
    void push_front(WriteBuffer* b);
    WriteBuffer* pop_front();
    void clear();

  private:
    WriteBuffer* head_ = nullptr;
    WriteBuffer* tail_ = nullptr;
};

// Which of a socket's two write lists a buffer joins.
enum class Priority : uint8_t { high, low };

// A socket's pending output, in two priorities. High goes before low; within each, FIFO.
// Invariant: a buffer that is partly written is the head of `high`, so its remaining bytes go out
// before any other buffer (a low-priority buffer cut by a short write is moved there): buffers are
// never interleaved on the stream.
//
// Thread: whoever holds the owning slot's write lock (the socket thread, or a worker writing
// directly).
struct WriteQueue {
    WriteList high;
    WriteList low;
    uint64_t bytes = 0;  // remaining bytes in both lists

    bool empty() const { return high.empty() && low.empty(); }
    void push(WriteBuffer* b, Priority priority);
    // Frees every buffer; returns the bytes dropped.
    uint64_t clear();
};

enum class FlushStatus : uint8_t { drained, blocked, failed };
struct FlushResult {
    FlushStatus status;
    uint64_t written;
    int err;  // errno when failed
};

// Writes as much of a stream socket's queue as the kernel takes (writev-style, many buffers per
// call). `is_socket` selects sendmsg(MSG_NOSIGNAL) over writev so a dead peer is an EPIPE error,
// not a SIGPIPE. Thread: the caller holds the slot's write lock.
FlushResult flush_stream(int fd, bool is_socket, WriteQueue& q);

// Sends queued datagrams. A datagram the kernel refuses for a reason other than a full buffer
// (EMSGSIZE, an ICMP error from an earlier send...) is dropped, as UDP would drop it later anyway;
// the socket keeps working. Thread: the caller holds the slot's write lock.
FlushResult flush_datagrams(int fd, WriteQueue& q);

}  // namespace skyhive::net
