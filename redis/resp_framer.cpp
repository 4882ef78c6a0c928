#include "redis/resp_framer.h"

#include <cassert>

namespace skyhive::redis {

RespFramer::RespFramer(RespLimits limits) : reader_(limits, kHeadroom) {}

RespFramer::~RespFramer() = default;

Result<void> RespFramer::feed(const char* data, size_t n) {
    return reader_.feed(data, n);
}

Payload RespFramer::take(uint32_t* count) {
    return reader_.take(count);
}

}  // namespace skyhive::redis
