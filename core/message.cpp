#include "core/message.h"

#include <new>

namespace skyhive {

const char* to_string(MessageType t) {
    switch (t) {
        case MessageType::text:
            return "text";
        case MessageType::response:
            return "response";
        case MessageType::multicast:
            return "multicast";
        case MessageType::client:
            return "client";
        case MessageType::system:
            return "system";
        case MessageType::harbor:
            return "harbor";
        case MessageType::socket:
            return "socket";
        case MessageType::error:
            return "error";
        case MessageType::queue:
            return "queue";
        case MessageType::debug:
            return "debug";
        case MessageType::lua:
            return "lua";
        case MessageType::snax:
            return "snax";
        case MessageType::trace:
            return "trace";
    }
    return "unknown";
}

Payload Payload::allocate(size_t size) {
    if (size == 0) return {};
    if (size > UINT32_MAX) throw std::bad_alloc();
    void* p = std::malloc(size);
    if (!p) throw std::bad_alloc();
    return adopt(p, uint32_t(size));
}

Payload Payload::copy(const void* data, size_t size) {
    Payload p = allocate(size);
    if (size) std::memcpy(p.data(), data, size);
    return p;
}

}  // namespace skyhive
