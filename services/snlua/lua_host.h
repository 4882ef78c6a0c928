#pragma once

#include <lua.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "core/result.h"

namespace skyhive {

class Config;
class SocketDriver;

// Where Lua services and libraries are found (skynet's config keys). A config file's values come
// resolved by the loader (relative to the file's directory); the defaults, for a config that
// sets none, are skynet's and relative to the current directory.
struct LuaHostOptions {
    std::string luaservice = "./services/lua/?.lua";              // service scripts
    std::string lua_path = "./lualib/?.lua;./lualib/?/init.lua";  // package.path
    std::string lua_cpath = "./luaclib/?.so";                     // package.cpath
    std::string lualoader;  // optional Lua file that replaces the built-in service loader
    std::string preload;    // optional Lua file run before every service's script
    bool codecache = true;  // lua_codecache = false parses every file in every service
    // lua_gc_incremental_kb: a service whose live set passes this many KB leaves Lua's
    // generational collector for the incremental one (see SnluaModule); 0: every service runs
    // the incremental collector.
    int64_t gc_incremental_kb = 1024;

    // Reads luaservice, lua_path, lua_cpath, lualoader, preload, lua_codecache,
    // lua_gc_incremental_kb. Errors name file:line.
    static Result<LuaHostOptions> from_config(const Config& config);
};

// What all Lua services of one node share: the search paths, the C modules compiled into the
// binary (found by require before package.cpath), and the compiled-chunk cache.
//
// The cache keeps each file's bytecode (lua_dump, debug info kept for tracebacks): stock Lua 5.4
// cannot share function prototypes between states, so every state still gets its own copy, but it
// undumps it instead of parsing the source. A file is parsed once per node, when first loaded;
// edits to it are not seen until clear_cache(). Paths found by `require` are cached too (search
// path + module name -> file), so requiring a library costs no file system probing after the
// first service.
//
// Owned by the node's snlua factory and shared by every snlua instance (each holds a reference,
// so the host outlives the last state). Thread: any.
class LuaHost {
  public:
    explicit LuaHost(LuaHostOptions options, std::optional<Error> config_error = std::nullopt);
    LuaHost(const LuaHost&) = delete;
    LuaHost& operator=(const LuaHost&) = delete;

    const LuaHostOptions& options() const { return options_; }
    // Set when the config had an invalid Lua key: every snlua launch then fails with it.
    const std::optional<Error>& config_error() const { return config_error_; }

    // Registers a C module for `require name`. Thread: before the first service starts.
    void add_native(std::string name, lua_CFunction open);
    lua_CFunction native(std::string_view name) const;

    // The node's socket binding for skynet.socketdriver (borrowed; it outlives every service), or
    // null when the node runs no socket server. Thread: set before the first service starts.
    void set_socket_driver(SocketDriver* driver) { socket_driver_ = driver; }
    SocketDriver* socket_driver() const { return socket_driver_; }

    // Pushes the main function of the Lua file at `path` onto L. On failure pushes nothing and
    // returns the error (cannot open, syntax error with file:line).
    Result<void> load(lua_State* L, const std::string& path);

    // How search() reads a name: `modules` turns '.' into '/' (require's rule); `verbatim` keeps
    // it (service names, as skynet's loader does).
    enum class Names : uint8_t { verbatim, modules };
    // The first readable file for `name` along `templates` ("dir/?.lua;..."), '?' replaced by
    // name as `names` says. On failure appends "\n\tno file 'x'" lines to `tried` when given.
    std::optional<std::string> search(std::string_view templates, std::string_view name,
                                      Names names, std::string* tried = nullptr);

    // Replaces the Lua-file searcher in L's package.searchers with one that uses search() and
    // load(), and puts a searcher for the native modules first. Call after luaL_openlibs.
    void install_searchers(lua_State* L);

    // Drops every cached chunk and path (files are parsed again on next use).
    void clear_cache();

    struct CacheStats {
        uint64_t hits = 0;
        uint64_t misses = 0;  // files parsed
    };
    CacheStats cache_stats() const {
        return {hits_.load(std::memory_order_relaxed), misses_.load(std::memory_order_relaxed)};
    }

  private:
    const LuaHostOptions options_;
    const std::optional<Error> config_error_;
    std::map<std::string, lua_CFunction, std::less<>> natives_;
    SocketDriver* socket_driver_ = nullptr;

    // Bytecode by file path; shared_ptr so a reader keeps a chunk while clear_cache drops it.
    mutable std::shared_mutex chunks_lock_;
    std::map<std::string, std::shared_ptr<const std::string>, std::less<>> chunks_;
    // "templates\x01name\x01d" -> file, for found files only (a missing file may appear later).
    mutable std::shared_mutex paths_lock_;
    std::map<std::string, std::string, std::less<>> paths_;

    std::atomic<uint64_t> hits_{0};
    std::atomic<uint64_t> misses_{0};
};

}  // namespace skyhive
