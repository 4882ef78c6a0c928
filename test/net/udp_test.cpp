// UDP: datagrams carry the sender's address, and replies go back to it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/socket_server.h"
#include "net/udp_address.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

// The datagram and the sender of a udp event.
std::pair<std::string, UdpAddress> split(const Event& e) {
    EXPECT_EQ(e.type(), SocketEventType::udp);
    size_t alen = size_t(e.ud());
    EXPECT_LE(alen, e.bytes.size());
    auto addr = UdpAddress::from_bytes(std::string_view(e.bytes).substr(e.bytes.size() - alen));
    EXPECT_TRUE(addr);
    return {e.bytes.substr(0, e.bytes.size() - alen), addr.value_or(UdpAddress())};
}

TEST(UdpAddressTest, CompactFormRoundTrips) {
    auto v4 = UdpAddress::parse("127.0.0.1", 0x1234);
    ASSERT_TRUE(v4.ok());
    EXPECT_EQ(v4->bytes(), std::string_view("\x04\x12\x34\x7f\x00\x00\x01", 7));
    EXPECT_EQ(v4->to_string(), "127.0.0.1:4660");
    auto v6 = UdpAddress::parse("::1", 53);
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->bytes().size(), 19u);
    EXPECT_EQ(v6->to_string(), "[::1]:53");
    EXPECT_EQ(UdpAddress::from_bytes(v6->bytes()), v6.value());
    EXPECT_FALSE(UdpAddress::from_bytes(std::string_view("\x04\x00", 2)));
    EXPECT_FALSE(UdpAddress::from_bytes(std::string_view("\x05\x00\x00\x00\x00\x00\x00", 7)));
    EXPECT_FALSE(UdpAddress::parse("localhost", 1).ok());  // numeric only
}

TEST(UdpTest, RoundTripWithPeerAddresses) {
    EventSink sink;
    SocketServer server(sink);
    ASSERT_TRUE(server.start().ok());
    const Handle a_owner{1}, b_owner{2};
    auto a = server.udp_open(a_owner, "127.0.0.1", 0);
    auto b = server.udp_open(b_owner, "127.0.0.1", 0);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_NE(a->port, b->port);

    auto to_b = UdpAddress::parse("127.0.0.1", b->port).value();
    ASSERT_TRUE(server.send_to(a->id, to_b, Payload::copy("ping")));
    auto e = sink.next(b_owner);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->id(), b->id);
    auto [data, from] = split(*e);
    EXPECT_EQ(data, "ping");
    EXPECT_EQ(from.to_string(), "127.0.0.1:" + std::to_string(a->port));

    // Reply to the address the datagram came with.
    ASSERT_TRUE(server.send_to(b->id, from, Payload::copy("pong")));
    e = sink.next(a_owner);
    ASSERT_TRUE(e);
    auto [reply, reply_from] = split(*e);
    EXPECT_EQ(reply, "pong");
    EXPECT_EQ(reply_from, to_b);

    // A plain socket outside the server talks to it too; an empty datagram is still an event.
    int raw = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(uint16_t(a->port));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::sendto(raw, "", 0, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0);
    e = sink.next(a_owner);
    ASSERT_TRUE(e);
    auto [empty, raw_from] = split(*e);
    EXPECT_EQ(empty, "");
    EXPECT_EQ(raw_from.to_string(), "127.0.0.1:" + std::to_string(local_address(raw).port()));
    ASSERT_TRUE(server.send_to(a->id, raw_from, Payload::copy("hi raw")));
    char buf[16];
    ssize_t n = ::recv(raw, buf, sizeof buf, 0);
    EXPECT_EQ(std::string(buf, size_t(std::max<ssize_t>(n, 0))), "hi raw");
    ::close(raw);

    auto info = server.info(a->id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->kind, SocketKind::udp);
    EXPECT_EQ(info->bytes_out, 4u + 6u);
    EXPECT_EQ(info->bytes_in, 4u);  // "pong" and the empty datagram

    // A stream send on a UDP socket is refused quietly; the socket keeps working.
    server.send(a->id, Payload::copy("no address"));
    ASSERT_TRUE(server.send_to(a->id, to_b, Payload::copy("still")));
    e = sink.next(b_owner);
    ASSERT_TRUE(e);
    EXPECT_EQ(split(*e).first, "still");
    server.close(a->id);
    server.close(b->id);
    EXPECT_TRUE(sink.next_of(a_owner, SocketEventType::closed));
    EXPECT_TRUE(sink.next_of(b_owner, SocketEventType::closed));
    EXPECT_EQ(server.socket_count(), 0u);
}

TEST(UdpTest, Ipv6Loopback) {
    EventSink sink;
    SocketServer server(sink);
    ASSERT_TRUE(server.start().ok());
    const Handle owner{1};
    auto a = server.udp_open(owner, "::1", 0);
    if (!a.ok()) GTEST_SKIP() << "no IPv6 loopback: " << a.error().message;
    ASSERT_TRUE(
        server.send_to(a->id, UdpAddress::parse("::1", a->port).value(), Payload::copy("self")));
    auto e = sink.next(owner);
    ASSERT_TRUE(e);
    auto [data, from] = split(*e);
    EXPECT_EQ(data, "self");
    EXPECT_EQ(from.to_string(), "[::1]:" + std::to_string(a->port));
}

}  // namespace
}  // namespace skyhive::net
