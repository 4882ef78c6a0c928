// The gate (services/gate/gate.h) on a real Node and socket server, over real loopback sockets:
// skynet's gate protocol with a C++ watchdog and agent (the Lua side: test/lualib/skynet/
// test_gate.lua).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/node.h"
#include "core/service.h"
#include "net/socket_event.h"
#include "net/socket_server.h"
#include "services/gate/gate.h"
#include "test/core/test_support.h"

namespace skyhive {
namespace {

using namespace skyhive::test;

// A blocking client socket with a receive timeout, closed with the object. Thread: the test's.
class Client {
  public:
    explicit Client(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Client() { ::close(fd_); }
    bool connected() const { return connected_; }
    void write(const std::string& s) {
        ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size()));
    }
    // Exactly n bytes, or fewer when the peer closes or the timeout passes.
    std::string read(size_t n) {
        std::string out(n, '\0');
        size_t got = 0;
        while (got < n) {
            ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
            if (r <= 0) break;
            got += size_t(r);
        }
        out.resize(got);
        return out;
    }
    // Writes `data` without blocking until it is all written or the peer stops reading: nothing
    // more fits for `quiet` (the kernel's buffers on both sides are full). The bytes written.
    size_t write_until_stalled(std::string_view data, std::chrono::milliseconds quiet) {
        size_t done = 0;
        while (done < data.size()) {
            ssize_t r =
                ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r > 0) {
                done += size_t(r);
                continue;
            }
            if (r < 0 && errno != EAGAIN) break;
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, int(quiet.count())) == 0) break;  // stalled
        }
        return done;
    }
    // Ends the sending side (the gate reads EOF); reading goes on.
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
    // True when the peer closed (EOF or reset) before the timeout; bytes before that are
    // skipped.
    bool closed_by_peer() {
        char buf[4096];
        ssize_t r;
        while ((r = ::recv(fd_, buf, sizeof buf, 0)) > 0) {
        }
        return r == 0 || (r < 0 && errno == ECONNRESET);
    }

  private:
    int fd_ = -1;
    bool connected_ = false;
};

std::string header2(const std::string& body) {
    return std::string{char(body.size() >> 8), char(body.size() & 0xff)} + body;
}

// Packet `i` of a flood: its number in 6 digits, padded to `size` bytes (no line end in it).
std::string numbered(size_t i, size_t size) {
    std::string s = std::to_string(1000000 + i).substr(1);
    s.resize(size, '.');
    return s;
}

// What a sink agent received, in order. Thread: any.
struct Sink {
    std::mutex lock;
    std::vector<std::string> packets;

    size_t size() {
        std::lock_guard g(lock);
        return packets.size();
    }
    // Index of the first packet that is not numbered(i, size), or the count when all are.
    size_t first_wrong(size_t size) {
        std::lock_guard g(lock);
        for (size_t i = 0; i < packets.size(); ++i)
            if (packets[i] != numbered(i, size)) return i;
        return packets.size();
    }
};

// What a recording service received: messages, with "lua" payloads decoded. Thread: any.
struct Record {
    Handle source;
    int32_t session;
    MessageType type;
    std::string bytes;
    std::vector<LuaArg> args;  // for lua messages
};

struct Recorder {
    std::mutex lock;
    LuaCodec codec;  // under lock
    std::vector<Record> seen;
    std::vector<std::thread::id> threads;  // where each message was handled

    void add(Message& m) {
        Record r{m.source, m.session, m.type, std::string(m.payload.data(), m.payload.size()), {}};
        std::lock_guard g(lock);
        if (m.type == MessageType::lua || m.type == MessageType::response) {
            auto a = codec.unpack(r.bytes);
            if (a) r.args = std::move(*a);
        }
        seen.push_back(std::move(r));
        threads.push_back(std::this_thread::get_id());
    }
    // The first record after `from` that matches, waiting for it.
    std::optional<Record> find(const std::function<bool(const Record&)>& match) {
        std::optional<Record> found;
        wait_until(
            [&] {
                std::lock_guard g(lock);
                for (const auto& r : seen)
                    if (match(r)) {
                        found = r;
                        return true;
                    }
                return false;
            },
            std::chrono::seconds(10));
        return found;
    }
    size_t count(const std::function<bool(const Record&)>& match) {
        std::lock_guard g(lock);
        size_t n = 0;
        for (const auto& r : seen)
            n += match(r) ? 1 : 0;
        return n;
    }
};

