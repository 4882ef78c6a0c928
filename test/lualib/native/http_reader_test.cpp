// http::Reader (lualib/native/http_reader.h): whole messages out of bytes fed in any split,
// pipelined messages one at a time, chunked bodies and trailers, responses read to the end of
// the stream, and each limit at its exact boundary.
#include "lualib/native/http_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace skyhive::http {
namespace {

// Feeds `bytes` in pieces of `step` and collects every message; stops at a failure.
std::vector<Message> read_all(Reader& r, const std::string& bytes, size_t step) {
    std::vector<Message> out;
    for (size_t i = 0; i < bytes.size(); i += step) {
        r.feed(std::string_view(bytes).substr(i, step));
        for (;;) {
            auto s = r.next();
            if (s == Reader::Status::message) {
                out.push_back(r.message());
                continue;
            }
            if (s == Reader::Status::failed) return out;
            break;
        }
    }
    return out;
}

std::string header_of(const Message& m, const std::string& name) {
    for (const auto& [k, v] : m.header)
        if (k == name) return v;
    return "<none>";
}

const std::string kPipelined =
    "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n"
    "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n"
    "X-Trail: t\r\n\r\n"
    "GET /d HTTP/1.0\r\n\r\n";

TEST(HttpReader, PipelinedMessagesInAnySplit) {
    for (size_t step : {size_t(1), size_t(2), size_t(7), size_t(64), kPipelined.size()}) {
        Reader r(Kind::request, Limits{});
        auto msgs = read_all(r, kPipelined, step);
        ASSERT_EQ(msgs.size(), 4u) << "step " << step << ": " << r.failure().text;
        EXPECT_EQ(msgs[0].method, "GET");
        EXPECT_EQ(msgs[0].url, "/a?x=1");
        EXPECT_EQ(header_of(msgs[0], "host"), "h");
        EXPECT_EQ(header_of(msgs[0], "x-dup"), "1, 2");
        EXPECT_TRUE(msgs[0].keep_alive);
        EXPECT_EQ(msgs[1].body, "hello");
        EXPECT_EQ(msgs[2].body, "abcde");
        EXPECT_EQ(header_of(msgs[2], "x-trail"), "t");
        EXPECT_EQ(msgs[3].minor, 0);
        EXPECT_FALSE(msgs[3].keep_alive);
        EXPECT_EQ(r.pending(), 0u);
        EXPECT_FALSE(r.started());
    }
}

TEST(HttpReader, OneMessageAtATime) {
    Reader r(Kind::request, Limits{});
    r.feed(kPipelined);
    ASSERT_EQ(r.next(), Reader::Status::message);
    EXPECT_EQ(r.message().url, "/a?x=1");
    EXPECT_GT(r.pending(), 0u);  // the next requests wait, unparsed
    ASSERT_EQ(r.next(), Reader::Status::message);
    EXPECT_EQ(r.message().url, "/b");
}

std::string request_with_header_bytes(size_t total) {
    std::string head = "GET / HTTP/1.1\r\nX: ";
    std::string tail = "\r\n\r\n";
    return head + std::string(total - head.size() - tail.size(), 'a') + tail;
}

TEST(HttpReader, HeaderLimitIsExact) {
    for (size_t step : {size_t(1), size_t(100), size_t(4096)}) {
        Reader ok(Kind::request, Limits{1000, 100});
        EXPECT_EQ(read_all(ok, request_with_header_bytes(1000), step).size(), 1u);
        Reader over(Kind::request, Limits{1000, 100});
        EXPECT_EQ(read_all(over, request_with_header_bytes(1001), step).size(), 0u);
        EXPECT_EQ(over.failure().status, 431) << over.failure().text;
    }
}

TEST(HttpReader, BodyLimitAnnouncedAndChunked) {
    Reader announced(Kind::request, Limits{8192, 10});
    announced.feed("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
    EXPECT_EQ(announced.next(), Reader::Status::failed);  // before any body byte
    EXPECT_EQ(announced.failure().status, 413);
    Reader at(Kind::request, Limits{8192, 10});
    EXPECT_EQ(read_all(at, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 3).size(),
              1u);
    Reader chunked(Kind::request, Limits{8192, 10});
    read_all(chunked, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n",
             1);
    chunked.feed("ghijk\r\n");
    EXPECT_EQ(chunked.next(), Reader::Status::failed);
    EXPECT_EQ(chunked.failure().status, 413);
}

TEST(HttpReader, MalformedIs400AndStays) {
    Reader r(Kind::request, Limits{});
    r.feed("\x01\x02 nonsense\r\n\r\n");
    EXPECT_EQ(r.next(), Reader::Status::failed);
    EXPECT_EQ(r.failure().status, 400);
    r.feed("GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(r.next(), Reader::Status::failed);  // a failed reader stays failed
}

TEST(HttpReader, StartedTracksPartialMessages) {
    Reader r(Kind::request, Limits{});
    EXPECT_FALSE(r.started());
    r.feed("GE");
    EXPECT_EQ(r.next(), Reader::Status::more);
    EXPECT_TRUE(r.started());
}

TEST(HttpReader, ResponsesByLengthChunkedAndToTheEnd) {
    Reader r(Kind::response, Limits{});
    auto msgs =
        read_all(r,
                 "HTTP/1.1 100 Continue\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                 "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
                 5);
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[0].status, 100);
    EXPECT_EQ(msgs[1].body, "ok");
    EXPECT_EQ(msgs[2].status, 404);
    EXPECT_EQ(msgs[2].body, "x");

    Reader close(Kind::response, Limits{});
    close.feed("HTTP/1.0 200 OK\r\n\r\nuntil the end");
    EXPECT_EQ(close.next(), Reader::Status::more);
    close.feed_eof();
    ASSERT_EQ(close.next(), Reader::Status::message);
    EXPECT_EQ(close.message().body, "until the end");

    Reader head(Kind::response, Limits{});
    head.expect_no_body(true);
    head.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    ASSERT_EQ(head.next(), Reader::Status::message);
    EXPECT_EQ(head.message().body, "");

    Reader cut(Kind::response, Limits{});
    cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
    EXPECT_EQ(cut.next(), Reader::Status::more);
    cut.feed_eof();
    EXPECT_EQ(cut.next(), Reader::Status::failed);
    EXPECT_EQ(cut.failure().status, 400);
}

}  // namespace
}  // namespace skyhive::http
