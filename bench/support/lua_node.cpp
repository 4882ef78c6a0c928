#include "bench/support/lua_node.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "core/node.h"
#include "services/config_loader.h"

namespace skyhive::bench {

std::unique_ptr<Runtime> start_runtime(std::string_view config_text,
                                       const std::string& config_name) {
    auto config = parse_config(config_text, config_name);
    if (!config) {
        std::fprintf(stderr, "config: %s\n", config.error().message.c_str());
        return nullptr;
    }
    auto runtime = Runtime::create(std::move(config.value()));
    if (!runtime) {
        std::fprintf(stderr, "runtime: %s\n", runtime.error().message.c_str());
        return nullptr;
    }
    if (auto r = (*runtime)->start(); !r) {
        std::fprintf(stderr, "start: %s\n", r.error().message.c_str());
        return nullptr;
    }
    return std::move(*runtime);
}

int wait_for(const std::function<int()>& get) {
    for (int i = 0; i < 2000; ++i) {
        if (int v = get()) return v;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return 0;
}

int wait_for_env_port(Runtime& runtime, const char* key) {
    return wait_for([&] {
        auto v = runtime.node().env().get(key);
        return v ? std::atoi(v->c_str()) : 0;
    });
}

int stop(Runtime& runtime) {
    runtime.node().request_stop();
    return runtime.wait();
}

}  // namespace skyhive::bench
