#pragma once

#include <cstdint>
#include <functional>

namespace skyhive {

// The address of a service: 8 high bits name the node (harbor), 24 low bits the service index
// within it. Value 0 is "no service" (the system, an external thread, or a dropped source).
// Value type: copyable, cheap, comparable.
struct Handle {
    static constexpr uint32_t kIndexBits = 24;
    static constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;

    uint32_t value = 0;

    constexpr Handle() = default;
    constexpr explicit Handle(uint32_t v) : value(v) {}
    static constexpr Handle make(uint8_t node, uint32_t index) {
        return Handle((uint32_t(node) << kIndexBits) | (index & kIndexMask));
    }

    constexpr uint8_t node() const { return uint8_t(value >> kIndexBits); }
    constexpr uint32_t index() const { return value & kIndexMask; }
    constexpr explicit operator bool() const { return value != 0; }
    friend constexpr bool operator==(Handle, Handle) = default;
};

}  // namespace skyhive

template <>
struct std::hash<skyhive::Handle> {
    size_t operator()(skyhive::Handle h) const noexcept { return h.value; }
};
