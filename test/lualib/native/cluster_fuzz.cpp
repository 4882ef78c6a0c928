// libFuzzer target for a link's receiving side: arbitrary bytes go through the "cluster" framer
// (cut where the input's first byte says) and each payload it delivers through Codec::feed with
// small limits, so parts, reassembly and every bound are reached; once more with the framer
// assembling split messages and the codec taking them whole. Neither may crash, read out of
// bounds or leak; a frame the framer accepted and the codec refused ends the run like a dropped
// link. The same bytes are then sent as a packed message: when request() takes them, its frames
// must feed back to exactly the data that followed the address.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lualib/native/cluster_codec.h"

namespace {

using namespace skyhive::cluster;

Limits fuzz_limits() {
    Limits l;
    l.max_frame = 1024;
    l.part = 64;
    l.max_message = 4096;
    l.max_pending = 8192;
    return l;
}

void free_items(std::vector<Item>& items) {
    for (auto& it : items)
        if (it.kind > kMaxControl) std::free(it.data);
    items.clear();
}

// With `assemble`, the framer puts split messages together and the codec takes them whole (the
// local frames' pointers must only ever be the framer's own).
void receive(const uint8_t* data, size_t size, bool assemble) {
    if (size == 0) return;
    const size_t step = 1 + data[0] % 97;
    Framer framer(1024);
    Limits limits = fuzz_limits();
    if (assemble) {
        framer.assemble(limits.max_message, limits.max_pending);
        limits.assembled = true;
    }
    Codec codec(limits);
    std::vector<Item> items;
    for (size_t at = 1; at < size; at += step) {
        const size_t n = std::min(step, size - at);
        if (!framer.feed(reinterpret_cast<const char*>(data) + at, n).ok()) break;
        uint32_t count = 0;
        skyhive::Payload p = framer.take(&count);
        const bool ok = codec.feed(p.data(), p.size(), items);
        free_items(items);
        if (!ok) break;
    }
}

void round_trip(const uint8_t* data, size_t size) {
    Codec codec(fuzz_limits());
    std::vector<skyhive::Payload> frames;
    if (!codec.request(1, false, reinterpret_cast<const char*>(data), size, frames)) return;
    std::string wire;
    for (const auto& f : frames)
        wire.append(f.view());
    std::vector<Item> items;
    if (!codec.feed(wire.data(), wire.size(), items) || items.size() != 1) std::abort();
    const Item& it = items[0];
    // The data is what followed the packed address: the tail of the input.
    if (it.size > size || std::memcmp(it.data ? it.data : "", data + size - it.size, it.size) != 0)
        std::abort();
    free_items(items);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    receive(data, size, false);
    receive(data, size, true);
    round_trip(data, size);
    return 0;
}