// A watchdog notice "socket", what, fd...
std::function<bool(const Record&)> notice(const std::string& what, int64_t fd = -1) {
    return [what, fd](const Record& r) {
        return r.type == MessageType::lua && r.args.size() >= 3 && r.args[0].value.string() &&
               *r.args[0].value.string() == "socket" && *r.args[1].value.string() == what &&
               (fd < 0 || *r.args[2].value.integer() == fd);
    };
}

constexpr int kFloodPackets = 256;
constexpr size_t kFloodSize = 60000;

class GateTest : public ::testing::Test {
  protected:
    void SetUp() override {
        node_.modules().add("gate", [this] { return std::make_unique<Gate>(server_); });
        node_.modules().add("watchdog", [this] {
            auto m = std::make_unique<FnModule>();
            m->on_msg = [this](Service&, Message& msg) { watchdog_seen_.add(msg); };
            return m;
        });
        // The agent echoes every packet back with a 2-byte header, and records it. "agent" runs on
        // workers; "inline_agent" opts in to inline events, so it runs inside the gate's handler.
        add_agent("agent", false);
        add_agent("inline_agent", true);
        // The sink keeps every packet and answers none (its client is not read from meanwhile).
        node_.modules().add("sink", [this] {
            auto m = std::make_unique<FnModule>();
            m->on_msg = [this](Service&, Message& msg) {
                if (msg.type != MessageType::client) return;
                std::lock_guard g(sink_.lock);
                sink_.packets.emplace_back(msg.payload.data(), msg.payload.size());
            };
            return m;
        });
        // Records the socket thread's id: an inline service's accepted event runs there.
        node_.modules().add("probe", [this] {
            auto m = std::make_unique<FnModule>();
            m->inline_events = true;
            m->on_init = [this](Service& self, std::string_view) {
                auto l = server_.listen(self.handle(), "127.0.0.1", 0);
                if (!l) return false;
                probe_port_ = l->port;
                server_.start(l->id);
                return true;
            };
            m->on_msg = [this](Service&, Message& msg) {
                if (msg.type != MessageType::socket) return;
                net::SocketEvent e = net::event_header(msg.payload);
                if (e.type != net::SocketEventType::accepted) return;
                std::lock_guard g(probe_lock_);
                socket_thread_ = std::this_thread::get_id();
                server_.close(e.ud);
            };
            return m;
        });
        ASSERT_TRUE(node_.start());
        ASSERT_TRUE(server_.start());
        node_.on_shutdown([this] { server_.stop(); });
        gate_ = node_.launch("gate", "").value();
        watchdog_ = node_.launch("watchdog", "").value();
        agent_ = node_.launch("agent", "").value();
    }
    void add_agent(const std::string& name, bool inline_events) {
        node_.modules().add(name, [this, inline_events] {
            auto m = std::make_unique<FnModule>();
            m->inline_events = inline_events;
            m->on_msg = [this](Service&, Message& msg) {
                agent_seen_.add(msg);  // before the echo, which the test waits for
                if (msg.type == MessageType::client) {
                    std::string body(msg.payload.data(), msg.payload.size());
                    // "flood": far more than the kernel's buffers take, for the warning notices.
                    const int copies = body == "flood" ? kFloodPackets : 1;
                    if (body == "flood") body.assign(kFloodSize, 'f');
                    for (int i = 0; i < copies; ++i)
                        server_.send(msg.session, Payload::copy(header2(body)));
                }
            };
            return m;
        });
    }
    void TearDown() override { node_.shutdown(); }

