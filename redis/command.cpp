#include "redis/command.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "redis/grow_buffer.h"

namespace skyhive::redis {

CommandBuffer::CommandBuffer(CommandBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      cap_(std::exchange(o.cap_, 0)),
      count_(std::exchange(o.count_, 0)),
      last_(o.last_) {}

CommandBuffer& CommandBuffer::operator=(CommandBuffer&& o) noexcept {
    if (this != &o) {
        std::free(data_);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
        cap_ = std::exchange(o.cap_, 0);
        count_ = std::exchange(o.count_, 0);
        last_ = o.last_;
    }
    return *this;
}

CommandBuffer::~CommandBuffer() {
    std::free(data_);
}

namespace {

size_t digits(size_t v) {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        ++n;
    }
    return n;
}

// The largest last payload whose size the next buffer starts with.
constexpr size_t kMaxSizeHint = 64 * 1024;

// Writes "<tag><v>\r\n" at p; returns the end.
char* put_header(char* p, char tag, size_t v) {
    *p++ = tag;
    p = std::to_chars(p, p + 20, v).ptr;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

}  // namespace

// The request is written straight into the buffer: its exact size is known from the lengths, so
// one capacity check covers it. The bytes are hiredis's formatter's, byte for byte (the tests
// compare the two); going through redisFormatSdsCommandArgv instead cost an allocation, a
// reallocation, a copy and three format-string calls per command, ~9% of a pipelined client's
// CPU (bench/redis/resp_bench.cpp measures both).
Result<void> CommandBuffer::append(int argc, const char* const* argv, const size_t* lens) {
    if (argc <= 0) return Error{"redis command without a name"};
    size_t n = 1 + digits(size_t(argc)) + 2;
    for (int i = 0; i < argc; ++i) {
        size_t len = lens[i];
        if (len > UINT32_MAX) return Error{"redis command buffer would exceed 4 GiB"};
        n += 1 + digits(len) + 2 + len + 2;
        if (n > UINT32_MAX) return Error{"redis command buffer would exceed 4 GiB"};
    }
    if (n > UINT32_MAX - size_) return Error{"redis command buffer would exceed 4 GiB"};
    if (!reserve(n)) return Error{"redis command buffer: out of memory"};
    char* p = put_header(data_ + size_, '*', size_t(argc));
    for (int i = 0; i < argc; ++i) {
        size_t len = lens[i];
        p = put_header(p, '$', len);
        if (len) std::memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    assert(size_t(p - data_) == size_ + n);
    size_ += n;
    ++count_;
    return {};
}

// Room for n more bytes (n + size_ <= UINT32_MAX, checked by the callers).
bool CommandBuffer::reserve(size_t n) {
    return grow_buffer(data_, cap_, size_ + n, std::max<size_t>(256, last_));
}

bool CommandBuffer::begin(size_t argc) {
    if (argc == 0 || argc > INT32_MAX) return false;
    const size_t n = 1 + digits(argc) + 2;
    if (n > UINT32_MAX - size_ || !reserve(n)) return false;
    size_ = size_t(put_header(data_ + size_, '*', argc) - data_);
    return true;
}

bool CommandBuffer::add(const char* arg, size_t len) {
    if (len > UINT32_MAX) return false;
    const size_t n = 1 + digits(len) + 2 + len + 2;
    if (n > UINT32_MAX - size_ || !reserve(n)) return false;
    char* p = put_header(data_ + size_, '$', len);
    if (len) std::memcpy(p, arg, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    size_ = size_t(p - data_);
    return true;
}

bool CommandBuffer::append_encoded(std::string_view bytes, uint32_t commands) {
    if (bytes.size() > UINT32_MAX - size_ || commands > UINT32_MAX - count_) return false;
    if (!reserve(bytes.size())) return false;
    if (!bytes.empty()) std::memcpy(data_ + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
    count_ += commands;
    return true;
}

Result<void> CommandBuffer::append(std::span<const std::string_view> argv) {
    constexpr size_t kInline = 16;
    const char* ptr_inline[kInline];
    size_t len_inline[kInline];
    std::vector<const char*> ptr_heap;
    std::vector<size_t> len_heap;
    const char** ptrs = ptr_inline;
    size_t* lens = len_inline;
    if (argv.size() > kInline) {
        ptr_heap.resize(argv.size());
        len_heap.resize(argv.size());
        ptrs = ptr_heap.data();
        lens = len_heap.data();
    }
    if (argv.size() > size_t(INT32_MAX)) return Error{"redis command with too many arguments"};
    for (size_t i = 0; i < argv.size(); ++i) {
        ptrs[i] = argv[i].data();
        lens[i] = argv[i].size();
    }
    return append(int(argv.size()), ptrs, lens);
}

Payload CommandBuffer::take() {
    if (size_ == 0) return {};  // keep the allocation for the next commands
    // A big one-off payload is not a shape to keep room for.
    last_ = size_ <= kMaxSizeHint ? size_ : 0;
    Payload p = Payload::adopt(data_, uint32_t(size_));
    data_ = nullptr;
    size_ = cap_ = 0;
    count_ = 0;
    return p;
}

void CommandBuffer::clear() {
    size_ = 0;
    count_ = 0;
}

std::string format_command(std::span<const std::string_view> argv) {
    CommandBuffer buf;
    auto r = buf.append(argv);
    assert(r.ok());
    (void)r;
    return std::string(buf.view());
}

}  // namespace skyhive::redis
