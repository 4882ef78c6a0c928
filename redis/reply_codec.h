#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/message.h"

namespace skyhive::redis {

// The reply encoding: how whole RESP replies travel from the socket thread to the owning service,
// several in one payload. It is flat, needs no fix-ups while being appended, and is walked once
// by the decoder.
//
//   payload := value*                                (top-level replies, in arrival order)
//   value   := '+' len:u32 byte[len]                 status line
//            | '-' len:u32 byte[len]                 error line
//            | '$' len:u32 byte[len]                 bulk string (binary-safe)
//            | ':' i64                               integer
//            | '_'                                   nil (RESP2 null bulk or null array)
//            | '*' count:u32 value[count]            array, children follow in order
//
// Numbers are native-endian and unaligned (producer and consumer share the process). An array's
// element count is known from its RESP header before any child arrives, so hiredis's pre-order
// callbacks append straight to the end. A payload never exceeds UINT32_MAX bytes (Payload's
// size); every len fits u32 because bulk and line limits are far below that.
enum class ReplyTag : uint8_t {
    status = '+',
    error = '-',
    bulk = '$',
    integer = ':',
    nil = '_',
    array = '*',
};

// Appends encoded values to a malloc'd buffer that can be handed over as a Payload.
// With a headroom of h bytes, every buffer starts with h bytes (zeroed) before the values, and
// take_front's payloads keep them: the socket thread writes its event header there instead of
// moving the values behind one (RespFramer). data(), size() and the n of take_front and
// drop_front count the values only.
// Thread: one thread at a time (a plain value owned by its user).
class ReplyWriter {
  public:
    explicit ReplyWriter(size_t headroom = 0) : head_(headroom) {}
    ReplyWriter(const ReplyWriter&) = delete;
    ReplyWriter& operator=(const ReplyWriter&) = delete;
    ~ReplyWriter() { std::free(data_); }

    // Each returns false, appending nothing, when the buffer would pass UINT32_MAX bytes or memory
    // runs out.
    bool put_string(ReplyTag tag, const char* s, size_t len);
    bool put_integer(int64_t v);
    bool put_nil();
    bool put_array(uint32_t count);

    const char* data() const { return data_ ? data_ + head_ : nullptr; }
    size_t size() const { return data_ ? size_ - head_ : 0; }
    size_t headroom() const { return head_; }

    // Hands over the first `n` bytes of values as a payload (after the headroom: headroom() + n
    // bytes); the rest (an unfinished reply) stays. Costs a copy of the remaining bytes only when
    // there are some.
    Payload take_front(size_t n);
    // Forgets the first `n` bytes of values (already consumed in place).
    void drop_front(size_t n);
    void clear() { size_ = data_ ? head_ : 0; }

  private:
    bool reserve(size_t extra);

    // A fresh buffer never starts larger than this, whatever the last one held.
    static constexpr size_t kMaxStartCapacity = 256 << 10;

    // The buffer: the headroom, then the values. size_ and cap_ count the headroom too (size_ is
    // 0 while there is no buffer).
    char* data_ = nullptr;
    size_t size_ = 0;
    size_t cap_ = 0;
    size_t head_ = 0;
    size_t next_cap_ = 0;
};

// One decoded value. For arrays, `count` children follow from the same cursor.
struct ReplyItem {
    ReplyTag tag = ReplyTag::nil;
    std::string_view str;  // status, error, bulk
    int64_t integer = 0;   // integer
    uint32_t count = 0;    // array
};

// Walks an encoded payload value by value (pre-order). It trusts nothing: a truncated or unknown
// value makes next() fail, so payloads from any source can be walked safely.
// Thread: any (reads borrowed bytes, which must outlive the cursor).
class ReplyCursor {
  public:
    ReplyCursor(const char* data, size_t size) : p_(data), end_(data + size) {}
    explicit ReplyCursor(std::string_view s) : ReplyCursor(s.data(), s.size()) {}

    bool at_end() const { return p_ == end_; }
    size_t remaining() const { return size_t(end_ - p_); }
    // Reads the next value's header (and string bytes); false on malformed or truncated input.
    bool next(ReplyItem& out);

  private:
    const char* p_;
    const char* end_;
};

// Counts the top-level values of a payload and checks it is well formed (every array complete,
// nesting at most `max_depth`); returns false otherwise. For tests, fuzzing and assertions.
bool validate_replies(std::string_view payload, uint32_t* count, int max_depth = 64);

}  // namespace skyhive::redis
