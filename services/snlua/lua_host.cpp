#include "services/snlua/lua_host.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/config.h"

namespace skyhive {

namespace {

Result<std::string> read_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Error::from_errno("cannot open " + path);
    std::string text;
    char buf[16384];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        text.append(buf, n);
    bool failed = std::ferror(f);
    int err = errno;
    std::fclose(f);
    if (failed) return Error::from_errno("cannot read " + path, err);
    return text;
}

int dump_writer(lua_State*, const void* p, size_t size, void* ud) {
    static_cast<std::string*>(ud)->append(static_cast<const char*>(p), size);
    return 0;
}

// package.searchers entry for the C modules built into the binary. Upvalue 1: the LuaHost.
int native_searcher(lua_State* L) {
    auto* host = static_cast<LuaHost*>(lua_touserdata(L, lua_upvalueindex(1)));
    size_t len = 0;
    const char* name = luaL_checklstring(L, 1, &len);
    if (lua_CFunction open = host->native(std::string_view(name, len))) {
        lua_pushcfunction(L, open);
        lua_pushliteral(L, ":built-in:");
        return 2;
    }
    lua_pushfstring(L, "no built-in module '%s'", name);
    return 1;
}

// package.searchers entry for Lua files along package.path, through the host's caches.
// Upvalue 1: the LuaHost; upvalue 2: the package table.
int file_searcher(lua_State* L) {
    auto* host = static_cast<LuaHost*>(lua_touserdata(L, lua_upvalueindex(1)));
    size_t nlen = 0, plen = 0;
    const char* name = luaL_checklstring(L, 1, &nlen);
    lua_getfield(L, lua_upvalueindex(2), "path");
    const char* path = lua_tolstring(L, -1, &plen);
    if (!path) return luaL_error(L, "'package.path' must be a string");
    char file[1024];
    char tried[2048];
    bool found = false;
    {
        std::string misses;
        auto hit = host->search(std::string_view(path, plen), std::string_view(name, nlen),
                                LuaHost::Names::modules, &misses);
        if (hit && hit->size() < sizeof file) {
            std::memcpy(file, hit->c_str(), hit->size() + 1);
            found = true;
        } else {
            std::snprintf(tried, sizeof tried, "%s", misses.c_str());
        }
    }
    if (!found) {
        lua_pushstring(L, tried);
        return 1;
    }
    char err[1024] = "";
    {
        auto loaded = host->load(L, file);
        if (!loaded) std::snprintf(err, sizeof err, "%s", loaded.error().message.c_str());
    }
    if (err[0]) return luaL_error(L, "error loading module '%s':\n\t%s", name, err);
    lua_pushstring(L, file);
    return 2;
}

}  // namespace

Result<LuaHostOptions> LuaHostOptions::from_config(const Config& config) {
    LuaHostOptions o;
    if (auto v = config.get("luaservice")) o.luaservice = *v;
    if (auto v = config.get("lua_path")) o.lua_path = *v;
    if (auto v = config.get("lua_cpath")) o.lua_cpath = *v;
    if (auto v = config.get("lualoader")) o.lualoader = *v;
    if (auto v = config.get("preload")) o.preload = *v;
    auto cache = config.get_bool("lua_codecache", true);
    if (!cache) return cache.error();
    o.codecache = cache.value();
    auto big = config.get_int("lua_gc_incremental_kb", o.gc_incremental_kb, 0, int64_t(1) << 30);
    if (!big) return big.error();
    o.gc_incremental_kb = big.value();
    return o;
}

LuaHost::LuaHost(LuaHostOptions options, std::optional<Error> config_error)
    : options_(std::move(options)), config_error_(std::move(config_error)) {}

void LuaHost::add_native(std::string name, lua_CFunction open) {
    natives_.insert_or_assign(std::move(name), open);
}

lua_CFunction LuaHost::native(std::string_view name) const {
    auto it = natives_.find(name);
    return it == natives_.end() ? nullptr : it->second;
}

