#include "redis/command.h"

#include <hiredis/hiredis.h>

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace skyhive::redis {

CommandBuffer::CommandBuffer(CommandBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      cap_(std::exchange(o.cap_, 0)),
      count_(std::exchange(o.count_, 0)) {}

CommandBuffer& CommandBuffer::operator=(CommandBuffer&& o) noexcept {
    if (this != &o) {
        std::free(data_);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
        cap_ = std::exchange(o.cap_, 0);
        count_ = std::exchange(o.count_, 0);
    }
    return *this;
}

CommandBuffer::~CommandBuffer() {
    std::free(data_);
}

Result<void> CommandBuffer::append(int argc, const char* const* argv, const size_t* lens) {
    if (argc <= 0) return Error{"redis command without a name"};
    sds cmd = nullptr;
    // The sds variant of hiredis's formatter writes the headers with its own integer formatting;
    // redisFormatCommandArgv goes through sprintf, which measured ~10% of a pipelined client's
    // CPU. hiredis's prototype lacks the inner const; it does not write through argv.
    int len = redisFormatSdsCommandArgv(&cmd, argc, const_cast<const char**>(argv), lens);
    if (len < 0) {
        return Error{"cannot encode redis command " + std::string(argv[0], lens[0]) + " (" +
                     std::to_string(argc) + " arguments): out of memory or over 2 GiB"};
    }
    size_t n = size_t(len);
    if (n > UINT32_MAX - size_) {
        redisFreeSdsCommand(cmd);
        return Error{"redis command buffer would exceed 4 GiB"};
    }
    if (size_ + n > cap_) {
        size_t cap = cap_ < 256 ? 256 : cap_ * 2;
        if (cap < size_ + n) cap = size_ + n;
        if (cap > UINT32_MAX) cap = UINT32_MAX;
        char* p = static_cast<char*>(std::realloc(data_, cap));
        if (!p) {
            redisFreeSdsCommand(cmd);
            return Error{"redis command buffer: out of memory"};
        }
        data_ = p;
        cap_ = cap;
    }
    std::memcpy(data_ + size_, cmd, n);
    size_ += n;
    ++count_;
    redisFreeSdsCommand(cmd);
    return {};
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