    // A call from the watchdog to the gate; the response or error record.
    Record call(LuaPacker& args) {
        int32_t session = ++session_;
        node_.send(watchdog_, gate_, MessageType::lua, session, args.take());
        auto r = watchdog_seen_.find([session](const Record& r) {
            return r.session == session &&
                   (r.type == MessageType::response || r.type == MessageType::error);
        });
        EXPECT_TRUE(r) << "no answer to session " << session;
        return r.value_or(Record{});
    }
    // open with {address = "127.0.0.1", port = 0, maxclient = maxclient}, mode and max_packet
    // when given, and `extra_pairs` more key, value pairs written by `extra`.
    int open(int64_t maxclient, const std::string& mode = "", int64_t max_packet = 0,
             size_t extra_pairs = 0, const std::function<void(LuaPacker&)>& extra = {}) {
        LuaPacker p(codec_);
        size_t pairs = 3 + (mode.empty() ? 0 : 1) + (max_packet ? 1 : 0) + extra_pairs;
        p.string("open").hash(pairs).string("address").string("127.0.0.1");
        p.string("port").integer(0).string("maxclient").integer(maxclient);
        if (!mode.empty()) p.string("mode").string(mode);
        if (max_packet) p.string("max_packet").integer(max_packet);
        if (extra) extra(p);
        Record r = call(p);
        EXPECT_EQ(r.type, MessageType::response) << r.bytes;
        if (r.args.empty() || !r.args[0].value.integer()) return 0;
        return int(*r.args[0].value.integer());
    }
    // Waits for the watchdog's "open" notice number `nth` (1-based); the connection's fd.
    int32_t opened(size_t nth) {
        EXPECT_TRUE(wait_until([&] { return watchdog_seen_.count(notice("open")) >= nth; },
                               std::chrono::seconds(10)));
        std::lock_guard g(watchdog_seen_.lock);
        size_t k = 0;
        for (const auto& r : watchdog_seen_.seen)
            if (notice("open")(r) && ++k == nth) return int32_t(*r.args[2].value.integer());
        return -1;
    }
    void command(const std::string& cmd, int32_t fd, int64_t client = -1, Handle address = {}) {
        LuaPacker p(codec_);
        p.string(cmd).integer(fd);
        if (client >= 0) p.integer(client).integer(address.value);
        Record r = call(p);
        EXPECT_EQ(r.type, MessageType::response) << cmd << ": " << r.bytes;
    }

    Node node_{quiet_options()};
    net::SocketServer server_{node_};
    Handle gate_, watchdog_, agent_;
    Recorder watchdog_seen_, agent_seen_;
    Sink sink_;
    LuaCodec codec_;  // the test thread's packer
    int32_t session_ = 0;
    int probe_port_ = 0;
    std::mutex probe_lock_;
    std::thread::id socket_thread_;
};

TEST_F(GateTest, ForwardedPacketsReachTheAgentAsClientMessagesAndCloseIsReported) {
    int port = open(16);
    ASSERT_GT(port, 0);
    Client c(port);
    ASSERT_TRUE(c.connected());
    int32_t fd = opened(1);
    auto open_notice = watchdog_seen_.find(notice("open", fd));
    ASSERT_TRUE(open_notice);
    EXPECT_EQ(open_notice->source, gate_);
    EXPECT_EQ(open_notice->args[3].value.string()->rfind("127.0.0.1:", 0), 0u);
    command("forward", fd, 0x55, agent_);

    // Three packets in one write, then one split across two writes (mid-header).
    std::string big(40000, 'b');
    c.write(header2("one") + header2("") + header2("three") + header2(big).substr(0, 1));
    ASSERT_EQ(c.read(5 + 2 + 7), header2("one") + header2("") + header2("three"));
    c.write(header2(big).substr(1));
    ASSERT_EQ(c.read(big.size() + 2), header2(big));

    std::lock_guard g(agent_seen_.lock);
    ASSERT_EQ(agent_seen_.seen.size(), 4u);
    const char* expect[] = {"one", "", "three"};
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(agent_seen_.seen[i].type, MessageType::client);
        EXPECT_EQ(agent_seen_.seen[i].session, fd) << "skynet's gate: the fd is the session";
        EXPECT_EQ(agent_seen_.seen[i].source, Handle(0x55)) << "the client given to forward";
        EXPECT_EQ(agent_seen_.seen[i].bytes, expect[i]);
    }
    EXPECT_EQ(agent_seen_.seen[3].bytes, big);
}

