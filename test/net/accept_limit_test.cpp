// Descriptor exhaustion: a listener that hits EMFILE logs it once, does not spin, and accepts
// again as soon as descriptors are free.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <set>
#include <vector>

#include "net/socket_server.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

// The RLIMIT_NOFILE that leaves exactly `spare` descriptor numbers free (the kernel hands out the
// lowest free number below the limit; open fds above it, inherited ones say, do not count).
rlim_t limit_leaving(int spare) {
    std::set<int> used;
    DIR* d = ::opendir("/proc/self/fd");
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.') used.insert(std::atoi(e->d_name));
    }
    used.erase(::dirfd(d));
    ::closedir(d);
    int fd = 0;
    for (int free_seen = 0;; ++fd) {
        if (!used.count(fd) && ++free_seen == spare) break;
    }
    return rlim_t(fd + 1);
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

TEST(AcceptLimitTest, AcceptFloodUnderALowFdLimitSurvivesAndRecovers) {
    constexpr int kClients = 40;
    constexpr int kSpare = 10;  // descriptors left for accepting

    std::mutex log_mutex;
    std::vector<std::string> logs;
    SocketServerOptions options;
    options.log = [&](std::string_view line) {
        std::lock_guard g(log_mutex);
        logs.emplace_back(line);
    };
    auto log_count = [&] {
        std::lock_guard g(log_mutex);
        return logs.size();
    };
    EventSink sink;
    SocketServer server(sink, options);
    ASSERT_TRUE(server.start().ok());
    const Handle svc{1};
    auto l = server.listen(svc, "127.0.0.1", 0, 256);
    ASSERT_TRUE(l.ok());

    // The flood waits in the backlog; the listener is not started yet.
    std::vector<int> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(connect_local(l->port));
        ASSERT_GE(clients.back(), 0);
    }

    rlimit saved{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rlimit low{limit_leaving(kSpare), saved.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct Restore {
        rlimit r;
        ~Restore() { setrlimit(RLIMIT_NOFILE, &r); }
    } restore{saved};

    server.start(l->id);
    int accepted = 0;
    while (accepted < kSpare) {
        auto e = sink.next(svc);
        ASSERT_TRUE(e) << "accepted " << accepted;
        ASSERT_EQ(e->type(), SocketEventType::accepted);
        ++accepted;
    }
    ASSERT_TRUE(wait_until([&] { return log_count() >= 1; }));
    {
        std::lock_guard g(log_mutex);
        EXPECT_NE(logs[0].find("Too many open files"), std::string::npos) << logs[0];
    }
    // Out of descriptors: over several retry periods, nothing is accepted, nothing more is
    // logged, and the socket thread does not burn the CPU retrying.
    double cpu0 = cpu_seconds();
    EXPECT_TRUE(sink.none_within(svc, 350ms));
    EXPECT_LT(cpu_seconds() - cpu0, 0.15);
    EXPECT_EQ(log_count(), 1u);

    // The service closes what it accepts: descriptors free up and the backlog drains.
    auto info = server.snapshot();
    for (const SocketInfo& s : info) {
        if (s.kind == SocketKind::tcp) server.close(s.id);
    }
    while (accepted < kClients) {
        auto e = sink.next(svc);
        ASSERT_TRUE(e) << "accepted " << accepted << " of " << kClients;
        if (e->type() != SocketEventType::accepted) continue;  // closed events of ours
        ++accepted;
        server.close(e->ud());
    }
    ASSERT_TRUE(wait_until([&] { return log_count() >= 2; }));
    {
        std::lock_guard g(log_mutex);
        EXPECT_NE(logs[1].find("works again"), std::string::npos) << logs[1];
    }
    // Still a working listener once the limit is back.
    setrlimit(RLIMIT_NOFILE, &saved);
    int late = connect_local(l->port);
    ASSERT_GE(late, 0);
    auto e = sink.next_of(svc, SocketEventType::accepted);
    ASSERT_TRUE(e);
    ::close(late);
    for (int fd : clients)
        ::close(fd);
}

}  // namespace
}  // namespace skyhive::net
