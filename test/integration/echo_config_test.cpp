// Black-box test of config/echo.lua and its start script: runs the skyhive binary on it (addresses
// moved to kernel-chosen ports, a debug console added), finds the bound ports in the log, and
// talks to the services over loopback TCP, as telnet would.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "test/integration/line_client.h"
#include "test/integration/process.h"

namespace skyhive::test {
namespace {

// The binary running config/echo.lua plus the `extra` lines, from the repository root.
// Thread: the test's main thread.
class EchoNode {
  public:
    explicit EchoNode(const std::string& extra) {
        dir_.write("node.lua",
                   "include \"" + std::string(SKYHIVE_SOURCE_DIR) + "/config/echo.lua\"\n" + extra);
        process_ = std::make_unique<Process>(
            std::vector<std::string>{SKYHIVE_BINARY, dir_.file("node.lua")}, dir_.file("out.log"),
            SKYHIVE_SOURCE_DIR);
    }

    // The port the log line "<prefix>127.0.0.1:<port>" names; 0 if none came.
    int port(const std::string& prefix) { return process_->wait_for_port(prefix); }
    // SIGTERM, then the exit status.
    int stop() {
        process_->signal(SIGTERM);
        return process_->wait();
    }
    int wait() { return process_->wait(); }
    std::string output() const { return process_->output(); }

  private:
    TempDir dir_;
    std::unique_ptr<Process> process_;
};

TEST(EchoConfig, EchoesLinesFromSeveralClients) {
    EchoNode node("echo = \"127.0.0.1:0\"\n");
    int port = node.port("echo: listening on ");
    ASSERT_GT(port, 0) << node.output();

    LineClient a(port), b(port);
    ASSERT_TRUE(a.connected());
    ASSERT_TRUE(b.connected());
    // A telnet line (CRLF) comes back unchanged.
    ASSERT_TRUE(a.send("hello\r\n"));
    EXPECT_EQ(a.read_bytes(7), "hello\r\n");
    // A line written in pieces comes back once it is complete; clients do not mix.
    ASSERT_TRUE(b.send("sp"));
    ASSERT_TRUE(a.send("from a\n"));
    EXPECT_EQ(a.read_bytes(7), "from a\n");
    ASSERT_TRUE(b.send("lit\n"));
    EXPECT_EQ(b.read_bytes(6), "split\n");
    // Many lines at once, in order; binary bytes other than '\n' pass through.
    std::string many;
    for (int i = 0; i < 2000; ++i)
        many += "line " + std::to_string(i) + " \x01\xff\r\n";
    ASSERT_TRUE(a.send(many));
    EXPECT_EQ(a.read_bytes(many.size()), many);
    // A line over 64 KB is not buffered whole nor echoed: one error line, then the next line.
    ASSERT_TRUE(a.send(std::string(200000, 'x') + "\nafter\n"));
    const std::string refused = "line too long (over 65536 bytes)\nafter\n";
    EXPECT_EQ(a.read_bytes(refused.size()), refused);
    // Half-close: what was complete is echoed, then the service closes its side.
    ASSERT_TRUE(b.send("last\nno newline"));
    b.shutdown_write();
    EXPECT_TRUE(b.wait_eof());
    EXPECT_EQ(b.read_bytes(100), "last\n");

    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST(EchoConfig, RunsTheConsoleTheConfigNames) {
    EchoNode node("echo = \"127.0.0.1:0\"\ndebug_console = \"127.0.0.1:0\"\n");
    int echo = node.port("echo: listening on ");
    int console = node.port("debug console: listening on ");
    ASSERT_TRUE(echo > 0 && console > 0) << node.output();

    LineClient e(echo);
    ASSERT_TRUE(e.send("ping\n"));
    EXPECT_EQ(e.read_bytes(5), "ping\n");

    LineClient c(console);
    std::string welcome = c.read_line().value_or("");
    EXPECT_NE(welcome.find("skyhive"), std::string::npos) << welcome;
    ASSERT_TRUE(c.send("list\r\n"));
    std::vector<std::string> list = c.read_until("<CMD ");
    ASSERT_FALSE(list.empty());
    EXPECT_EQ(list.back(), "<CMD OK>");
    auto lists = [&](const std::string& service) {
        for (auto& line : list)
            if (line.find(service) != std::string::npos) return true;
        return false;
    };
    EXPECT_TRUE(lists("snlua echo 127.0.0.1 0")) << ::testing::PrintToString(list);
    EXPECT_TRUE(lists("snlua debug_console 127.0.0.1 0")) << ::testing::PrintToString(list);

    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST(EchoConfig, ConsoleRefusesARemoteAddressUnlessAllowed) {
    EchoNode node("echo = \"127.0.0.1:0\"\ndebug_console = \"0.0.0.0:0\"\n");
    // The start script fails, so the node stops by itself with a non-zero status.
    EXPECT_GT(node.wait(), 0);
    EXPECT_NE(node.output().find("debug_console_allow_remote"), std::string::npos) << node.output();
}

}  // namespace
}  // namespace skyhive::test