TEST_F(GateTest, AnAgentThatOptsInHandlesPacketsOnTheSocketThread) {
    // The socket thread's id, from an inline service's accepted event.
    ASSERT_TRUE(node_.launch("probe", ""));
    { Client c(probe_port_); }
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard g(probe_lock_);
        return socket_thread_ != std::thread::id();
    }));
    Handle inline_agent = node_.launch("inline_agent", "").value();
    int port = open(16);
    Client c(port), d(port);
    int32_t fc = opened(1), fd = opened(2);
    command("forward", fc, 0, inline_agent);
    command("forward", fd, 0, agent_);
    c.write(header2("a") + header2("b"));
    d.write(header2("w"));
    ASSERT_EQ(c.read(6), header2("a") + header2("b"));
    ASSERT_EQ(d.read(3), header2("w"));
    std::lock_guard g(agent_seen_.lock);
    std::lock_guard p(probe_lock_);
    ASSERT_EQ(agent_seen_.seen.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        const bool on_socket_thread = agent_seen_.threads[i] == socket_thread_;
        if (agent_seen_.seen[i].session == fc)
            EXPECT_TRUE(on_socket_thread) << "packet " << agent_seen_.seen[i].bytes;
        else
            EXPECT_FALSE(on_socket_thread) << "an agent that did not opt in runs on a worker";
    }
}

TEST_F(GateTest, PeerCloseAndKickAreReportedAsClose) {
    int port = open(16);
    Client a(port), b(port);
    int32_t fa = opened(1), fb = opened(2);
    command("accept", fa);
    command("accept", fb);
    // A third one leaves; that is seen (and reported) once the gate reads it.
    auto gone = std::make_unique<Client>(port);
    int32_t fc = opened(3);
    command("accept", fc);
    gone.reset();
    EXPECT_TRUE(watchdog_seen_.find(notice("close", fc)));

    command("kick", fb);
    EXPECT_TRUE(watchdog_seen_.find(notice("close", fb)));
    EXPECT_TRUE(b.closed_by_peer());
    command("kick", fb);  // gone already: not an error, as in skynet
    EXPECT_EQ(watchdog_seen_.count(notice("close", fb)), 1u);
    EXPECT_EQ(watchdog_seen_.count(notice("close", fa)), 0u);
}

TEST_F(GateTest, AWriteQueuePastItsMarkIsReportedToTheWatchdogAndSoIsItsDraining) {
    int port = open(16);
    Client c(port);
    int32_t fd = opened(1);
    server_.set_warning_mark(fd, 64);
    command("forward", fd, 0, agent_);
    c.write(header2("flood"));  // ~15 MB back, not read yet
    auto warned = watchdog_seen_.find([&](const Record& r) {
        return notice("warning", fd)(r) && *r.args[3].value.integer() >= 64;
    });
    ASSERT_TRUE(warned) << "no warning notice";
    EXPECT_EQ(warned->source, gate_);
    EXPECT_EQ(c.read(size_t(kFloodPackets) * (kFloodSize + 2)).size(),
              size_t(kFloodPackets) * (kFloodSize + 2));
    EXPECT_TRUE(watchdog_seen_.find([&](const Record& r) {
        return notice("warning", fd)(r) && *r.args[3].value.integer() == 0;
    })) << "no notice once the queue drained";
}

TEST_F(GateTest, AcceptedConnectionsSendTheirPacketsToTheWatchdog) {
    int port = open(16, "lines");
    Client c(port);
    int32_t fd = opened(1);
    c.write("look\r\nsay hi\n");
    command("accept", fd);  // bytes that came before accept wait in the kernel
    auto second = watchdog_seen_.find([&](const Record& r) {
        return notice("data", fd)(r) && *r.args[3].value.string() == "say hi";
    });
    ASSERT_TRUE(second);
    EXPECT_EQ(watchdog_seen_.count(notice("data", fd)), 2u);
    EXPECT_TRUE(watchdog_seen_.find([&](const Record& r) {
        return notice("data", fd)(r) && *r.args[3].value.string() == "look";
    }));
    EXPECT_EQ(agent_seen_.count([](const Record&) { return true; }), 0u);
}

