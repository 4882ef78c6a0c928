#include "services/gate/lua_args.h"

#include <cassert>
#include <cmath>
#include <cstring>

namespace skyhive {

namespace {

// Tags of lualib/native/seri.h's format (the subset read here).
constexpr uint8_t kFixStr = 0x80, kFixArray = 0xa0, kFixHash = 0xb0, kNil = 0xc0, kFalse = 0xc1,
                  kTrue = 0xc2, kInt8 = 0xc3, kInt16 = 0xc4, kInt32 = 0xc5, kInt64 = 0xc6,
                  kFloat = 0xc7, kStr8 = 0xc9, kStr16 = 0xca, kStr32 = 0xcb, kTable = 0xcc,
                  kNegFixInt = 0xe0;

class Reader {
  public:
    explicit Reader(std::string_view b) : b_(b) {}
    bool done() const { return pos_ == b_.size(); }

    Result<LuaArg> arg() {
        if (done()) return fail("missing value");
        uint8_t tag = uint8_t(b_[pos_]);
        if ((tag >= kFixArray && tag < kFixHash + 16) || tag == kTable) {
            ++pos_;
            uint64_t narray = 0, nhash = 0;
            if (tag == kTable) {
                auto a = varint();
                if (!a) return a.error();
                auto h = varint();
                if (!h) return h.error();
                narray = *a;
                nhash = *h;
            } else if (tag < kFixHash) {
                narray = tag & 0xf;
            } else {
                nhash = tag & 0xf;
            }
            if (narray > 0) return fail("array part in a table (only string keys are read)");
            LuaArg t;
            t.is_table = true;
            for (uint64_t i = 0; i < nhash; ++i) {
                auto k = value();
                if (!k) return k.error();
                if (!k->string()) return fail("table key that is not a string");
                auto v = value();
                if (!v) return v.error();
                t.fields[*k->string()] = std::move(*v);
            }
            return t;
        }
        auto v = value();
        if (!v) return v.error();
        return LuaArg{std::move(*v), false, {}};
    }

  private:
    Error error_at(const char* what) const {
        return Error{std::string("unpack: ") + what + " at byte " + std::to_string(pos_)};
    }
    Error fail(const char* what) const { return error_at(what); }

    template <class U>
    Result<U> fixed() {
        if (b_.size() - pos_ < sizeof(U)) return fail("truncated number");
        U u = 0;
        for (size_t i = 0; i < sizeof(U); ++i)
            u |= U(uint8_t(b_[pos_ + i])) << (8 * i);
        pos_ += sizeof(U);
        return u;
    }

    Result<uint64_t> varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (done()) return fail("truncated count");
            uint8_t c = uint8_t(b_[pos_++]);
            v |= uint64_t(c & 0x7f) << shift;
            if (!(c & 0x80)) return v;
        }
        return fail("count too long");
    }

    Result<LuaValue> str(uint64_t len) {
        if (b_.size() - pos_ < len) return fail("truncated string");
        LuaValue v{std::string(b_.substr(pos_, len))};
        pos_ += len;
        return v;
    }

    Result<LuaValue> value() {
        if (done()) return fail("missing value");
        uint8_t tag = uint8_t(b_[pos_++]);
        if (tag < 0x80) return LuaValue{int64_t(tag)};
        if (tag >= kNegFixInt) return LuaValue{int64_t(tag) - 256};
        if (tag >= kFixStr && tag < kFixArray) return str(tag & 0x1f);
        switch (tag) {
            case kNil:
                return LuaValue{};
            case kFalse:
                return LuaValue{false};
            case kTrue:
                return LuaValue{true};
            case kInt8: {
                auto u = fixed<uint8_t>();
                if (!u) return u.error();
                return LuaValue{int64_t(int8_t(*u))};
            }
            case kInt16: {
                auto u = fixed<uint16_t>();
                if (!u) return u.error();
                return LuaValue{int64_t(int16_t(*u))};
            }
            case kInt32: {
                auto u = fixed<uint32_t>();
                if (!u) return u.error();
                return LuaValue{int64_t(int32_t(*u))};
            }
            case kInt64: {
                auto u = fixed<uint64_t>();
                if (!u) return u.error();
                return LuaValue{int64_t(*u)};
            }
            case kFloat: {
                auto u = fixed<uint64_t>();
                if (!u) return u.error();
                double d;
                std::memcpy(&d, &*u, sizeof d);
                if (!(std::fabs(d) < 9.2e18) || d != std::floor(d)) {
                    pos_ -= 9;
                    return fail("float without an integer value");
                }
                return LuaValue{int64_t(d)};
            }
            case kStr8:
            case kStr16:
            case kStr32: {
                uint64_t n = 0;
                if (tag == kStr8) {
                    auto u = fixed<uint8_t>();
                    if (!u) return u.error();
                    n = *u;
                } else if (tag == kStr16) {
                    auto u = fixed<uint16_t>();
                    if (!u) return u.error();
                    n = *u;
                } else {
                    auto u = fixed<uint32_t>();
                    if (!u) return u.error();
                    n = *u;
                }
                return str(n);
            }
            default:
                --pos_;
                return fail("value of a type the gate does not take");
        }
    }

    std::string_view b_;
    size_t pos_ = 0;
};

}  // namespace

Result<std::vector<LuaArg>> unpack_lua_args(std::string_view bytes) {
    Reader r(bytes);
    std::vector<LuaArg> args;
    while (!r.done()) {
        auto a = r.arg();
        if (!a) return a.error();
        args.push_back(std::move(*a));
    }
    return args;
}

LuaPacker& LuaPacker::nil() {
    out_.push_back(char(kNil));
    return *this;
}

LuaPacker& LuaPacker::integer(int64_t i) {
    if (i >= 0 && i < 0x80) {
        out_.push_back(char(i));
        return *this;
    }
    out_.push_back(char(kInt64));
    uint64_t u = uint64_t(i);
    for (int k = 0; k < 8; ++k)
        out_.push_back(char(u >> (8 * k)));
    return *this;
}

LuaPacker& LuaPacker::string(std::string_view s) {
    if (s.size() <= 0x1f) {
        out_.push_back(char(kFixStr | s.size()));
    } else {
        out_.push_back(char(kStr32));
        uint32_t n = uint32_t(s.size());
        for (int k = 0; k < 4; ++k)
            out_.push_back(char(n >> (8 * k)));
    }
    out_.append(s);
    return *this;
}

LuaPacker& LuaPacker::boolean(bool b) {
    out_.push_back(char(b ? kTrue : kFalse));
    return *this;
}

LuaPacker& LuaPacker::hash(size_t pairs) {
    assert(pairs <= 0xf && "LuaPacker::hash: at most 15 pairs");
    out_.push_back(char(kFixHash | pairs));
    return *this;
}

Payload LuaPacker::take() {
    Payload p = Payload::copy(out_);
    out_.clear();
    return p;
}

}  // namespace skyhive
