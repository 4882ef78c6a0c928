#include "services/gate/packet_cutter.h"

namespace skyhive {

PacketCutter::PacketCutter(PacketMode mode, size_t max_packet, bool skip_long)
    : mode_(mode), max_(max_packet), skip_long_(skip_long && mode == PacketMode::lines) {
    if (mode_ == PacketMode::header2 && max_ > 0xffff) max_ = 0xffff;
}

Result<void> PacketCutter::too_long(size_t size) const {
    if (mode_ == PacketMode::lines)
        return Error{"line longer than " + std::to_string(max_) + " bytes"};
    return Error{"packet of " + std::to_string(size) + " bytes exceeds the limit of " +
                 std::to_string(max_)};
}

}  // namespace skyhive
