// skyhive: runs one node from a config file.
//   skyhive [config.lua]
// Without an argument: the installed default config beside the binary
// (PREFIX/bin/skyhive -> PREFIX/share/skyhive/config/default.lua, the layout of
// cmake/Install.cmake), else config/default.lua under the current directory (a source tree).
#include <cstdio>
#include <filesystem>
#include <string>

#include "services/config_loader.h"
#include "services/runtime.h"

// jemalloc's start-up options, read from this symbol (the binary links jemalloc; sanitizer builds
// do not, and ignore it). Without a background thread jemalloc returns freed pages to the system
// only when the arena holding them is used again, so a node that goes idle after a storm keeps
// the storm's peak resident; with one (one is enough for a node), pages unused for the decay
// time (10 s) are returned. oversize_threshold:0 keeps allocations of 8 MB and more in the
// ordinary arenas: jemalloc's own arena for them returns their pages at once, so every large
// message (a 10 MB cluster call is several such buffers) paid a page fault per 4 KB, slow on a
// virtual machine, and held the small messages queued behind it for tens of ms more.
extern "C" const char* malloc_conf;
const char* malloc_conf = "background_thread:true,max_background_threads:1,oversize_threshold:0";

namespace {

std::string default_config() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path installed = exe.parent_path().parent_path() / "share/skyhive/config/default.lua";
        if (fs::is_regular_file(installed, ec)) return installed.string();
    }
    return "config/default.lua";
}

}  // namespace

int main(int argc, char** argv) {
    using namespace skyhive;
    auto config = load_config(argc > 1 ? argv[1] : default_config());
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
