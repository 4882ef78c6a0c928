#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/handle.h"

namespace skyhive {

// Protocol of a message. The numbers are skynet's, so a skynet developer reads logs unchanged.
enum class MessageType : uint8_t {
    text = 0,
    response = 1,
    multicast = 2,
    client = 3,
    system = 4,
    harbor = 5,
    socket = 6,
    error = 7,
    queue = 8,
    debug = 9,
    lua = 10,
    snax = 11,
    trace = 12,
};
const char* to_string(MessageType t);

// Owned bytes allocated with malloc (so a payload built by C code or Lua can be adopted without a
// copy). Move-only; the moved-from payload is empty.
class Payload {
  public:
    Payload() = default;
    // Takes ownership of `data` (malloc'd, may be null when size is 0).
    static Payload adopt(void* data, uint32_t size) {
        return Payload(static_cast<char*>(data), size);
    }
    static Payload copy(const void* data, size_t size);
    static Payload copy(std::string_view s) { return copy(s.data(), s.size()); }
    // Uninitialised bytes for the caller to fill.
    static Payload allocate(size_t size);

    Payload(Payload&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Payload& operator=(Payload&& o) noexcept {
        if (this != &o) {
            if (data_) std::free(data_);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    Payload(const Payload&) = delete;
    Payload& operator=(const Payload&) = delete;
    ~Payload() {
        if (data_) std::free(data_);  // the branch is cheaper than a call for the empty case
    }

    char* data() { return data_; }
    const char* data() const { return data_; }
    uint32_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    std::string_view view() const { return {data_, size_}; }
    // Gives up ownership; the caller frees with std::free.
    char* release() {
        size_ = 0;
        return std::exchange(data_, nullptr);
    }

  private:
    Payload(char* d, uint32_t s) : data_(d), size_(s) {}
    char* data_ = nullptr;
    uint32_t size_ = 0;
};

// One message between services. Ownership of the payload moves with it; nothing is copied.
// `session` > 0 on a request that expects a response, and the same number on that response.
struct Message {
    Handle source;
    int32_t session = 0;
    MessageType type = MessageType::text;
    Payload payload;
};

static_assert(std::is_nothrow_move_constructible_v<Payload>);
static_assert(std::is_nothrow_move_assignable_v<Payload>);
static_assert(std::is_nothrow_move_constructible_v<Message>);
static_assert(std::is_nothrow_move_assignable_v<Message>);
static_assert(sizeof(Message) <= 32, "messages are moved through ring buffers; keep them small");

// Where threads outside the scheduler (socket thread, timer, tests) hand messages to services.
// Implemented by Node; net/ and redis/ depend on this interface, not on the node.
// Thread: any. Returns false (and drops the message) when `dest` is not a live service.
class MessageSink {
  public:
    virtual ~MessageSink() = default;
    virtual bool deliver(Handle dest, Message msg) = 0;
    // Whether `dest` is a live service, one deliver() could still reach. For a producer that must
    // find out about an owner it has nothing to deliver to (the socket thread, for paused
    // sockets). Default: true, for a sink that cannot tell.
    virtual bool alive(Handle dest) const {
        (void)dest;
        return true;
    }
    // Between hold_wakes() and release_wakes(), this thread's deliveries wake no worker;
    // release_wakes() then wakes one if any of them needed it. A producer that delivers bursts
    // (the socket thread's epoll round) pays for one wake-up per burst instead of one per
    // message, and the woken worker does not preempt it halfway through the burst. Calls do not
    // nest. Thread: the delivering thread, which must release before it blocks.
    virtual void hold_wakes() {}
    virtual void release_wakes() {}
};

}  // namespace skyhive
