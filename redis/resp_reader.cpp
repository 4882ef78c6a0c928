#include "redis/resp_reader.h"

#include <hiredis/read.h>
extern "C" {  // sds.h, unlike read.h, has no C++ guard of its own
#include <hiredis/sds.h>
}

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>

namespace skyhive::redis {

namespace {

// How much input hiredis gets per call while no long item is pending. hiredis moves its unread
// bytes to the front of its buffer every time it has consumed 1 KB, so feeding a whole 64 KB
// socket read at once would copy the rest of it again and again; small slices keep that tail
// short. A pending bulk or line gets everything it needs in one call instead.
constexpr size_t kSlice = 2048;

// Spare reader capacity a connection may keep between replies (hiredis's own REDIS_READER_MAX_BUF
// applies when its buffer is empty).
constexpr size_t kKeepBuffer = 256 << 10;

// A bulk length header is at most 19 digits (hiredis rejects leading zeros and overflow).
constexpr size_t kMaxBulkHeader = 24;

std::string too_big(const char* what, unsigned long long n, const char* unit, uint32_t limit) {
    return std::string("RESP ") + what + " of " + std::to_string(n) + " " + unit +
           " exceeds the limit of " + std::to_string(limit);
}

std::string line_too_long(uint32_t limit) {
    return "RESP line of more than " + std::to_string(limit) + " bytes without CRLF";
}

const char* find_crlf(const char* p, size_t n) {
    for (size_t i = 0; i + 1 < n; ++i) {
        if (p[i] == '\r' && p[i + 1] == '\n') return p + i;
    }
    return nullptr;
}

}  // namespace

// hiredis calls these in pre-order as it recognises each value. A null return makes hiredis fail
// the stream (it reports "out of memory"; `rejected_` carries the real reason). They are noexcept:
// an exception must not unwind through hiredis's C frames (bad_alloc terminates instead).
struct RespReader::Callbacks {
    static RespReader* self(const redisReadTask* t) noexcept {
        return static_cast<RespReader*>(t->privdata);
    }

    static void* create_string(const redisReadTask* t, char* s, size_t len) noexcept {
        RespReader* r = self(t);
        if (t->type == REDIS_REPLY_STRING) {
            if (len > r->limits_.max_bulk) {
                return r->reject(too_big("bulk", len, "bytes", r->limits_.max_bulk));
            }
            // hiredis skips the two bytes after a bulk body without looking at them. They are in
            // its buffer: it only calls here once the whole item has arrived.
            if (s[len] != '\r' || s[len + 1] != '\n') {
                return r->reject("malformed RESP from server: bulk of " + std::to_string(len) +
                                 " bytes not followed by CRLF");
            }
            return r->stored(r->out_.put_string(ReplyTag::bulk, s, len));
        }
        if (len > r->limits_.max_bulk) {
            return r->reject(too_big("line", len, "bytes", r->limits_.max_bulk));
        }
        ReplyTag tag = t->type == REDIS_REPLY_ERROR ? ReplyTag::error : ReplyTag::status;
        return r->stored(r->out_.put_string(tag, s, len));
    }

    static void* create_array(const redisReadTask* t, int elements) noexcept {
        RespReader* r = self(t);
        // hiredis has rejected negative counts other than the null array already.
        assert(elements >= 0);
        if (uint32_t(elements) > r->limits_.max_elements) {
            return r->reject(
                too_big("array", unsigned(elements), "elements", r->limits_.max_elements));
        }
        return r->stored(r->out_.put_array(uint32_t(elements)));
    }

    static void* create_integer(const redisReadTask* t, long long v) noexcept {
        RespReader* r = self(t);
        return r->stored(r->out_.put_integer(v));
    }

    static void* create_nil(const redisReadTask* t) noexcept {
        RespReader* r = self(t);
        return r->stored(r->out_.put_nil());
    }

