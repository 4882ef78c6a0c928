// Writes a few valid link streams into a directory (created if missing), as the seed corpus of
// cluster_fuzz: byte 0 picks the read size, the rest are frames a peer could send.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_seed.h"
#include "lualib/native/cluster_codec.h"

namespace {

using namespace skyhive::cluster;

std::string packed_name(const std::string& name, const std::string& data) {
    std::string out(name.size() + 5, '\0');
    out.resize(pack_string(name.data(), name.size(), out.data()));
    return out + data;
}

std::string packed_handle(int64_t h, const std::string& data) {
    std::string out(9, '\0');
    out.resize(pack_integer(h, out.data()));
    return out + data;
}

}  // namespace

int main(int argc, char** argv) {
    if (!skyhive::fuzz::seed_args_ok(argc, argv)) return 2;
    Limits l;
    l.max_frame = 1024;
    l.part = 64;
    l.max_message = 4096;
    l.max_pending = 8192;
    Codec codec(l);
    std::vector<std::string> seeds;
    auto add = [&](char step, const std::vector<std::string>& msgs, bool response) {
        std::vector<skyhive::Payload> frames;
        uint32_t session = 1;
        for (const auto& m : msgs) {
            bool ok = response
                          ? codec.response(session, true, m.data(), m.size(), frames)
                          : codec.request(session, session % 2 == 0, m.data(), m.size(), frames);
            if (!ok) {
                std::fprintf(stderr, "seed: %s\n", codec.error().c_str());
                std::exit(1);
            }
            ++session;
        }
        std::string s(1, step);
        for (const auto& f : frames)
            s.append(f.view());
        seeds.push_back(s);
    };
    add(0, {packed_name(".world", "hello")}, false);
    add(5, {packed_handle(70000, std::string(300, 'x')), packed_name("@n", "y")}, false);
    add(96, {std::string(200, 'r'), "", "short"}, true);
    seeds.push_back(std::string(1, 3) + std::string("\0\0\0\6\1hello", 10));
    // Parts of two messages interleaved.
    {
        std::vector<skyhive::Payload> a, b;
        const std::string ma = packed_name(".a", std::string(150, 'a'));
        const std::string mb = packed_handle(9, std::string(150, 'b'));
        if (!codec.request(11, false, ma.data(), ma.size(), a) ||
            !codec.request(12, false, mb.data(), mb.size(), b))
            return 1;
        std::string s(1, 7);
        for (size_t i = 0; i < a.size(); ++i) {
            s.append(a[i].view());
            if (i < b.size()) s.append(b[i].view());
        }
        seeds.push_back(s);
    }
    return skyhive::fuzz::write_seeds(argv[1], seeds);
}
