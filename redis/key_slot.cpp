#include "redis/key_slot.h"

#include <array>

namespace skyhive::redis {

namespace {

// One table entry per high byte of the running CRC, computed at compile time.
constexpr std::array<uint16_t, 256> make_table() {
    std::array<uint16_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) {
        unsigned crc = i << 8;
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
        }
        t[i] = uint16_t(crc);
    }
    return t;
}

constexpr std::array<uint16_t, 256> kTable = make_table();

}  // namespace

uint16_t crc16_xmodem(std::string_view bytes) {
    uint16_t crc = 0;
    for (unsigned char c : bytes) {
        crc = uint16_t((crc << 8) ^ kTable[((crc >> 8) ^ c) & 0xff]);
    }
    return crc;
}

uint16_t key_slot(std::string_view key) {
    size_t open = key.find('{');
    if (open != std::string_view::npos) {
        size_t close = key.find('}', open + 1);
        // "{}" (an empty tag) and an unclosed '{' hash the whole key.
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return crc16_xmodem(key) & (kClusterSlots - 1);
}

}  // namespace skyhive::redis