    static redisReplyObjectFunctions functions;
};

// No freeObject: the values live in the ReplyWriter, hiredis only needs non-null tokens.
redisReplyObjectFunctions RespReader::Callbacks::functions = {create_string, create_array,
                                                              create_integer, create_nil, nullptr};

RespReader::RespReader(RespLimits limits, size_t headroom) : limits_(limits), out_(headroom) {
    // hiredis indexes its buffer with int in places (sdsrange): stay well below 2 GB.
    assert(limits_.max_bulk <= (1u << 30));
    reader_ = redisReaderCreateWithFunctions(&Callbacks::functions);
    if (!reader_) std::abort();  // out of memory at construction: nothing sensible to do
    reader_->privdata = this;
    reader_->maxbuf = REDIS_READER_MAX_BUF;
}

RespReader::~RespReader() {
    redisReaderFree(reader_);
}

void* RespReader::stored(bool ok) {
    if (ok) return this;
    return reject("RESP reader: out of memory, or more than 4 GiB of replies not taken");
}

void* RespReader::reject(std::string message) {
    if (rejected_.empty()) rejected_ = std::move(message);
    return nullptr;
}

Result<void> RespReader::fail(std::string message) {
    error_ = std::move(message);
    return Error{error_};
}

namespace {

// A strict RESP integer: "0" or an optional '-' and 1-18 digits without a leading zero (so it
// fits int64_t), then CRLF, within [p, end). Sets *v and returns the byte after the CRLF, or
// nullptr for anything else (the caller leaves that to hiredis).
const char* strict_integer(const char* p, const char* end, int64_t* v) {
    bool negative = p < end && *p == '-';
    if (negative) ++p;
    const char* first = p;
    int64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - first < 18)
        x = x * 10 + (*p++ - '0');
    const size_t digits = size_t(p - first);
    if (digits == 0 || (digits > 1 && *first == '0') || (negative && x == 0)) return nullptr;
    // A 19th digit, or anything but CRLF after the digits.
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return nullptr;
    *v = negative ? -x : x;
    return p + 2;
}

}  // namespace

size_t RespReader::take_simple(const char* data, size_t n) {
    if (reader_->len != reader_->pos || reader_->ridx >= 0) return 0;  // hiredis holds a part
    const char* p = data;
    const char* const end = data + n;
    while (p < end) {
        const char* next = nullptr;
        bool ok = false;
        switch (*p) {
            case '+':
            case '-': {
                // Up to the first '\r', which must start the CRLF; a line over the limit goes to
                // hiredis and the callback, which report it.
                const void* cr = std::memchr(p + 1, '\r', size_t(end - p - 1));
                if (!cr) break;
                const char* e = static_cast<const char*>(cr);
                const size_t len = size_t(e - p - 1);
                if (e + 1 >= end || e[1] != '\n' || len > limits_.max_bulk) break;
                ok = out_.put_string(*p == '+' ? ReplyTag::status : ReplyTag::error, p + 1, len);
                next = e + 2;
                break;
            }
            case ':': {
                int64_t v;
                next = strict_integer(p + 1, end, &v);
                if (next) ok = out_.put_integer(v);
                break;
            }
            case '$': {
                if (end - p >= 5 && std::memcmp(p, "$-1\r\n", 5) == 0) {
                    ok = out_.put_nil();
                    next = p + 5;
                    break;
                }
                int64_t len;
                const char* body = strict_integer(p + 1, end, &len);
                if (!body || len < 0 || uint64_t(len) > limits_.max_bulk) break;
                if (size_t(end - body) < size_t(len) + 2) break;  // not all here yet
                if (body[len] != '\r' || body[len + 1] != '\n') break;
                ok = out_.put_string(ReplyTag::bulk, body, size_t(len));
                next = body + len + 2;
                break;
            }
            default:
                break;
        }
        if (!next) break;
        if (!ok) {
            (void)fail("RESP reader: out of memory, or more than 4 GiB of replies not taken");
            break;
        }
        p = next;
        complete_end_ = out_.size();
        ++complete_count_;
    }
    return size_t(p - data);
}

Result<void> RespReader::feed(const char* data, size_t n) {
    if (!error_.empty()) return Error{error_};
    while (n > 0) {
        // Whenever hiredis holds nothing, the simple replies in front go without it.
        const size_t simple = take_simple(data, n);
        if (!error_.empty()) return Error{error_};
        data += simple;
        n -= simple;
        if (n == 0) break;
        size_t chunk = next_chunk(data, n);
        if (bulk_need_ > 0 && sdsavail(reader_->buf) < chunk) {
            // sds grows by only 1 MB at a time past 1 MB, and a realloc may copy: a big bulk
            // would be copied over and over. Grow geometrically, never past what the bulk needs.
            size_t want = std::min(bulk_need_, std::max(chunk, sdslen(reader_->buf)));
            sds grown = sdsMakeRoomFor(reader_->buf, want);
            if (!grown)
                return fail("RESP reader: out of memory growing to " +
                            std::to_string(sdslen(reader_->buf) + want) + " bytes");
            reader_->buf = grown;
        }
        if (redisReaderFeed(reader_, data, chunk) != REDIS_OK) {
            return fail("RESP reader: out of memory buffering " + std::to_string(chunk) + " bytes");
        }
        data += chunk;
        n -= chunk;
        if (auto r = drain(); !r.ok()) return r;
    }
    trim_buffer();
    return {};
}

