#include "services/demo.h"

#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

#include "core/memory_stats.h"
#include "core/node.h"
#include "core/service.h"

namespace skyhive {

namespace {

// Bounces every text message back to its source.
class Bouncer final : public Module {
  public:
    bool init(Service&, std::string_view) override { return true; }
    void on_message(Service& self, Message& msg) override {
        if (msg.type == MessageType::text)
            self.send(msg.source, MessageType::text, 0, std::move(msg.payload));
    }
};

class Demo final : public Module {
  public:
    bool init(Service& self, std::string_view args) override {
        int pairs = 2;
        if (!args.empty()) std::from_chars(args.data(), args.data() + args.size(), pairs);
        for (int i = 0; i < pairs; ++i) {
            auto a = self.node().launch("demo_bouncer", "");
            auto b = self.node().launch("demo_bouncer", "");
            if (!a || !b) return false;
            bouncers_.push_back(a.value());
            bouncers_.push_back(b.value());
            // b's bounce goes to a, a's to b: source is the other side.
            self.node().send(a.value(), b.value(), MessageType::text, 0, Payload::copy("ping"));
        }
        self.log("demo: " + std::to_string(pairs) +
                 " pairs of services bouncing messages; Ctrl-C stops the node");
        self.timeout(100);
        return true;
    }

    void on_message(Service& self, Message& msg) override {
        if (msg.type != MessageType::response) return;
        uint64_t total = 0;
        for (Handle h : bouncers_)
            self.node().with_service(h, [&](Service& s) { total += s.stats().messages.load(); });
        char line[200];
        int n =
            std::snprintf(line, sizeof line, "demo: %.2fM messages/s", double(total - last_) / 1e6);
        if (auto mem = allocator_stats())
            std::snprintf(line + n, sizeof line - size_t(n),
                          "; jemalloc allocated %.1f MB, active %.1f MB, resident %.1f MB",
                          double(mem->allocated) / 1e6, double(mem->active) / 1e6,
                          double(mem->resident) / 1e6);
        self.log(line);
        last_ = total;
        self.timeout(100);
    }

  private:
    std::vector<Handle> bouncers_;
    uint64_t last_ = 0;
};

}  // namespace

std::unique_ptr<Module> make_demo() {
    return std::make_unique<Demo>();
}
std::unique_ptr<Module> make_demo_bouncer() {
    return std::make_unique<Bouncer>();
}

}  // namespace skyhive
