// skyhive: runs one node from a config file.
//   skyhive [config.lua]       (default: config/default.lua)
#include <cstdio>
#include <string>

#include "services/config_loader.h"
#include "services/runtime.h"

int main(int argc, char** argv) {
    using namespace skyhive;
    std::string path = argc > 1 ? argv[1] : "config/default.lua";
    auto config = load_config(path);
    if (!config) {
        std::fprintf(stderr, "skyhive: %s\n", config.error().message.c_str());
        return 2;
    }
    auto runtime = Runtime::create(std::move(config.value()));
    if (!runtime) {
        std::fprintf(stderr, "skyhive: %s\n", runtime.error().message.c_str());
        return 2;
    }
    return runtime.value()->run();
}
