#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.h"

namespace skyhive {

// How a gate cuts a connection's byte stream into packets.
enum class PacketMode : uint8_t {
    // skynet's netpack: a 2-byte big-endian length, then that many bytes (so at most 65535).
    header2,
    // One packet per line: the bytes up to a line end (LF, CR LF, CR alone or CR NUL), without it.
    lines,
};

// The packets of one connection, cut as the bytes arrive: keeps the incomplete tail between
// reads (only the tail is copied; whole packets are handed out straight from the read buffer).
// Value type. Thread: one at a time (the gate runs it on the socket thread).
class PacketCutter {
  public:
    // max_packet: the largest packet accepted, in bytes (header2 cannot exceed 65535; lines:
    // the longest line, without its end).
    // skip_long (lines only): a line over max_packet is not an error; its first max_packet + 1
    // bytes are handed out as its packet (so the receiver can tell it was too long, and answer
    // it at once) and the rest of it is dropped up to its end.
    PacketCutter(PacketMode mode, size_t max_packet, bool skip_long = false);

    // Feeds `n` bytes and calls on_packet(std::string_view) for every packet completed, in order;
    // the view is valid during the call only. Error when the stream breaks the bounds ("packet
    // of N bytes exceeds the limit of M", "line longer than M bytes"); the cutter is then
    // unusable and the connection should be closed.
    template <class F>
    Result<void> feed(const char* data, size_t n, F&& on_packet);

    // Bytes held back (an incomplete packet).
    size_t pending() const { return tail_.size(); }

    // The incomplete packet, taken out: in lines mode, the last line of a stream that ended
    // without a line end.
    std::string take_pending() { return std::exchange(tail_, {}); }

  private:
    Result<void> too_long(size_t size) const;

    PacketMode mode_;
    size_t max_;
    std::string tail_;
    bool skip_long_ = false;
    bool after_cr_ = false;  // lines: the last line ended with CR
    bool skipping_ = false;  // lines, skip_long: dropping the rest of an over-long line
};

template <class F>
Result<void> PacketCutter::feed(const char* data, size_t n, F&& on_packet) {
    std::string_view in(data, n);
    if (mode_ == PacketMode::header2) {
        if (!tail_.empty()) {  // finish the packet begun in an earlier read
            if (tail_.size() < 2) {
                size_t take = std::min(in.size(), 2 - tail_.size());
                tail_.append(in.data(), take);
                in.remove_prefix(take);
                if (tail_.size() < 2) return {};
            }
            size_t len = (uint8_t(tail_[0]) << 8) | uint8_t(tail_[1]);
            if (len > max_) return too_long(len);
            size_t take = std::min(in.size(), 2 + len - tail_.size());
            tail_.append(in.data(), take);
            in.remove_prefix(take);
            if (tail_.size() < 2 + len) return {};
            on_packet(std::string_view(tail_).substr(2));
            tail_.clear();
        }
        while (in.size() >= 2) {
            size_t len = (uint8_t(in[0]) << 8) | uint8_t(in[1]);
            if (len > max_) return too_long(len);
            if (in.size() < 2 + len) break;
            on_packet(in.substr(2, len));
            in.remove_prefix(2 + len);
        }
        tail_.append(in.data(), in.size());
        return {};
    }
    // lines: LF, CR LF, CR alone and CR NUL each end a line (a telnet client in line mode sends
    // CR NUL or CR LF, some terminals CR alone).
    while (!in.empty()) {
        if (after_cr_) {  // a LF or NUL right after a CR belongs to it, even a read later
            after_cr_ = false;
            if (in[0] == '\n' || in[0] == '\0') {
                in.remove_prefix(1);
                continue;
            }
        }
        size_t end = in.find_first_of("\r\n");
        if (skipping_) {
            if (end == std::string_view::npos) return {};
            skipping_ = false;
            after_cr_ = in[end] == '\r';
            in.remove_prefix(end + 1);
            continue;
        }
        if (end == std::string_view::npos) {
            if (tail_.size() + in.size() > max_) {
                if (!skip_long_) return too_long(tail_.size() + in.size());
                tail_.append(in.data(), max_ + 1 - tail_.size());
                on_packet(std::string_view(tail_));
                tail_.clear();
                skipping_ = true;
                return {};
            }
            tail_.append(in.data(), in.size());
            return {};
        }
        after_cr_ = in[end] == '\r';
        std::string_view line = in.substr(0, end);
        in.remove_prefix(end + 1);
        if (!tail_.empty()) {
            tail_.append(line.data(), line.size());
            line = tail_;
        }
        if (line.size() > max_) {
            if (!skip_long_) return too_long(line.size());
            line = line.substr(0, max_ + 1);
        }
        on_packet(line);
        tail_.clear();
    }
    return {};
}

}  // namespace skyhive
