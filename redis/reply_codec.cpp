#include "redis/reply_codec.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <vector>

#include "redis/grow_buffer.h"

namespace skyhive::redis {

bool ReplyWriter::reserve(size_t extra) {
    const bool fresh = data_ == nullptr;
    const size_t used = fresh ? head_ : size_;
    if (extra > UINT32_MAX - used) return false;
    // Doubling keeps appends amortised O(1); a huge bulk gets exactly what it needs. A fresh
    // buffer starts at the size of the last one handed over: the next read usually brings as much,
    // and regrowing from nothing after every take cost the framer a quarter of its time.
    if (!grow_buffer(data_, cap_, used + extra, std::max<size_t>(256, next_cap_))) return false;
    if (fresh) {
        if (head_) std::memset(data_, 0, head_);
        size_ = head_;
    }
    return true;
}

bool ReplyWriter::put_string(ReplyTag tag, const char* s, size_t len) {
    assert(tag == ReplyTag::status || tag == ReplyTag::error || tag == ReplyTag::bulk);
    if (len > UINT32_MAX || !reserve(1 + 4 + len)) return false;
    char* p = data_ + size_;
    uint32_t n = uint32_t(len);
    p[0] = char(tag);
    std::memcpy(p + 1, &n, 4);
    if (len) std::memcpy(p + 5, s, len);
    size_ += 5 + len;
    return true;
}

bool ReplyWriter::put_integer(int64_t v) {
    if (!reserve(9)) return false;
    data_[size_] = char(ReplyTag::integer);
    std::memcpy(data_ + size_ + 1, &v, 8);
    size_ += 9;
    return true;
}

bool ReplyWriter::put_nil() {
    if (!reserve(1)) return false;
    data_[size_++] = char(ReplyTag::nil);
    return true;
}

bool ReplyWriter::put_array(uint32_t count) {
    if (!reserve(5)) return false;
    data_[size_] = char(ReplyTag::array);
    std::memcpy(data_ + size_ + 1, &count, 4);
    size_ += 5;
    return true;
}

Payload ReplyWriter::take_front(size_t n) {
    assert(n <= size());
    if (n == 0) return {};
    const size_t end = head_ + n;  // the payload: the headroom and n bytes of values
    if (end == size_) {
        // The common case: everything is complete, hand over the buffer itself.
        Payload p = Payload::adopt(data_, uint32_t(end));
        data_ = nullptr;
        size_ = cap_ = 0;
        next_cap_ = std::min<size_t>(end, kMaxStartCapacity);
        return p;
    }
    // Copy whichever part is smaller: usually the unfinished tail is a few bytes.
    size_t tail = size_ - end;
    if (tail < n) {
        char* rest = static_cast<char*>(std::malloc(head_ + tail));
        if (rest) {
            if (head_) std::memset(rest, 0, head_);
            std::memcpy(rest + head_, data_ + end, tail);
            Payload head = Payload::adopt(data_, uint32_t(end));
            data_ = rest;
            size_ = cap_ = head_ + tail;
            return head;
        }
    }
    Payload head = Payload::copy(data_, end);
    drop_front(n);
    return head;
}

void ReplyWriter::drop_front(size_t n) {
    assert(n <= size());
    if (n == 0) return;  // data_ may still be null
    std::memmove(data_ + head_, data_ + head_ + n, size_ - head_ - n);
    size_ -= n;
}

bool ReplyCursor::next(ReplyItem& out) {
    if (p_ == end_) return false;
    size_t left = size_t(end_ - p_);
    out.tag = ReplyTag(uint8_t(*p_));
    switch (out.tag) {
        case ReplyTag::status:
        case ReplyTag::error:
        case ReplyTag::bulk: {
            uint32_t len;
            if (left < 5) return false;
            std::memcpy(&len, p_ + 1, 4);
            if (len > left - 5) return false;
            out.str = std::string_view(p_ + 5, len);
            p_ += 5 + size_t(len);
            return true;
        }
        case ReplyTag::integer:
            if (left < 9) return false;
            std::memcpy(&out.integer, p_ + 1, 8);
            p_ += 9;
            return true;
        case ReplyTag::nil:
            p_ += 1;
            return true;
        case ReplyTag::array:
            if (left < 5) return false;
            std::memcpy(&out.count, p_ + 1, 4);
            p_ += 5;
            return true;
    }
    return false;
}

bool validate_replies(std::string_view payload, uint32_t* count, int max_depth) {
    ReplyCursor cur(payload);
    std::vector<uint32_t> pending;  // children still expected by each open array
    uint32_t top = 0;
    ReplyItem item;
    while (!cur.at_end()) {
        if (!cur.next(item)) return false;
        if (pending.empty()) {
            ++top;
        } else {
            --pending.back();
        }
        if (item.tag == ReplyTag::array && item.count > 0) {
            if (int(pending.size()) >= max_depth) return false;
            pending.push_back(item.count);
        }
        while (!pending.empty() && pending.back() == 0)
            pending.pop_back();
    }
    if (!pending.empty()) return false;
    if (count) *count = top;
    return true;
}

}  // namespace skyhive::redis
