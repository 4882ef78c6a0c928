#include "lualib/native/http_reader.h"

#include <algorithm>
#include <cctype>
#include <climits>

namespace skyhive::http {

namespace {

Reader* self(http_parser* p) {
    return static_cast<Reader*>(p->data);
}

}  // namespace

Reader::Reader(Kind kind, Limits limits) : limits_(limits), kind_(kind) {
    http_parser_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE);
    parser_.data = this;
    http_parser_settings_init(&settings_);
    settings_.on_message_begin = on_message_begin;
    settings_.on_url = on_url;
    settings_.on_status = on_status;
    settings_.on_header_field = on_header_field;
    settings_.on_header_value = on_header_value;
    settings_.on_headers_complete = on_headers_complete;
    settings_.on_body = on_body;
    settings_.on_message_complete = on_message_complete;
    settings_.on_chunk_header = on_chunk_header;
}

void Reader::feed(std::string_view bytes) {
    // Drop what was parsed before growing the buffer, so that it holds at most one message's
    // unparsed bytes plus what the socket gave since.
    if (offset_ > 0 && (offset_ == buffer_.size() || offset_ >= 4096)) {
        buffer_.erase(0, offset_);
        offset_ = 0;
    }
    buffer_.append(bytes);
}

void Reader::feed_eof() {
    eof_ = true;
}

void Reader::fail(int status, std::string text) {
    if (failure_.status == 0) failure_ = Failure{status, std::move(text)};
}

void Reader::end_header_pair() {
    if (field_.empty() && !in_value_) return;
    std::transform(field_.begin(), field_.end(), field_.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    auto found = std::find_if(cur_.header.begin(), cur_.header.end(),
                              [this](const auto& kv) { return kv.first == field_; });
    if (found != cur_.header.end()) {
        found->second.append(", ").append(value_);
    } else {
        cur_.header.emplace_back(std::move(field_), std::move(value_));
    }
    field_.clear();
    value_.clear();
    in_value_ = false;
}

int Reader::on_message_begin(http_parser* p) {
    self(p)->started_ = true;
    return 0;
}

int Reader::on_url(http_parser* p, const char* at, size_t n) {
    self(p)->cur_.url.append(at, n);
    return 0;
}

int Reader::on_status(http_parser*, const char*, size_t) {
    return 0;  // the reason phrase is not kept: the code says it all
}

int Reader::on_header_field(http_parser* p, const char* at, size_t n) {
    Reader* r = self(p);
    if (r->in_value_) r->end_header_pair();
    r->field_.append(at, n);
    return 0;
}

int Reader::on_header_value(http_parser* p, const char* at, size_t n) {
    Reader* r = self(p);
    r->in_value_ = true;
    r->value_.append(at, n);
    return 0;
}

int Reader::on_headers_complete(http_parser* p) {
    Reader* r = self(p);
    r->end_header_pair();
    r->in_header_ = false;
    Message& m = r->cur_;
    m.major = p->http_major;
    m.minor = p->http_minor;
    if (r->kind_ == Kind::request) {
        m.method = http_method_str(http_method(p->method));
    } else {
        m.status = int(p->status_code);
    }
    m.keep_alive = http_should_keep_alive(p) != 0;
    m.upgrade = p->upgrade != 0;
    const bool chunked = (p->flags & F_CHUNKED) != 0;
    if (!chunked && p->content_length != ULLONG_MAX && p->content_length > r->limits_.max_body) {
        r->fail(413, "body of " + std::to_string(p->content_length) + " bytes announced (limit " +
                         std::to_string(r->limits_.max_body) + ")");
        return -1;
    }
    if (r->kind_ == Kind::response && r->no_body_) return 1;  // a HEAD response: no body
    return 0;
}

int Reader::on_body(http_parser* p, const char* at, size_t n) {
    Reader* r = self(p);
    if (r->cur_.body.size() + n > r->limits_.max_body) {
        r->fail(413, "body over " + std::to_string(r->limits_.max_body) + " bytes");
        return -1;
    }
    r->cur_.body.append(at, n);
    return 0;
}

int Reader::on_chunk_header(http_parser* p) {
    // The last chunk (size 0) is followed by trailers, counted as header bytes again.
    if (p->content_length == 0) {
        Reader* r = self(p);
        r->in_header_ = true;
        r->header_bytes_ = 0;
    }
    return 0;
}

int Reader::on_message_complete(http_parser* p) {
    Reader* r = self(p);
    r->end_header_pair();  // a trailer's last pair
    r->complete_ = true;
    // Stop here so that the bytes of the next (pipelined) message stay unparsed until asked for.
    http_parser_pause(p, 1);
    return 0;
}

size_t Reader::execute(const char* data, size_t n) {
    return http_parser_execute(&parser_, &settings_, data, n);
}

Reader::Status Reader::next() {
    while (failure_.status == 0) {
        size_t avail = pending();
        size_t used = 0;
        if (avail == 0) {
            if (!eof_ || eof_fed_) return Status::more;
            eof_fed_ = true;
            execute(nullptr, 0);
        } else {
            size_t slice = avail;
            if (in_header_) {
                if (header_bytes_ >= limits_.max_header) {
                    fail(431, "header over " + std::to_string(limits_.max_header) + " bytes");
                    break;
                }
                // Never parse past the header budget: a header section that has not ended
                // within it fails on the next round, whatever the socket delivered at once.
                slice = std::min(avail, limits_.max_header - header_bytes_);
            }
            bool counting = in_header_;
            used = execute(buffer_.data() + offset_, slice);
            offset_ += used;
            if (counting && in_header_) header_bytes_ += used;
        }
        http_errno err = HTTP_PARSER_ERRNO(&parser_);
        if (complete_) {
            // Paused by on_message_complete (or finished by the end of the stream).
            if (err == HPE_PAUSED) http_parser_pause(&parser_, 0);
            complete_ = false;
            started_ = false;
            in_header_ = true;
            header_bytes_ = 0;
            no_body_ = false;
            done_ = std::move(cur_);
            cur_ = Message{};
            return Status::message;
        }
        if (err != HPE_OK) {
            if (err == HPE_HEADER_OVERFLOW) {
                fail(431, "header too large");
            } else if (err == HPE_INVALID_EOF_STATE) {
                fail(400, "the stream ended inside a message");
            } else {
                fail(400,
                     std::string(http_errno_description(err)) + " (" + http_errno_name(err) + ")");
            }
            break;
        }
        if (avail == 0) return Status::more;  // the end of the stream between messages
        if (used == 0) {
            fail(400, "the parser stopped at byte " + std::to_string(offset_));
            break;
        }
    }
    return Status::failed;
}

}  // namespace skyhive::http