TEST_F(GateTest, MaxclientRefusesTheConnectionPastIt) {
    int port = open(2);
    auto a = std::make_unique<Client>(port);
    Client b(port);
    int32_t fa = opened(1);
    opened(2);
    Client c(port);
    ASSERT_TRUE(c.connected()) << "the kernel accepts; the gate then closes it";
    EXPECT_TRUE(c.closed_by_peer());
    EXPECT_EQ(watchdog_seen_.count(notice("open")), 2u);
    // Once one leaves, a new connection is taken again.
    command("accept", fa);
    a.reset();
    ASSERT_TRUE(watchdog_seen_.find(notice("close", fa)));
    Client d(port);
    EXPECT_GE(opened(3), 0);
}

TEST_F(GateTest, AnOversizedPacketIsAnErrorAndClosesTheConnection) {
    int port = open(16, "lines", 16);
    Client c(port);
    int32_t fd = opened(1);
    command("forward", fd, 0, agent_);
    c.write("short\n" + std::string(100, 'x'));
    auto err = watchdog_seen_.find(notice("error", fd));
    ASSERT_TRUE(err);
    EXPECT_EQ(*err->args[3].value.string(), "line longer than 16 bytes");
    EXPECT_TRUE(c.closed_by_peer());
    // The line before the oversized one reaches the agent, once; the agent is another service,
    // so it may get it after the watchdog got the error.
    auto is_short = [](const Record& r) { return r.bytes == "short"; };
    EXPECT_TRUE(agent_seen_.find(is_short));
    EXPECT_EQ(agent_seen_.count(is_short), 1u);
    EXPECT_EQ(watchdog_seen_.count(notice("close", fd)), 0u) << "error, not error and close";
}

// How long a flooding client's writes must make no progress to count as held by flow control.
constexpr auto kStalled = std::chrono::milliseconds(500);

TEST_F(GateTest, PauseStopsReadingAFloodingClientAndResumeReadsOn) {
    Handle sink = node_.launch("sink", "").value();
    int port = open(16);
    Client c(port);
    int32_t fd = opened(1);
    command("forward", fd, 0, sink);
    command("pause", fd);
    // 16 MB, far more than the kernel buffers of a connection whose reader never read.
    constexpr size_t kPackets = 280;
    std::string flood;
    for (size_t i = 0; i < kPackets; ++i)
        flood += header2(numbered(i, kFloodSize));
    size_t written = c.write_until_stalled(flood, kStalled);
    ASSERT_LT(written, flood.size()) << "the gate read a paused connection";
    EXPECT_LT(sink_.size(), kPackets);

    command("resume", fd);
    std::thread rest([&] { c.write(flood.substr(written)); });
    EXPECT_TRUE(wait_until([&] { return sink_.size() >= kPackets; }, std::chrono::seconds(20)))
        << sink_.size() << " packets after resume";
    rest.join();
    EXPECT_EQ(sink_.size(), kPackets);
    EXPECT_EQ(sink_.first_wrong(kFloodSize), kPackets) << "a packet lost or out of order";
}

TEST_F(GateTest, AWindowBoundsTheLinesHandedOutAndResumeReportsThemHandled) {
    constexpr int64_t kWindow = 16;
    constexpr size_t kLines = 4000, kLineSize = 4000;  // 16 MB
    Handle sink = node_.launch("sink", "").value();
    int port = open(16, "lines", 0, 1, [](LuaPacker& p) { p.string("window").integer(kWindow); });
    Client c(port);
    int32_t fd = opened(1);
    command("forward", fd, 0, sink);
    std::string flood;
    for (size_t i = 0; i < kLines; ++i)
        flood += numbered(i, kLineSize) + "\n";
    // Nobody reports lines handled: past the window the gate stops reading, so the client is
    // held by flow control and the agent has exactly a window of lines.
    size_t written = c.write_until_stalled(flood, kStalled);
    ASSERT_LT(written, flood.size()) << "the gate read on past its window";
    ASSERT_TRUE(wait_until([&] { return sink_.size() >= size_t(kWindow); }));
    EXPECT_EQ(sink_.size(), size_t(kWindow)) << "more lines than the window";

    // Each resume(fd, window) makes room for one more window, and never more.
    std::thread rest([&] { c.write(flood.substr(written)); });
    size_t handed = kWindow;
    while (handed < kLines) {
        command("resume", fd, kWindow);
        size_t next = std::min(handed + size_t(kWindow), kLines);
        if (!wait_until([&] { return sink_.size() >= next; }, std::chrono::seconds(10))) break;
        if (sink_.size() != next) break;
        handed = next;
    }
    EXPECT_EQ(handed, kLines) << "stopped at " << sink_.size() << " lines";
    rest.join();
    EXPECT_EQ(sink_.size(), kLines);
    EXPECT_EQ(sink_.first_wrong(kLineSize), kLines) << "a line lost or out of order";
}

