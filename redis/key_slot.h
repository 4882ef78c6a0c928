#pragma once

#include <cstdint>
#include <string_view>

namespace skyhive::redis {

// Redis Cluster's key space is cut into this many hash slots.
inline constexpr uint16_t kClusterSlots = 16384;

// CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection): the checksum Redis Cluster
// hashes keys with. crc16("123456789") == 0x31C3.
uint16_t crc16_xmodem(std::string_view bytes);

// The cluster slot of a key, 0..16383: the CRC16 of the key, or of what lies between its first
// '{' and the first '}' after it when that is not empty (a hash tag), modulo 16384.
// Thread: any (a pure function).
uint16_t key_slot(std::string_view key);

}  // namespace skyhive::redis
