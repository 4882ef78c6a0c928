#pragma once

// Test helper: renders an encoded reply payload as compact text, so a test states a whole
// expected reply sequence in one string. `+OK`, `-ERR x`, `:5`, `$"a\x00b"`, `nil`, `[:1 $"x"]`;
// top-level replies are separated by ", ". Returns "<malformed>" on a bad payload.

#include <cstdio>
#include <string>
#include <string_view>

#include "redis/reply_codec.h"

namespace skyhive::redis::testing {

inline void render_string(std::string& out, std::string_view s) {
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += char(c);
        } else {
            char esc[5];
            std::snprintf(esc, sizeof esc, "\\x%02x", c);
            out += esc;
        }
    }
}

inline bool render_value(std::string& out, ReplyCursor& cur) {
    ReplyItem it;
    if (!cur.next(it)) return false;
    switch (it.tag) {
        case ReplyTag::status:
            out += '+';
            render_string(out, it.str);
            return true;
        case ReplyTag::error:
            out += '-';
            render_string(out, it.str);
            return true;
        case ReplyTag::integer:
            out += ':' + std::to_string(it.integer);
            return true;
        case ReplyTag::nil:
            out += "nil";
            return true;
        case ReplyTag::bulk:
            out += "$\"";
            render_string(out, it.str);
            out += '"';
            return true;
        case ReplyTag::array:
            out += '[';
            for (uint32_t i = 0; i < it.count; ++i) {
                if (i) out += ' ';
                if (!render_value(out, cur)) return false;
            }
            out += ']';
            return true;
    }
    return false;
}

inline std::string render(std::string_view payload) {
    ReplyCursor cur(payload);
    std::string out;
    while (!cur.at_end()) {
        if (!out.empty()) out += ", ";
        if (!render_value(out, cur)) return "<malformed>";
    }
    return out;
}

}  // namespace skyhive::redis::testing