TEST_F(GateTest, HalfcloseDeliversTheLastLineAndLeavesTheSocketOpenForTheAnswers) {
    int port = open(16, "lines", 0, 1, [](LuaPacker& p) { p.string("halfclose").boolean(true); });
    Client c(port);
    int32_t fd = opened(1);
    command("forward", fd, 0, agent_);
    c.write("first\nlast");  // the last line has no line end: the client's EOF ends it
    c.shutdown_write();
    EXPECT_EQ(c.read(7 + 6), header2("first") + header2("last"));
    ASSERT_TRUE(watchdog_seen_.find(notice("close", fd)));
    // The gate has forgotten the connection; its socket is the answering service's to close.
    ASSERT_TRUE(server_.send(fd, Payload::copy(std::string_view("bye"))));
    EXPECT_EQ(c.read(3), "bye");
    server_.close(fd);
    EXPECT_TRUE(c.closed_by_peer());
    EXPECT_EQ(watchdog_seen_.count(notice("error", fd)), 0u);
}

TEST_F(GateTest, SkipLongCutsAnOverLongLineAndTheConnectionReadsOn) {
    int port = open(16, "lines", 8, 1, [](LuaPacker& p) { p.string("skip_long").boolean(true); });
    Client c(port);
    int32_t fd = opened(1);
    command("forward", fd, 0, agent_);
    // The over-long line comes in two writes; its packet is its first max_packet + 1 bytes, so
    // the agent can tell it was cut and answer it; the rest of it is dropped up to its end.
    c.write("ok\n" + std::string(20, 'x'));
    EXPECT_EQ(c.read(4 + 11), header2("ok") + header2(std::string(9, 'x')));
    c.write(std::string(5000, 'y') + "\r\nnext\n");
    EXPECT_EQ(c.read(6), header2("next"));
    c.write("after\n");
    EXPECT_EQ(c.read(7), header2("after")) << "the connection stays open";
    EXPECT_EQ(watchdog_seen_.count(notice("error", fd)), 0u);
    EXPECT_EQ(agent_seen_.count([](const Record& r) { return r.type == MessageType::client; }), 4u);
}

TEST_F(GateTest, LinesEndWithCrAloneOrCrNulAsTelnetClientsSend) {
    int port = open(16, "lines");
    Client c(port);
    int32_t fd = opened(1);
    command("forward", fd, 0, agent_);
    c.write(std::string("look\rsay hi\r\0go north\r", 22));
    EXPECT_EQ(c.read(6 + 8 + 10), header2("look") + header2("say hi") + header2("go north"));
    // The NUL of a CR NUL in the next read still belongs to the CR: no empty or NUL line.
    c.write(std::string("\0quit\r\n", 7));
    EXPECT_EQ(c.read(6), header2("quit"));
    EXPECT_EQ(agent_seen_.count([](const Record& r) { return r.type == MessageType::client; }), 4u);
}

TEST_F(GateTest, BadCommandsGetErrorsThatSayWhat) {
    LuaPacker p(codec_);
    p.string("open").hash(1).string("port").string("eighty");
    Record r = call(p);
    EXPECT_EQ(r.type, MessageType::error);
    EXPECT_EQ(r.bytes, "gate: open: conf.port must be an integer in 0..65535");
    p.string("forward").integer(12345);
    r = call(p);
    EXPECT_EQ(r.bytes, "gate: forward: no connection 12345");
    p.string("fly");
    r = call(p);
    EXPECT_EQ(r.bytes, "gate: unknown command fly");
    ASSERT_GT(open(4), 0);
    p.string("open").hash(1).string("port").integer(0);
    r = call(p);
    EXPECT_EQ(r.bytes, "gate: open: already listening");
}

}  // namespace
}  // namespace skyhive
