// The admin endpoint of a real node running the game against a real redis-server: the dashboard
// loaded in headless Chromium shows that node's live data (its service count, the players who
// just logged in, plots with points, a row per service), /metrics passes promtool, and the
// access rules hold (loopback only unless allowed and a token is set; the token on every request
// for data; no console command that changes the node unless admin_write).
//
// SKYHIVE_DASHBOARD_SCREENSHOT=/path/dashboard.png in the environment also saves a screenshot of
// the dashboard with live data there (how docs/images/dashboard.png is made).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "test/integration/admin_support.h"
#include "test/integration/game_support.h"

namespace skyhive::test::game {
namespace {

using admin::count_of;
using admin::get;
using admin::text_of;

constexpr const char* kToken = "test-token-0123456789";

// The node's admin port, once it has said it listens; 0 if it does not within the deadline.
int wait_admin_port(const GameNode& node) {
    for (auto until = Clock::now() + kDeadline; Clock::now() < until;) {
        if (int port = admin::admin_port(node.output())) return port;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

// The address of the first service whose console `list` line contains `what`, or "".
std::string address_of(int console_port, const std::string& what) {
    for (auto& line : game::console(console_port, "list").lines)
        if (line.find(what) != std::string::npos) return line.substr(0, line.find(' '));
    return "";
}

// Runs `command` (a shell line) and returns its exit status and output.
std::pair<int, std::string> shell(const TempDir& dir, const std::string& command) {
    static int runs = 0;
    Process p({"/bin/sh", "-c", command}, dir.file("sh." + std::to_string(++runs) + ".out"));
    int status = p.wait(std::chrono::seconds(60));
    return {status, p.output()};
}

using AdminDashboardTest = GameFixture;

TEST_F(AdminDashboardTest, ShowsTheNodesLiveDataInABrowser) {
    if (admin::chromium_binary().empty()) GTEST_SKIP() << "chromium is not installed";
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    int port = wait_admin_port(node);
    ASSERT_NE(port, 0) << node.output();
    int console = node.console_port();
    ASSERT_NE(console, 0) << node.output();

    Player alice(node.port()), bob(node.port());
    ASSERT_TRUE(alice.ready() && bob.ready());
    EXPECT_EQ(alice.command("login alice secret"),
              "welcome alice: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");
    EXPECT_EQ(alice.command("give bob 5"), "gave 5 gold to bob; you have 95 gold");
    std::string world = address_of(console, "snlua world");
    ASSERT_FALSE(world.empty());

    // Eight seconds of the page's time: a snapshot a second, so the rate plots get points.
    int before = service_count(console);
    std::string dom = admin::run_chromium(dir_, "http://127.0.0.1:" + std::to_string(port) + "/",
                                          8000, "--dump-dom");
    int after = service_count(console);
    ASSERT_NE(dom.find("id=\"services\""), std::string::npos) << dom;
    ASSERT_EQ(before, after) << "the node's services changed while the page was loading";

    EXPECT_EQ(admin::attribute_of(dom, "status", "data-state"), "live") << dom;
    EXPECT_EQ(text_of(dom, "node-name"), "n1");
    EXPECT_EQ(text_of(dom, "service-count"), std::to_string(before));
    EXPECT_EQ(count_of(dom, "<tr data-address=\""), size_t(before)) << dom;
    EXPECT_NE(dom.find("<tr data-address=\"" + world + "\">"), std::string::npos) << world;
    EXPECT_EQ(text_of(dom, "players-online"), "2");
    for (const char* plot : {"plot-messages", "plot-players"}) {
        auto points = admin::attribute_of(dom, plot, "data-points");
        ASSERT_TRUE(points) << plot;
        EXPECT_GE(std::atoi(points->c_str()), 3) << plot;
    }
    // The page's messages/s: the node handles messages all the time (timers, the world's saves).
    auto last = admin::attribute_of(dom, "plot-messages", "data-last");
    ASSERT_TRUE(last);
    EXPECT_GT(std::atof(last->c_str()), 0.0);
    // Redis is in use: the commands plot has points too.
    auto redis_points = admin::attribute_of(dom, "plot-redis-ops", "data-points");
    ASSERT_TRUE(redis_points);
    EXPECT_GE(std::atoi(redis_points->c_str()), 3);
    // No Sentinel, no cluster peers here: those panels say so.
    EXPECT_NE(dom.find("none: the node's Redis is not watched by Sentinel"), std::string::npos);

    if (const char* shot = std::getenv("SKYHIVE_DASHBOARD_SCREENSHOT")) {
        // Traffic while the page records 40 s of the node: players chatting and trading, also
        // with a player on a second node (so the cluster panel has a peer).
        GameNode peer(dir_, "n2", redis_port());
        ASSERT_TRUE(peer.start()) << peer.output();
        std::atomic<bool> stop{false};
        std::thread traffic([&] {
            Player carol(node.port()), dave(peer.port());
            carol.command("login carol secret");
            dave.command("login dave secret");
            for (int i = 0; !stop; ++i) {
                alice.command(i % 2 ? "give bob 1" : "give carol 1");
                bob.command(i % 3 ? "give alice 1" : "say hello");
                carol.command(i % 4 ? "who" : "give dave 1");
                dave.command(i % 5 ? "tell alice hi" : "give carol 1");
                std::this_thread::sleep_for(std::chrono::milliseconds(20 + (i * 37) % 60));
            }
        });
        std::string out =
            admin::run_chromium(dir_, "http://127.0.0.1:" + std::to_string(port) + "/", 40000,
                                std::string("--screenshot=") + shot);
        stop = true;
        traffic.join();
        EXPECT_NE(out.find("written to file"), std::string::npos) << out;
        EXPECT_EQ(peer.stop(), 0) << peer.output();
    }
    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST_F(AdminDashboardTest, MetricsPassPromtoolAndStateIsJson) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    int port = wait_admin_port(node);
    ASSERT_NE(port, 0) << node.output();

    auto metrics = get(port, "/metrics");
    ASSERT_EQ(metrics.status, 200) << metrics.head;
    EXPECT_EQ(metrics.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    dir_.write("metrics.txt", metrics.body);
    auto [status, out] = shell(dir_, "promtool check metrics < " + dir_.file("metrics.txt"));
    EXPECT_EQ(status, 0) << out << "\n" << metrics.body;

    auto state = get(port, "/api/state");
    ASSERT_EQ(state.status, 200);
    EXPECT_EQ(state.header("content-type"), "application/json");
    EXPECT_EQ(state.body.front(), '{');
    EXPECT_NE(state.body.find("\"services\":[{\"address\":\":"), std::string::npos) << state.body;

    auto page = get(port, "/");
    EXPECT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("<script src=\"/dashboard.js\""), std::string::npos);
    EXPECT_EQ(get(port, "/dashboard.js").status, 200);
    EXPECT_EQ(get(port, "/dashboard.css").status, 200);
    EXPECT_EQ(get(port, "/nothing").status, 404);
    EXPECT_EQ(admin::http(port, "POST", "/api/state").status, 405);
    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST_F(AdminDashboardTest, RemoteNeedsAllowAndTokenAndTheTokenIsRequired) {
    // Not loopback, not allowed: the node does not start, and says which line to change.
    for (const char* extra :
         {"admin = \"0.0.0.0:0\"\n", "admin = \"0.0.0.0:0\"\nadmin_allow_remote = true\n"}) {
        GameNode refused(dir_, "refused", redis_port(), extra);
        EXPECT_FALSE(refused.start());
        EXPECT_NE(refused.output().find("key 'admin': '0.0.0.0:0' is not a loopback address"),
                  std::string::npos)
            << refused.output();
        EXPECT_EQ(refused.output().find("admin: listening"), std::string::npos);
    }

    // Allowed with a token (served on loopback here: the rule is the same on any address).
    GameNode node(dir_, "n1", redis_port(),
                  std::string("admin_allow_remote = true\nadmin_token = \"") + kToken + "\"\n");
    ASSERT_TRUE(node.start()) << node.output();
    int port = wait_admin_port(node);
    ASSERT_NE(port, 0) << node.output();
    const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
    for (const char* path : {"/metrics", "/api/state", "/console/list"}) {
        auto none = get(port, path);
        EXPECT_EQ(none.status, 401) << path;
        EXPECT_EQ(none.header("www-authenticate"), "Bearer realm=\"skyhive admin\"") << path;
        EXPECT_EQ(get(port, path, "Authorization: Bearer wrong-token-0123456789\r\n").status, 401)
            << path;
        EXPECT_EQ(get(port, path, auth).status, 200) << path;
    }
    // The page itself holds no data: it loads, then asks for the token.
    EXPECT_EQ(get(port, "/").status, 200);
    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST_F(AdminDashboardTest, ConsoleChangesTheNodeOnlyWithAdminWrite) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    int port = wait_admin_port(node);
    ASSERT_NE(port, 0) << node.output();
    int console = node.console_port();

    auto list = get(port, "/console/list");
    EXPECT_EQ(list.status, 200);
    EXPECT_NE(list.body.find("snlua world"), std::string::npos) << list.body;
    EXPECT_NE(list.body.find("<CMD OK>"), std::string::npos) << list.body;
    EXPECT_EQ(list.header("content-type"), "text/plain; charset=utf-8");
    // A service to try to kill: refused, and it lives on.
    std::string target = address_of(console, "snlua service_mgr");
    ASSERT_FALSE(target.empty());
    auto kill = get(port, "/console/kill/" + target);
    EXPECT_EQ(kill.status, 403) << kill.body;
    EXPECT_NE(kill.body.find("<CMD Error>"), std::string::npos) << kill.body;
    EXPECT_FALSE(address_of(console, "snlua service_mgr").empty());
    EXPECT_EQ(get(port, "/console/gc").status, 403);
    // An unknown command is 404, a command that fails 400, and the console stays usable.
    EXPECT_EQ(get(port, "/console/nosuchcommand").status, 404);
    auto bad = get(port, "/console/info/:00ffffff");
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_NE(bad.body.find("<CMD Error>"), std::string::npos) << bad.body;
    EXPECT_EQ(get(port, "/console/list").status, 200);
    // A profile samples for as long as asked, past the endpoint's usual 5 s limit on the console.
    std::string world = address_of(console, "snlua world");
    ASSERT_FALSE(world.empty());
    auto profile = get(port, "/console/profile/" + world + "/5.5");
    EXPECT_EQ(profile.status, 200) << profile.body;
    EXPECT_NE(profile.body.find("samples, one every"), std::string::npos) << profile.body;
    EXPECT_EQ(node.stop(), 0) << node.output();

    GameNode writable(dir_, "n2", redis_port(), "admin_write = true\n");
    ASSERT_TRUE(writable.start()) << writable.output();
    port = wait_admin_port(writable);
    ASSERT_NE(port, 0) << writable.output();
    auto gc = get(port, "/console/gc");
    EXPECT_EQ(gc.status, 200) << gc.body;
    EXPECT_EQ(writable.stop(), 0) << writable.output();
}

}  // namespace
}  // namespace skyhive::test::game
