#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/message.h"
#include "core/result.h"
#include "redis/reply_codec.h"

struct redisReader;

namespace skyhive::redis {

// Bounds on what a server may send, checked before the bytes are buffered where possible.
struct RespLimits {
    // Largest bulk string, and largest status/error line (Redis's proto-max-bulk-len default).
    uint32_t max_bulk = 512u << 20;
    // Most elements in one array.
    uint32_t max_elements = 1u << 24;
};

// Turns a RESP2 byte stream into the reply encoding of reply_codec.h, using hiredis's reader with
// custom object functions: each value is appended as hiredis recognises it, and no redisReply
// tree is built. Whole replies accumulate until taken.
//
// Beyond hiredis's own checks it enforces RespLimits (a bulk header over the limit fails before
// its body is buffered), requires CRLF after every bulk body, bounds unterminated lines, and keeps
// the reader's buffer from staying large after a big reply. Errors are sticky: once feed() has
// failed the stream is unusable and every later feed() returns the same error.
//
// Thread: one thread at a time (the socket thread for a framer, the service for in-service
// parsing). Identity type: not copyable (hiredis holds a pointer to it).
class RespReader {
  public:
    // headroom: bytes left free at the front of every payload take() returns (ReplyWriter's).
    explicit RespReader(RespLimits limits = {}, size_t headroom = 0);
    ~RespReader();
    RespReader(const RespReader&) = delete;
    RespReader& operator=(const RespReader&) = delete;

    // Consumes all `n` bytes. Error texts: "malformed RESP from server: <hiredis's reason>",
    // "malformed RESP from server: bulk of N bytes not followed by CRLF", "RESP bulk of N bytes
    // exceeds the limit of M", "RESP array of N elements exceeds the limit of M", "RESP line of N
    // bytes exceeds the limit of M", "RESP line of more than M bytes without CRLF", "RESP reader:
    // out of memory...". Replies completed before the bad byte stay takeable.
    Result<void> feed(const char* data, size_t n);

    // The replies completed so far, encoded, and how many.
    std::string_view complete() const { return {out_.data(), complete_end_}; }
    uint32_t complete_count() const { return complete_count_; }
    // Moves the completed replies out as one payload, after the headroom ({} and 0 when none).
    Payload take(uint32_t* count);
    // Discards the completed replies (after decoding them in place from complete()).
    void drop_complete();

    // Bytes the hiredis reader holds (unconsumed input plus spare capacity). For tests and stats.
    size_t buffered_capacity() const;
    // The sticky error text; empty while the stream is healthy.
    const std::string& error() const { return error_; }
    const RespLimits& limits() const { return limits_; }

  private:
    struct Callbacks;

    // Takes the whole top-level replies at the front of data that need no parser state (status,
    // error, integer, bulk, nil) straight into out_, while hiredis holds nothing; returns the
    // bytes taken. Anything else, or anything not strictly well formed, is left to hiredis.
    size_t take_simple(const char* data, size_t n);
    size_t next_chunk(const char* data, size_t n) const;
    Result<void> drain();
    Result<void> check_pending();
    void trim_buffer();
    Result<void> fail(std::string message);
    void* reject(std::string message);
    // The token hiredis needs for a value the writer took, or a rejection when it could not.
    void* stored(bool ok);

    redisReader* reader_;
    RespLimits limits_;
    ReplyWriter out_;
    size_t complete_end_ = 0;
    uint32_t complete_count_ = 0;
    // Bytes still needed to finish a bulk whose header is in the reader (0 when none pending).
    size_t bulk_need_ = 0;
    // An unterminated line (status, error, integer, or a length header) is in the reader.
    bool line_pending_ = false;
    // Set by a callback that refused a value; hiredis then reports its own OOM error, which this
    // more precise text replaces.
    std::string rejected_;
    std::string error_;
};

}  // namespace skyhive::redis