size_t RespReader::next_chunk(const char* data, size_t n) const {
    // A top-level reply that hiredis holds a part of gets just what completes it (the rest of its
    // bulk or its line), so that the replies after it go to take_simple again. Not when hiredis's
    // buffer has grown past its maxbuf (a long bulk): completed exactly, the reply would leave
    // that buffer empty, hiredis frees an empty buffer past maxbuf at the next feed, and each
    // long bulk would grow a new one (64 KB bulks framed 50-100% slower so).
    const bool exact = reader_->ridx == 0 && sdsalloc(reader_->buf) <= reader_->maxbuf;
    if (bulk_need_ > 0) return std::min(n, exact ? bulk_need_ : std::max(bulk_need_, kSlice));
    if (line_pending_) {
        // Deliver the rest of the line in one call: hiredis rescans a pending line from its start
        // on every call, so slicing a long line would cost quadratic time.
        const void* nl = std::memchr(data, '\n', n);
        size_t upto = nl ? size_t(static_cast<const char*>(nl) - data) + 1 : n;
        return std::min(n, exact ? upto : std::max(upto, kSlice));
    }
    return std::min(n, kSlice);
}

Result<void> RespReader::drain() {
    for (;;) {
        void* reply = nullptr;
        if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
            if (!rejected_.empty()) return fail(std::move(rejected_));
            return fail(std::string("malformed RESP from server: ") + reader_->errstr);
        }
        if (!reply) break;
        complete_end_ = out_.size();
        ++complete_count_;
    }
    return check_pending();
}

// Looks at the item hiredis is waiting on (the public reader state of read.h): bounds it, and
// notes how much input would complete it.
Result<void> RespReader::check_pending() {
    bulk_need_ = 0;
    line_pending_ = false;
    const redisReader* r = reader_;
    if (r->ridx < 0) return {};
    const redisReadTask& cur = r->rstack[r->ridx];
    if (cur.type < 0) return {};  // waiting for a type byte: nothing buffered
    const char* p = r->buf + r->pos;
    size_t have = r->len - r->pos;
    if (cur.type == REDIS_REPLY_STRING) {
        // hiredis validates the header as soon as its CRLF is in; a pending bulk with a complete
        // header therefore has a well-formed, non-negative length.
        if (const char* crlf = find_crlf(p, std::min(have, kMaxBulkHeader))) {
            unsigned long long len = 0;
            for (const char* d = p; d < crlf; ++d)
                len = len * 10 + unsigned(*d - '0');
            if (len > limits_.max_bulk) {
                return fail(too_big("bulk", len, "bytes", limits_.max_bulk));
            }
            size_t total = size_t(crlf - p) + 2 + size_t(len) + 2;
            assert(total > have);
            bulk_need_ = total - have;
            return {};
        }
    }
    line_pending_ = true;
    // The line may already hold its '\r' while the '\n' is still on the way.
    size_t content = have > 0 && p[have - 1] == '\r' ? have - 1 : have;
    if (content > limits_.max_bulk) {
        return fail(line_too_long(limits_.max_bulk));
    }
    return {};
}

// hiredis frees a large idle buffer only when it is completely empty at the next feed; on a busy
// connection there is always a partial reply in it, so a 64 MB bulk would pin 64 MB forever.
// Shrink once the unread part is small again, but keep up to kKeepBuffer spare: shrinking after
// every 64 KB value and regrowing for the next one made such replies twice as slow to frame.
// Never shrink while a big item accumulates: it would realloc on every feed.
void RespReader::trim_buffer() {
    redisReader* r = reader_;
    if (!r->buf || sdsavail(r->buf) <= kKeepBuffer) return;
    if (r->len - r->pos > r->maxbuf) return;
    if (r->pos > 0) {
        sdsrange(r->buf, int(r->pos), -1);
        r->pos = 0;
        r->len = sdslen(r->buf);
    }
    r->buf = sdsRemoveFreeSpace(r->buf);
}

size_t RespReader::buffered_capacity() const {
    return reader_->buf ? sdsalloc(reader_->buf) : 0;
}

Payload RespReader::take(uint32_t* count) {
    *count = complete_count_;
    Payload p = out_.take_front(complete_end_);
    complete_end_ = 0;
    complete_count_ = 0;
    return p;
}

void RespReader::drop_complete() {
    out_.drop_front(complete_end_);
    complete_end_ = 0;
    complete_count_ = 0;
}

}  // namespace skyhive::redis
