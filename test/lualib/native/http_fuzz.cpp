// libFuzzer target: http::Reader (lualib/native/http_reader.h) reading whatever a client or a
// server might send. Byte 0 picks the kind (bit 0: response) and the read size (the rest, 1 to
// 128 bytes a feed); the rest is the stream. Checked: nothing crashes or leaks, every message
// keeps its limits, a failure carries 400, 413 or 431 and a text, and a failed reader stays
// failed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lualib/native/http_reader.h"

using skyhive::http::Kind;
using skyhive::http::Limits;
using skyhive::http::Reader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const Kind kind = (data[0] & 1) ? Kind::response : Kind::request;
    const size_t step = size_t(data[0] >> 1) + 1;
    std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    Limits limits{512, 1024};
    Reader r(kind, limits);
    bool failed = false;
    for (size_t i = 0; i <= stream.size(); i += step) {
        if (i < stream.size())
            r.feed(stream.substr(i, step));
        else
            r.feed_eof();
        for (;;) {
            auto s = r.next();
            if (s == Reader::Status::message) {
                if (failed || r.message().body.size() > limits.max_body) std::abort();
                continue;
            }
            if (s == Reader::Status::failed) {
                int st = r.failure().status;
                if ((st != 400 && st != 413 && st != 431) || r.failure().text.empty()) std::abort();
                failed = true;
            } else if (failed) {
                std::abort();
            }
            break;
        }
    }
    return 0;
}