Result<void> LuaHost::load(lua_State* L, const std::string& path) {
    if (options_.codecache) {
        std::shared_ptr<const std::string> chunk;
        {
            std::shared_lock guard(chunks_lock_);
            auto it = chunks_.find(path);
            if (it != chunks_.end()) chunk = it->second;
        }
        if (chunk) {
            hits_.fetch_add(1, std::memory_order_relaxed);
            // lua_load is protected: it reports errors by status, never by longjmp.
            if (luaL_loadbufferx(L, chunk->data(), chunk->size(), path.c_str(), "b") == LUA_OK)
                return {};
            Error e{"cannot load the cached chunk of " + path + ": " + lua_tostring(L, -1)};
            lua_pop(L, 1);
            return e;
        }
    }
    auto text = read_file(path);
    if (!text) return text.error();
    misses_.fetch_add(1, std::memory_order_relaxed);
    const std::string chunkname = "@" + path;
    if (luaL_loadbufferx(L, text->data(), text->size(), chunkname.c_str(), "t") != LUA_OK) {
        Error e{lua_tostring(L, -1)};
        lua_pop(L, 1);
        return e;
    }
    if (options_.codecache) {
        auto dumped = std::make_shared<std::string>();
        lua_dump(L, dump_writer, dumped.get(), 0);
        std::unique_lock guard(chunks_lock_);
        chunks_.emplace(path, std::move(dumped));  // a concurrent first load may have won
    }
    return {};
}

std::optional<std::string> LuaHost::search(std::string_view templates, std::string_view name,
                                           Names names, std::string* tried) {
    std::string key;
    key.reserve(templates.size() + name.size() + 4);
    key.append(templates).push_back('\x01');
    key.append(name).push_back('\x01');
    key.push_back(names == Names::modules ? 'd' : 'v');
    if (options_.codecache) {
        std::shared_lock guard(paths_lock_);
        auto it = paths_.find(key);
        if (it != paths_.end()) return it->second;
    }
    std::string stem(name);
    if (names == Names::modules)
        for (char& c : stem)
            if (c == '.') c = '/';
    size_t pos = 0;
    while (pos <= templates.size()) {
        size_t end = templates.find(';', pos);
        if (end == std::string_view::npos) end = templates.size();
        std::string_view tmpl = templates.substr(pos, end - pos);
        pos = end + 1;
        if (tmpl.empty()) continue;
        std::string file;
        for (char c : tmpl) {
            if (c == '?')
                file += stem;
            else
                file.push_back(c);
        }
        if (::access(file.c_str(), R_OK) == 0) {
            if (options_.codecache) {
                std::unique_lock guard(paths_lock_);
                paths_.emplace(std::move(key), file);
            }
            return file;
        }
        if (tried) tried->append("\n\tno file '").append(file).append("'");
    }
    return std::nullopt;
}

void LuaHost::install_searchers(lua_State* L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, LUA_LOADLIBNAME);  // package
    lua_remove(L, -2);
    lua_getfield(L, -1, "searchers");
    // Stock order: 1 preload, 2 Lua files, 3 C files, 4 C root. New: 1 preload, 2 built-in
    // natives, 3 cached Lua files, 4 C files, 5 C root.
    lua_pushlightuserdata(L, this);
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, file_searcher, 2);
    lua_rawseti(L, -2, 2);
    lua_rawgeti(L, -1, 4);
    lua_rawseti(L, -2, 5);
    lua_rawgeti(L, -1, 3);
    lua_rawseti(L, -2, 4);
    lua_rawgeti(L, -1, 2);
    lua_rawseti(L, -2, 3);
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, native_searcher, 1);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
}

void LuaHost::clear_cache() {
    {
        std::unique_lock guard(chunks_lock_);
        chunks_.clear();
    }
    std::unique_lock guard(paths_lock_);
    paths_.clear();
}

}  // namespace skyhive
