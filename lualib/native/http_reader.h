#pragma once

// An incremental reader of HTTP/1.x messages on libhttp-parser, with limits. Bytes are fed as the
// socket gives them; whole messages come out one at a time, in order, so that pipelined requests
// are answered in order. The bytes after a message stay buffered for the next one.
//
// Limits: header bytes (request or status line, headers and the blank line; also the trailers
// of a chunked body) over max_header fail with 431; a body over max_body fails with 413, before
// any of it is read when Content-Length announces it; anything the parser refuses fails with 400.
// After a failure the reader stays failed (the connection is to be closed).
//
// Thread: one at a time (owned by one Lua service).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <http_parser.h>

namespace skyhive::http {

enum class Kind : uint8_t { request, response };

struct Limits {
    size_t max_header = 8 * 1024;
    size_t max_body = 1024 * 1024;
};

// One parsed message. Header names are lowercased; repeated headers are joined with ", ".
struct Message {
    std::string method;  // requests
    std::string url;     // requests
    int status = 0;      // responses
    int major = 1, minor = 1;
    std::vector<std::pair<std::string, std::string>> header;  // in arrival order, names unique
    std::string body;
    bool keep_alive = false;  // the connection may carry another message after this one
    bool upgrade = false;     // Upgrade or CONNECT: what follows is not HTTP
};

// Why reading failed: the HTTP status to answer and a sentence naming what was wrong.
struct Failure {
    int status = 0;  // 400, 413 or 431; 0: none
    std::string text;
};

class Reader {
  public:
    Reader(Kind kind, Limits limits);
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // Appends bytes to the buffer (nothing is parsed yet).
    void feed(std::string_view bytes);

    // The end of the stream: a response without Content-Length ends here. Later next() calls
    // finish what the buffer holds.
    void feed_eof();

    enum class Status : uint8_t { message, more, failed };

    // Parses buffered bytes until one message is whole (it is in message()), the buffer runs out
    // (more), or the bytes are refused (failure()).
    Status next();

    const Message& message() const { return done_; }
    const Failure& failure() const { return failure_; }

    // Bytes buffered and not yet parsed.
    size_t pending() const { return buffer_.size() - offset_; }
    // True between the first byte of a message and its end (a client that stops mid-request is
    // timed out with 408, one that stops between requests is just closed).
    bool started() const { return started_ || pending() > 0; }

    // For a response reader: the request was HEAD, so the response has no body whatever its
    // headers say. Applies to the next response.
    void expect_no_body(bool on) { no_body_ = on; }

  private:
    static int on_message_begin(http_parser* p);
    static int on_url(http_parser* p, const char* at, size_t n);
    static int on_status(http_parser* p, const char* at, size_t n);
    static int on_header_field(http_parser* p, const char* at, size_t n);
    static int on_header_value(http_parser* p, const char* at, size_t n);
    static int on_headers_complete(http_parser* p);
    static int on_body(http_parser* p, const char* at, size_t n);
    static int on_message_complete(http_parser* p);
    static int on_chunk_header(http_parser* p);

    void fail(int status, std::string text);
    void end_header_pair();
    size_t execute(const char* data, size_t n);

    http_parser parser_;
    http_parser_settings settings_;
    Limits limits_;
    Kind kind_;
    std::string buffer_;
    size_t offset_ = 0;  // buffer_[offset_..] is not parsed yet
    bool eof_ = false;
    bool eof_fed_ = false;
    bool no_body_ = false;

    Message cur_;   // the message being parsed
    Message done_;  // the last whole message
    bool started_ = false;
    bool in_header_ = true;      // counting header bytes (head, or trailers)
    size_t header_bytes_ = 0;    // of the current head or trailer section
    bool complete_ = false;      // set by on_message_complete
    std::string field_, value_;  // the header pair being read
    bool in_value_ = false;
    Failure failure_;
};

}  // namespace skyhive::http
