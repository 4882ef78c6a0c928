#include "lualib/native/cluster_codec.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lualib/native/seri_wire.h"

namespace skyhive::cluster {

namespace {

uint32_t load_be32(const void* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

char* store_be32(char* p, uint32_t v) {
    v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
    return p + 4;
}

const char* direction(uint8_t kind) {
    return kind == kResponse ? "response" : "request";
}

uint64_t key_of(uint8_t kind, uint32_t session) {
    return (uint64_t(kind == kResponse) << 32) | session;
}

// The data pointer of an ASSEMBLED frame (body p of len bytes), or null when it has none.
char* assembled_data(const uint8_t* p, size_t len) {
    if (len < 1 + 10 + sizeof(char*)) return nullptr;
    char* data;
    std::memcpy(&data, p + len - sizeof(char*), sizeof(char*));
    return data;
}

// Frees the data of the ASSEMBLED frames among the whole frames at data (n bytes).
void free_assembled(const char* data, size_t n) {
    const auto* b = reinterpret_cast<const uint8_t*>(data);
    for (size_t at = 0; n - at >= 4;) {
        const uint32_t len = load_be32(b + at);
        if (len == 0 || len > n - at - 4) break;
        if (b[at + 4] == kAssembled) std::free(assembled_data(b + at + 4, len));
        at += 4 + size_t(len);
    }
}

}  // namespace

// ---- framer --------------------------------------------------------------------------------

Framer::~Framer() {
    // Frames completed but never taken (a stream error ended the socket) may hold assemblies.
    if (assemble_max_ && buf_) free_assembled(buf_, complete_);
    std::free(buf_);
    for (auto& [key, a] : assembling_)
        std::free(a.data);
}

void Framer::assemble(uint32_t max_message, uint64_t max_pending) {
    assemble_max_ = max_message;
    max_pending_ = max_pending;
}

bool Framer::reserve(size_t need) {
    if (need <= cap_) return true;
    // The first block of a batch is sized to the read, so a read of whole frames is handed over
    // as it is; a block that must grow doubles.
    size_t cap = buf_ ? std::max(need, cap_ * 2) : need;
    char* p = static_cast<char*>(std::realloc(buf_, cap));
    if (!p) return false;
    buf_ = p;
    cap_ = cap;
    return true;
}

Result<void> Framer::feed(const char* data, size_t n) {
    if (failed_) return Error{"cluster framer: fed after a stream error"};
    if (n == 0) return {};
    if (size_ + n > UINT32_MAX || !reserve(size_ + n))
        return Error{"cluster framer: out of memory, or 4 GiB of frames not taken"};
    std::memcpy(buf_ + size_, data, n);
    size_ += n;
    while (size_ - complete_ >= 4) {
        const uint32_t len = load_be32(buf_ + complete_);
        if (len == 0) {
            failed_ = true;
            return Error{"empty cluster frame"};
        }
        if (len > max_frame_) {
            failed_ = true;
            return Error{"cluster frame of " + std::to_string(len) +
                         " bytes: more than the maximum " + std::to_string(max_frame_)};
        }
        if (size_ - complete_ - 4 < len) {
            // Room for the rest of this frame now, so its remaining reads do not regrow.
            if (!reserve(complete_ + 4 + size_t(len)))
                return Error{"cluster framer: out of memory"};
            break;
        }
        if (assemble_max_ == 0) {
            complete_ += 4 + size_t(len);
            ++count_;
        } else if (Result<void> r = cut(len); !r) {
            failed_ = true;
            return r;
        }
    }
    return {};
}

// The whole frame at complete_ (body of len bytes) with assembly on: it stays, goes into an
// assembly (removed from the batch), or completes one (replaced by the ASSEMBLED frame).
Result<void> Framer::cut(size_t len) {
    Result<Taken> taken = take_part(reinterpret_cast<const uint8_t*>(buf_ + complete_ + 4), len);
    if (!taken) return taken.error();
    const size_t end = complete_ + 4 + len;
    if (*taken == Taken::no && router_ &&
        routed(reinterpret_cast<const uint8_t*>(buf_ + complete_ + 4), len))
        taken = Taken::absorbed;
    switch (*taken) {
        case Taken::no:
            complete_ = end;
            ++count_;
            break;
        case Taken::absorbed:
            std::memmove(buf_ + complete_, buf_ + end, size_ - end);
            size_ -= end - complete_;
            break;
        case Taken::completed: {
            const size_t grow = local_len_ > end - complete_ ? local_len_ - (end - complete_) : 0;
            if (grow && !reserve(size_ + grow)) return Error{"cluster framer: out of memory"};
            std::memmove(buf_ + complete_ + local_len_, buf_ + end, size_ - end);
            std::memcpy(buf_ + complete_, local_, local_len_);
            size_ = size_ - (end - complete_) + local_len_;
            complete_ += local_len_;
            ++count_;
            break;
        }
    }
    return {};
}

bool Framer::routed(const uint8_t* p, size_t len) {
    // RESPONSE: u32 session | u8 flags (ok, no parts) | u32 total == the data in this frame.
    if (len < 10 || p[0] != kResponse || p[5] != kFlagOk || load_be32(p + 6) != len - 10)
        return false;
    return router_->route(load_be32(p + 1), reinterpret_cast<const char*>(p + 10),
                          uint32_t(len - 10), uint32_t(4 + len));
}

Result<Framer::Taken> Framer::take_part(const uint8_t* p, size_t len) {
    const uint8_t kind = p[0];
    if (kind == kAssembled)
        return Error{"cluster frame of kind " + std::to_string(kind) + ": local only"};
    if (kind == kPart) {
        if (len < 6) return Taken::no;
        const uint32_t session = load_be32(p + 1);
        const uint8_t flags = p[5];
        if (flags & ~(kFlagMore | kFlagOfResponse)) return Taken::no;
        const uint8_t of = (flags & kFlagOfResponse) ? kResponse : kRequest;
        const uint64_t key = key_of(of, session);
        auto found = assembling_.find(key);
        if (found == assembling_.end()) return Taken::no;  // the codec's (or nobody's)
        Assembly& a = found->second;
        const size_t n = len - 6;
        char text[160];
        if (n > a.total - a.got) {
            std::snprintf(text, sizeof text,
                          "cluster %s session %u: parts exceed its total of %u bytes",
                          direction(of), session, a.total);
            return Error{text};
        }
        if (n) std::memcpy(a.data + a.got, p + 6, n);
        a.got += uint32_t(n);
        if (flags & kFlagMore) return Taken::absorbed;
        if (a.got != a.total) {
            std::snprintf(text, sizeof text,
                          "cluster %s session %u: its last part leaves it %u bytes short of %u",
                          direction(of), session, a.total - a.got, a.total);
            return Error{text};
        }
        // ASSEMBLED: u32 length | kind 31 | the first frame's head | the data pointer.
        const uint32_t body = uint32_t(1 + a.head_len + sizeof(char*));
        char* q = store_be32(local_, body);
        *q++ = char(kAssembled);
        std::memcpy(q, a.head, a.head_len);
        std::memcpy(q + a.head_len, &a.data, sizeof(char*));
        local_len_ = 4 + body;
        pending_bytes_ -= a.total;
        assembling_.erase(found);
        return Taken::completed;
    }
    if (kind != kRequest && kind != kResponse) return Taken::no;
    // A first frame: taken only when well formed, split and within the limits; anything else is
    // left to the codec, which names what is wrong.
    if (len < 10) return Taken::no;
    const uint8_t flags = p[5];
    if (!(flags & kFlagMore) || (flags & ~(kFlagMore | 1))) return Taken::no;
    const uint32_t session = load_be32(p + 1);
    const uint32_t total = load_be32(p + 6);
    size_t off = 10;
    if (kind == kRequest) {
        if (len < 12) return Taken::no;
        if (p[off] == 0) {
            off += 5;
        } else if (p[off] == 1 && p[off + 1] != 0) {
            off += 2 + size_t(p[off + 1]);
        } else {
            return Taken::no;
        }
        if (len < off) return Taken::no;
    }
    const size_t part = len - off;
    if (total == 0 || total > assemble_max_ || part > total ||
        pending_bytes_ + total > max_pending_)
        return Taken::no;
    const uint64_t key = key_of(kind, session);
    if (assembling_.count(key))
        return Error{std::string("cluster ") + direction(kind) + " session " +
                     std::to_string(session) +
                     ": a new message while the previous one is incomplete"};
    char* data = static_cast<char*>(std::malloc(total));
    if (!data)
        return Error{"cluster framer: out of memory for a message of " + std::to_string(total) +
                     " bytes"};
    Assembly& a = assembling_[key];
    a.data = data;
    a.total = total;
    a.got = uint32_t(part);
    a.head_len = uint32_t(off);
    std::memcpy(a.head, p, off);
    a.head[5] = char(flags & ~kFlagMore);
    if (part) std::memcpy(data, p + off, part);
    pending_bytes_ += total;
    return Taken::absorbed;
}

Payload Framer::take(uint32_t* count) {
    *count = count_;
    if (count_ == 0) return {};
    Payload out;
    if (complete_ == size_) {
        out = Payload::adopt(buf_, uint32_t(size_));
        buf_ = nullptr;
        size_ = cap_ = 0;
    } else {
        // Move the incomplete frame to a block of its own (sized for the whole frame once its
        // length is known) and hand over the rest.
        const size_t tail = size_ - complete_;
        size_t cap = tail;
        if (tail >= 4) cap = std::max(cap, 4 + size_t(load_be32(buf_ + complete_)));
        char* next = static_cast<char*>(std::malloc(cap));
        if (!next) {
            std::fprintf(stderr, "cluster framer: out of memory for a %zu byte frame\n", cap);
            std::abort();
        }
        std::memcpy(next, buf_ + complete_, tail);
        out = Payload::adopt(buf_, uint32_t(complete_));
        buf_ = next;
        size_ = tail;
        cap_ = cap;
    }
    complete_ = 0;
    count_ = 0;
    return out;
}

// ---- packing -------------------------------------------------------------------------------

size_t pack_integer(int64_t v, char* out) {
    using namespace seri_wire;
    if (v >= 0 && v <= 0x7f) {
        out[0] = char(v);
        return 1;
    }
    if (v >= -32 && v < 0) {
        out[0] = char(uint8_t(kNegFixInt + (v + 32)));
        return 1;
    }
    if (v >= INT8_MIN && v <= INT8_MAX) {
        out[0] = char(kInt8);
        return 1 + store(out + 1, uint8_t(v));
    }
    if (v >= INT16_MIN && v <= INT16_MAX) {
        out[0] = char(kInt16);
        return 1 + store(out + 1, uint16_t(v));
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        out[0] = char(kInt32);
        return 1 + store(out + 1, uint32_t(v));
    }
    out[0] = char(kInt64);
    return 1 + store(out + 1, uint64_t(v));
}

size_t pack_string(const char* s, size_t len, char* out) {
    using namespace seri_wire;
    size_t n;
    if (len <= kFixStrMax) {
        out[0] = char(kFixStr | len);
        n = 1;
    } else if (len <= UINT8_MAX) {
        out[0] = char(kStr8);
        n = 1 + store(out + 1, uint8_t(len));
    } else if (len <= UINT16_MAX) {
        out[0] = char(kStr16);
        n = 1 + store(out + 1, uint16_t(len));
    } else {
        out[0] = char(kStr32);
        n = 1 + store(out + 1, uint32_t(len));
    }
    if (len) std::memcpy(out + n, s, len);
    return n + len;
}

// ---- codec ---------------------------------------------------------------------------------

Codec::~Codec() {
    reset();
}

std::string Codec::check(const Limits& l) {
    if (l.max_frame < kMaxHeader + 1)
        return "max_frame must be at least " + std::to_string(kMaxHeader + 1);
    if (l.part < 1 || l.part > l.max_frame - kMaxHeader)
        return "part must be from 1 to max_frame - " + std::to_string(kMaxHeader) + " (" +
               std::to_string(l.max_frame - kMaxHeader) + ")";
    if (l.max_message < 1) return "max_message must be at least 1";
    if (l.max_pending < l.max_message) return "max_pending must be at least max_message";
    return {};
}

void Codec::reset() {
    for (auto& [key, part] : partial_)
        std::free(part.item.data);
    partial_.clear();
    pending_bytes_ = 0;
}

bool Codec::fail(const char* fmt, ...) {
    char text[320];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    error_ = text;
    return false;
}

bool Codec::encode(uint8_t kind, uint32_t session, uint8_t flags, const char* addr, size_t addr_len,
                   const char* data, size_t size, std::vector<Payload>& frames) {
    const size_t first = std::min<size_t>(size, limits_.part);
    if (first < size) flags |= kFlagMore;
    const size_t body = 1 + 4 + 1 + 4 + addr_len + first;
    Payload f = Payload::allocate(4 + body);
    char* p = store_be32(f.data(), uint32_t(body));
    *p++ = char(kind);
    p = store_be32(p, session);
    *p++ = char(flags);
    p = store_be32(p, uint32_t(size));
    if (addr_len) std::memcpy(p, addr, addr_len);
    if (first) std::memcpy(p + addr_len, data, first);
    frames.push_back(std::move(f));
    const char of = kind == kResponse ? char(kFlagOfResponse) : 0;
    for (size_t off = first; off < size;) {
        const size_t n = std::min<size_t>(size - off, limits_.part);
        const size_t pbody = 1 + 4 + 1 + n;
        Payload part = Payload::allocate(4 + pbody);
        char* q = store_be32(part.data(), uint32_t(pbody));
        *q++ = char(kPart);
        q = store_be32(q, session);
        off += n;
        *q++ = char(of | (off < size ? kFlagMore : 0));
        std::memcpy(q, data + off - n, n);
        frames.push_back(std::move(part));
    }
    return true;
}

bool Codec::request(uint32_t session, bool push, const char* msg, size_t sz,
                    std::vector<Payload>& frames) {
    using namespace seri_wire;
    if (sz > limits_.max_message)
        return fail("message of %zu bytes is larger than cluster_max_message (%u)", sz,
                    limits_.max_message);
    if (sz == 0) return fail("cluster request: no address (the message is empty)");
    const auto* m = reinterpret_cast<const uint8_t*>(msg);
    const uint8_t tag = m[0];
    int64_t handle = 0;
    size_t head = 1;  // bytes of the packed address
    const char* name = nullptr;
    size_t name_len = 0;
    auto need = [&](size_t n) { return sz >= n; };
    if (tag <= 0x7f) {
        handle = tag;
    } else if (tag >= kNegFixInt) {
        handle = int64_t(tag) - 256;
    } else if (tag >= kInt8 && tag <= kInt64) {
        const size_t w = size_t(1) << (tag - kInt8);
        if (!need(1 + w)) return fail("cluster request: truncated address integer");
        if (w == 1) handle = int8_t(load<uint8_t>(m + 1));
        if (w == 2) handle = int16_t(load<uint16_t>(m + 1));
        if (w == 4) handle = int32_t(load<uint32_t>(m + 1));
        if (w == 8) handle = int64_t(load<uint64_t>(m + 1));
        head = 1 + w;
    } else if ((tag & 0xe0) == kFixStr || (tag >= kStr8 && tag <= kStr32)) {
        size_t w = 0;
        if ((tag & 0xe0) == kFixStr) {
            name_len = tag & 0x1f;
        } else {
            w = size_t(1) << (tag - kStr8);
            if (!need(1 + w)) return fail("cluster request: truncated address string");
            name_len = w == 1   ? load<uint8_t>(m + 1)
                       : w == 2 ? load<uint16_t>(m + 1)
                                : load<uint32_t>(m + 1);
        }
        head = 1 + w + name_len;
        if (!need(head)) return fail("cluster request: truncated address string");
        name = msg + 1 + w;
        if (name_len < 1 || name_len > 255)
            return fail("cluster request: address name of %zu bytes (1 to 255 expected)", name_len);
    } else {
        const char* type = tag == kNil                                         ? "nil"
                           : tag == kFalse || tag == kTrue                     ? "boolean"
                           : tag == kFloat                                     ? "float"
                           : tag == kPointer                                   ? "light userdata"
                           : (tag >= kFixArray && tag < kNil) || tag == kTable ? "table"
                                                                               : "malformed value";
        return fail("cluster request: the address is a %s (a handle or a service name expected)",
                    type);
    }
    char addr[2 + 255];
    size_t addr_len;
    if (name) {
        addr[0] = 1;
        addr[1] = char(name_len);
        std::memcpy(addr + 2, name, name_len);
        addr_len = 2 + name_len;
    } else {
        if (handle < 1 || handle > int64_t(UINT32_MAX))
            return fail("cluster request: address handle %lld is out of range", (long long)handle);
        addr[0] = 0;
        store_be32(addr + 1, uint32_t(handle));
        addr_len = 5;
    }
    return encode(kRequest, session, push ? kFlagPush : 0, addr, addr_len, msg + head, sz - head,
                  frames);
}

bool Codec::response(uint32_t session, bool ok, const char* msg, size_t sz,
                     std::vector<Payload>& frames) {
    if (sz > limits_.max_message)
        return fail("message of %zu bytes is larger than cluster_max_message (%u)", sz,
                    limits_.max_message);
    return encode(kResponse, session, ok ? kFlagOk : 0, nullptr, 0, msg, sz, frames);
}

bool Codec::add_data(Partial& part, const uint8_t* p, size_t len, bool more, std::vector<Item>& out,
                     uint64_t key) {
    const Item& it = part.item;
    if (len > part.total - part.got)
        return fail("cluster %s session %u: parts exceed its total of %u bytes", direction(it.kind),
                    it.session, part.total);
    if (len) std::memcpy(part.item.data + part.got, p, len);
    part.got += uint32_t(len);
    if (more) return true;
    if (part.got != part.total)
        return fail("cluster %s session %u: its last part leaves it %u bytes short of %u",
                    direction(it.kind), it.session, part.total - part.got, part.total);
    pending_bytes_ -= part.total;
    out.push_back(std::move(part.item));
    partial_.erase(key);
    return true;
}

// `p` is the body (p[0] the kind), `len` its size, `at` the frame's offset in the fed bytes.
bool Codec::first_frame(uint8_t kind, const uint8_t* p, size_t len, size_t at,
                        std::vector<Item>& out) {
    const char* what = direction(kind);
    const size_t fixed = 1 + 4 + 1 + 4;
    if (len < fixed + (kind == kRequest ? 2 : 0))
        return fail("cluster %s frame at byte %zu: truncated (%zu bytes)", what, at, len);
    Item it;
    it.kind = kind;
    it.session = load_be32(p + 1);
    const uint8_t flags = p[5];
    const uint32_t total = load_be32(p + 6);
    if (flags & ~(kFlagMore | 1))
        return fail("cluster %s session %u: unknown flags 0x%02x", what, it.session, flags);
    it.flags = flags & ~kFlagMore;
    size_t off = fixed;
    if (kind == kRequest) {
        if (p[off] == 0) {
            if (len < off + 5)
                return fail("cluster request session %u: truncated address", it.session);
            it.handle = load_be32(p + off + 1);
            off += 5;
        } else if (p[off] == 1) {
            const size_t n = p[off + 1];
            if (n == 0 || len < off + 2 + n)
                return fail("cluster request session %u: truncated address name", it.session);
            it.by_name = true;
            it.name.assign(reinterpret_cast<const char*>(p + off + 2), n);
            off += 2 + n;
        } else {
            return fail("cluster request session %u: unknown address type %u", it.session,
                        unsigned(p[off]));
        }
    }
    if (total > limits_.max_message)
        return fail(
            "cluster %s session %u: message of %u bytes is larger than "
            "cluster_max_message (%u)",
            what, it.session, total, limits_.max_message);
    const uint64_t key = key_of(kind, it.session);
    if (partial_.count(key))
        return fail("cluster %s session %u: a new message while the previous one is incomplete",
                    what, it.session);
    const bool more = flags & kFlagMore;
    const size_t part = len - off;
    if (part > total)
        return fail("cluster %s session %u: parts exceed its total of %u bytes", what, it.session,
                    total);
    if (more && pending_bytes_ + total > limits_.max_pending)
        return fail("cluster %s session %u: incomplete messages of more than %llu bytes", what,
                    it.session, (unsigned long long)limits_.max_pending);
    if (!more && part != total)
        return fail("cluster %s session %u: its last part leaves it %u bytes short of %u", what,
                    it.session, uint32_t(total - part), total);
    if (total) {
        it.data = static_cast<char*>(std::malloc(total));
        if (!it.data) return fail("cluster %s session %u: out of memory", what, it.session);
    }
    it.size = total;
    if (!more) {
        if (part) std::memcpy(it.data, p + off, part);
        out.push_back(std::move(it));
        return true;
    }
    Partial& slot = partial_[key];
    slot.item = std::move(it);
    slot.total = total;
    pending_bytes_ += total;
    return add_data(slot, p + off, part, true, out, key);
}

bool Codec::part_frame(const uint8_t* p, size_t len, size_t at, std::vector<Item>& out) {
    if (len < 6) return fail("cluster part frame at byte %zu: truncated (%zu bytes)", at, len);
    const uint32_t session = load_be32(p + 1);
    const uint8_t flags = p[5];
    if (flags & ~(kFlagMore | kFlagOfResponse))
        return fail("cluster part of session %u: unknown flags 0x%02x", session, flags);
    const uint8_t kind = (flags & kFlagOfResponse) ? kResponse : kRequest;
    const uint64_t key = key_of(kind, session);
    auto found = partial_.find(key);
    if (found == partial_.end())
        return fail("cluster part of %s session %u: no first frame", direction(kind), session);
    return add_data(found->second, p + 6, len - 6, flags & kFlagMore, out, key);
}

// An ASSEMBLED frame (p[0] == kAssembled): the header of a first frame, then the data pointer.
// Its data is freed on every error.
bool Codec::assembled_frame(const uint8_t* p, size_t len, size_t at, std::vector<Item>& out) {
    char* data = assembled_data(p, len);
    if (!data) return fail("cluster assembled frame at byte %zu: truncated (%zu bytes)", at, len);
    const uint8_t kind = p[1];
    const size_t head = len - 1 - sizeof(char*);
    Item it;
    it.kind = kind;
    it.session = load_be32(p + 2);
    it.flags = p[6];
    const uint32_t total = load_be32(p + 7);
    bool ok = (kind == kRequest || kind == kResponse) && !(it.flags & ~1);
    if (ok && kind == kRequest) {
        const uint8_t* a = p + 11;
        if (head == 10 + 5 && a[0] == 0) {
            it.handle = load_be32(a + 1);
        } else if (head >= 12 && a[0] == 1 && head == 12 + size_t(a[1]) && a[1] != 0) {
            it.by_name = true;
            it.name.assign(reinterpret_cast<const char*>(a + 2), a[1]);
        } else {
            ok = false;
        }
    } else if (ok) {
        ok = head == 10;
    }
    if (!ok) {
        std::free(data);
        return fail("cluster assembled frame at byte %zu: malformed", at);
    }
    if (total > limits_.max_message) {
        std::free(data);
        return fail(
            "cluster %s session %u: message of %u bytes is larger than "
            "cluster_max_message (%u)",
            direction(kind), it.session, total, limits_.max_message);
    }
    if (partial_.count(key_of(kind, it.session))) {
        std::free(data);
        return fail("cluster %s session %u: a new message while the previous one is incomplete",
                    direction(kind), it.session);
    }
    it.data = data;
    it.size = total;
    out.push_back(std::move(it));
    return true;
}

void Codec::discard(const char* data, size_t n) {
    if (limits_.assembled) free_assembled(data, n);
}

bool Codec::feed(const char* data, size_t n, std::vector<Item>& out) {
    const size_t start = out.size();
    const auto* b = reinterpret_cast<const uint8_t*>(data);
    size_t at = 0;
    bool ok = true;
    while (ok && at < n) {
        if (n - at < 4) {
            ok = fail("cluster frames: truncated length at byte %zu", at);
            break;
        }
        const uint32_t len = load_be32(b + at);
        if (len == 0 || len > n - at - 4) {
            ok = fail("cluster frames: frame of %u bytes at byte %zu does not fit", len, at);
            break;
        }
        const uint8_t* body = b + at + 4;
        const uint8_t kind = body[0];
        if (kind >= 1 && kind <= kMaxControl) {
            Item it;
            it.kind = kind;
            it.data = const_cast<char*>(reinterpret_cast<const char*>(body + 1));
            it.size = len - 1;
            out.push_back(std::move(it));
        } else if (kind == kRequest || kind == kResponse) {
            ok = first_frame(kind, body, len, at, out);
        } else if (kind == kPart) {
            ok = part_frame(body, len, at, out);
        } else if (kind == kAssembled && limits_.assembled) {
            ok = assembled_frame(body, len, at, out);
        } else {
            ok = fail("cluster frame at byte %zu: unknown kind %u", at, unsigned(kind));
        }
        at += 4 + size_t(len);
    }
    if (ok) return true;
    // The frames after the bad one are not fed: the data of those assembled is freed here.
    if (at < n) discard(data + at, n - at);
    for (size_t i = start; i < out.size(); ++i)
        if (out[i].kind > kMaxControl) std::free(out[i].data);
    out.resize(start);
    return false;
}

}  // namespace skyhive::cluster
