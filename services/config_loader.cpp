#include "services/config_loader.h"

#include <lua.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "services/config_keys.h"

namespace skyhive {
namespace {

namespace fs = std::filesystem;

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}

// Level of the long bracket opening at s[i] ("[[" is 0, "[==[" is 2), or -1 when none opens there.
int long_bracket_level(std::string_view s, size_t i) {
    if (i >= s.size() || s[i] != '[') return -1;
    size_t j = i + 1;
    while (j < s.size() && s[j] == '=')
        ++j;
    return j < s.size() && s[j] == '[' ? int(j - i - 1) : -1;
}

std::string long_bracket_close(int level) {
    return "]" + std::string(size_t(level), '=') + "]";
}

// Replaces `$NAME` with the environment variable NAME in code and string literals, leaving
// comments alone. Only as much of Lua's lexer as that needs: short strings with escapes, long
// strings and comments of any level. Malformed input (an unfinished string) is copied through
// for Lua to report. Lines are counted in the original text, so errors name the line the user
// sees; an expansion keeps the line count unless the variable's value itself holds newlines.
// Thread: one instance per load, used by one thread.
class EnvExpander {
  public:
    EnvExpander(std::string_view src, const std::string& chunk) : src_(src), chunk_(chunk) {}

    Result<std::string> run() {
        out_.reserve(src_.size());
        while (i_ < src_.size() && error_.empty()) {
            char c = src_[i_];
            if (c == '-' && i_ + 1 < src_.size() && src_[i_ + 1] == '-') {
                comment();
            } else if (int level = long_bracket_level(src_, i_); level >= 0) {
                long_string(level);
            } else if (c == '"' || c == '\'') {
                short_string(c);
            } else if (c == '$' && i_ + 1 < src_.size() && is_name_start(src_[i_ + 1])) {
                expand(Context::code, 0);
            } else {
                take(1);
            }
        }
        if (!error_.empty()) return Error{std::move(error_)};
        return std::move(out_);
    }

  private:
    enum class Context { code, short_string, long_string };

    // Copies n bytes of source to the output.
    void take(size_t n) {
        n = std::min(n, src_.size() - i_);
        for (size_t k = i_; k < i_ + n; ++k)
            line_ += src_[k] == '\n';
        out_.append(src_.substr(i_, n));
        i_ += n;
    }

    void comment() {
        int level = long_bracket_level(src_, i_ + 2);
        size_t end = src_.npos;
        if (level >= 0) {
            std::string close = long_bracket_close(level);
            end = src_.find(close, i_ + 2 + size_t(level) + 2);
            if (end != src_.npos) end += close.size();
        } else {
            end = src_.find('\n', i_);
        }
        take(end == src_.npos ? src_.size() - i_ : end - i_);
    }

    void long_string(int level) {
        std::string close = long_bracket_close(level);
        take(size_t(level) + 2);
        while (i_ < src_.size() && error_.empty()) {
            if (src_.compare(i_, close.size(), close) == 0) {
                take(close.size());
                return;
            }
            if (src_[i_] == '$' && i_ + 1 < src_.size() && is_name_start(src_[i_ + 1])) {
                expand(Context::long_string, level);
            } else {
                take(1);
            }
        }
    }

    void short_string(char quote) {
        take(1);
        while (i_ < src_.size() && error_.empty()) {
            char c = src_[i_];
            if (c == '\\') {
                take(2);  // an escape never ends the string nor starts an expansion
            } else if (c == quote) {
                take(1);
                return;
            } else if (c == '\n') {
                return;  // unfinished string: Lua reports it
            } else if (c == '$' && i_ + 1 < src_.size() && is_name_start(src_[i_ + 1])) {
                expand(Context::short_string, 0);
            } else {
                take(1);
            }
        }
    }

    // src_[i_] is '$' and a name follows.
    void expand(Context ctx, int level) {
        size_t end = i_ + 1;
        while (end < src_.size() && is_name_char(src_[end]))
            ++end;
        std::string name(src_.substr(i_ + 1, end - i_ - 1));
        const char* value = std::getenv(name.c_str());
        std::string where =
            chunk_ + ":" + std::to_string(line_) + ": environment variable $" + name;
        if (!value) {
            error_ = where + " is not set";
            return;
        }
        i_ = end;
        switch (ctx) {
            case Context::code:
                out_ += value;
                break;
            case Context::short_string:
                append_escaped(value);
                break;
            case Context::long_string:
                // A long string has no escapes: a value holding the closing bracket would end it.
                if (std::string_view(value).find(long_bracket_close(level)) != std::string::npos) {
                    error_ = where + " contains '" + long_bracket_close(level) +
                             "' and cannot be expanded inside this long string";
                    return;
                }
                out_ += value;
                break;
        }
    }

    // Inside a quoted string the value must stay the value: quotes, backslashes and control
    // bytes are escaped (decimal escapes are 3 digits so a following digit cannot join them).
    void append_escaped(std::string_view value) {
        for (unsigned char c : value) {
            if (c == '\\' || c == '"' || c == '\'') {
                out_ += '\\';
                out_ += char(c);
            } else if (c == '\n') {
                out_ += "\\n";
            } else if (c < 0x20 || c == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\%03u", unsigned(c));
                out_ += buf;
            } else {
                out_ += char(c);
            }
        }
    }

    std::string_view src_;
    const std::string& chunk_;
    std::string out_;
    std::string error_;
    size_t i_ = 0;
    int line_ = 1;
};

Result<std::string> read_file(const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) return Error::from_errno("cannot open config '" + path + "'");
    std::string text;
    char buf[8192];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0)
        text.append(buf, n);
    if (std::ferror(f.get())) return Error::from_errno("cannot read config '" + path + "'");
    return text;
}

// The identity of a file for cycle detection: symlinks and "a/../" resolved when it exists.
std::string file_identity(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::canonical(path, ec);
    if (ec) p = fs::absolute(path, ec).lexically_normal();
    return p.string();
}

// The directory whose relative paths the file `name` means: absolute, with symlinks resolved
// (so that "../x" means what the file system means), the file itself not followed.
fs::path base_dir(const std::string& name) {
    std::error_code ec;
    fs::path parent = fs::path(name).parent_path();
    fs::path dir = parent.empty() ? fs::current_path(ec) : fs::absolute(parent, ec);
    fs::path real = fs::weakly_canonical(dir, ec);
    return ec ? dir.lexically_normal() : real;
}

std::string resolve_path(std::string_view path, const fs::path& base) {
    if (path.empty() || path.front() == '/') return std::string(path);
    return (base / fs::path(path)).lexically_normal().string();
}

// `value` of a path key with its relative paths taken from `base`.
std::string resolve_value(std::string_view value, const PathKey& key, const fs::path& base) {
    if (key.off && value == "false") return std::string(value);
    if (key.kind == PathKey::Kind::one) return resolve_path(value, base);
    std::string out;
    for (size_t pos = 0;;) {
        size_t end = value.find(';', pos);
        out += resolve_path(value.substr(pos, end - pos), base);  // "" (Lua's ";;") stays ""
        if (end == std::string_view::npos) return out;
        out += ';';
        pos = end + 1;
    }
}

// What one load carries through the Lua callbacks (a light userdata upvalue).
// Thread: the loading thread only.
struct LoadState {
    Config* config;
    const PathKeys* paths;
    std::vector<std::string> names;  // files being run, outermost first, as the user sees them
    std::vector<std::string> ids;    // file_identity() of each
    std::vector<fs::path> dirs;      // base_dir() of each
    std::string resolved;            // the last value resolve_assigned() made
    std::string flat;                // the last table value flatten_table() made
};

// A path key's value assigned in the file being run, resolved into st.resolved. False when `key`
// is not a path key resolved at assignment.
bool resolve_assigned(LoadState& st, const char* key, const char* value) {
    auto it = st.paths->find(std::string_view(key));
    if (it == st.paths->end() || !it->second.base_key.empty() || st.dirs.empty()) return false;
    st.resolved = resolve_value(value, it->second, st.dirs.back());
    return true;
}

// Keys resolved against another key's directory (logger in logpath), once the whole config is
// read; without that key, against the directory of the file that set them.
void resolve_deferred(Config& config, const PathKeys& paths) {
    for (const auto& [name, key] : paths) {
        if (key.base_key.empty()) continue;
        const Config::Entry* e = config.entry(name);
        if (!e || e->value.empty() || e->value.front() == '/') continue;
        if (key.off && e->value == "false") continue;
        const Config::Entry* base = config.entry(key.base_key);
        fs::path dir = base && !base->value.empty() ? fs::path(base->value) : base_dir(e->file);
        std::string value = resolve_value(e->value, key, dir);
        config.set(name, std::move(value), e->file, e->line);
    }
}

int kEnvKey;  // registry key of the env table every chunk runs in

// Runs `text` as chunk `name` in the env table. Returns a Lua status; on error the message is on
// the stack top. Never raises a Lua error itself, so it may hold C++ objects.
int run_chunk(lua_State* L, LoadState& st, std::string_view text, const std::string& name) {
    Result<std::string> code = EnvExpander(text, name).run();
    if (!code) {
        lua_pushstring(L, code.error().message.c_str());
        return LUA_ERRRUN;
    }
    std::string chunkname = "@" + name;
    int status = luaL_loadbufferx(L, code->data(), code->size(), chunkname.c_str(), "t");
    if (status != LUA_OK) return status;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kEnvKey);
    lua_setupvalue(L, -2, 1);  // the chunk's only upvalue is _ENV
    st.names.push_back(name);
    st.ids.push_back(file_identity(name));
    st.dirs.push_back(base_dir(name));
    status = lua_pcall(L, 0, 0, 0);
    st.names.pop_back();
    st.ids.pop_back();
    st.dirs.pop_back();
    return status;
}

// include "path": resolves path against the including file's directory, refuses cycles, and
// runs the file. Like run_chunk, leaves an error message on the stack and returns its status.
int include_file(lua_State* L, LoadState& st, const char* rel) {
    luaL_where(L, 1);  // the include call site, "file:line: "
    fs::path target(rel);
    if (target.is_relative() && !st.names.empty()) {
        target = fs::path(st.names.back()).parent_path() / target;
    }
    std::string name = target.lexically_normal().string();
    std::string id = file_identity(name);
    for (size_t k = 0; k < st.ids.size(); ++k) {
        if (st.ids[k] != id) continue;
        std::string chain;
        for (size_t j = k; j < st.names.size(); ++j)
            chain += st.names[j] + " -> ";
        lua_pushfstring(L, "include cycle: %s%s", chain.c_str(), name.c_str());
        lua_concat(L, 2);
        return LUA_ERRRUN;
    }
    Result<std::string> text = read_file(name);
    if (!text) {
        lua_pushstring(L, text.error().message.c_str());
        lua_concat(L, 2);
        return LUA_ERRRUN;
    }
    lua_pop(L, 1);
    return run_chunk(L, st, *text, name);
}

LoadState& state_of(lua_State* L) {
    return *static_cast<LoadState*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// Lua callbacks raise errors with longjmp: no C++ object with a destructor may be alive in their
// frames when they do, so the C++ work happens in helpers that return first.
int l_include(lua_State* L) {
    const char* rel = luaL_checkstring(L, 1);
    if (include_file(L, state_of(L), rel) != LUA_OK) return lua_error(L);
    return 0;
}

const char* plural_type(int type) {
    switch (type) {
        case LUA_TTABLE:
            return "tables";
        case LUA_TFUNCTION:
            return "functions";
        case LUA_TTHREAD:
            return "coroutines";
        default:
            return "userdata";
    }
}

void record(LoadState& st, lua_State* L, const char* key, const char* value) {
    if (!value) {
        st.config->erase(key);
        return;
    }
    const char* file = "?";
    int line = 0;
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
        file = ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
        line = ar.currentline;
    }
    st.config->set(key, value, file, line);
}

// A table value of names to strings ({node1 = "127.0.0.1:9001"}, skynet's clustername style)
// as the text "node1=127.0.0.1:9001, node2=..." (names sorted) in st.flat. On a key or value of
// another type, leaves an error message on the stack and returns false (the caller raises it,
// once this frame's C++ objects are gone).
bool flatten_table(lua_State* L, int idx, const char* key, LoadState& st) {
    std::vector<std::pair<std::string, std::string>> items;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            luaL_where(L, 1);
            lua_pushfstring(L,
                            "key '%s': a table value maps names to strings "
                            "({node1 = \"127.0.0.1:9001\"}), not %s to %s",
                            key, luaL_typename(L, -3), luaL_typename(L, -2));
            lua_concat(L, 2);
            return false;
        }
        items.emplace_back(lua_tostring(L, -2), lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    std::sort(items.begin(), items.end());
    st.flat.clear();
    for (const auto& [name, value] : items)
        st.flat += (st.flat.empty() ? "" : ", ") + name + "=" + value;
    return true;
}

// __newindex of the env table (upvalues: LoadState, values table). The env table itself stays
// empty, so every assignment comes through here; values live in the values table, which the
// env's __index reads, so `root = "./"; path = root .. "x"` works as in skynet.
int l_newindex(lua_State* L) {
    if (lua_type(L, 2) != LUA_TSTRING) {
        return luaL_error(L, "config keys must be strings, not %s", luaL_typename(L, 2));
    }
    const char* key = lua_tostring(L, 2);
    const char* value = nullptr;
    switch (int type = lua_type(L, 3)) {
        case LUA_TNIL:
            break;
        case LUA_TBOOLEAN:
            value = lua_toboolean(L, 3) ? "true" : "false";
            break;
        case LUA_TNUMBER:
            lua_pushvalue(L, 3);
            value = lua_tostring(L, -1);  // numbers in Lua's own format: 8, 0.5, 8.0
            break;
        case LUA_TSTRING:
            value = lua_tostring(L, 3);
            // Later chunks read the resolved path: `luaservice .. ";x"` keeps what it adds to.
            if (LoadState& st = state_of(L); resolve_assigned(st, key, value)) {
                lua_pushlstring(L, st.resolved.data(), st.resolved.size());
                lua_replace(L, 3);
                value = lua_tostring(L, 3);
            }
            break;
        case LUA_TTABLE:
            if (!flatten_table(L, 3, key, state_of(L))) return lua_error(L);
            value = state_of(L).flat.c_str();
            break;
        default:
            return luaL_error(L, "key '%s': %s are not allowed as config values", key,
                              plural_type(type));
    }
    record(state_of(L), L, key, value);
    lua_settop(L, 3);
    lua_rawset(L, lua_upvalueindex(2));
    return 0;
}

// Sets up the env table and its include function.
void open_env(lua_State* L, LoadState& st) {
    lua_newtable(L);  // values
    lua_newtable(L);  // metatable of values: falls back to the built-ins
    lua_newtable(L);
    lua_pushlightuserdata(L, &st);
    lua_pushcclosure(L, l_include, 1);
    lua_setfield(L, -2, "include");
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);

    lua_newtable(L);  // env
    lua_newtable(L);  // its metatable
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushlightuserdata(L, &st);
    lua_pushvalue(L, -4);
    lua_pushcclosure(L, l_newindex, 2);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kEnvKey);
    lua_pop(L, 1);
}

}  // namespace

Result<Config> load_config(const std::string& path) {
    return load_config(path, node_path_keys());
}

Result<Config> load_config(const std::string& path, const PathKeys& paths) {
    Result<std::string> text = read_file(path);
    if (!text) return text.error();
    return parse_config(*text, path, paths);
}

Result<Config> parse_config(std::string_view text, const std::string& name) {
    return parse_config(text, name, node_path_keys());
}

Result<Config> parse_config(std::string_view text, const std::string& name, const PathKeys& paths) {
    std::unique_ptr<lua_State, void (*)(lua_State*)> owner(luaL_newstate(), &lua_close);
    lua_State* L = owner.get();
    if (!L) return Error{"cannot create a Lua state to read config '" + name + "'"};
    luaL_openlibs(L);  // not visible to the chunk, but string methods ("x"):rep(2) need them

    Config config(name);
    LoadState st{&config, &paths, {}, {}, {}, {}, {}};
    open_env(L, st);
    if (run_chunk(L, st, text, name) != LUA_OK) {
        const char* msg = lua_tostring(L, -1);
        return Error{msg ? msg
                         : std::string("config '") + name + "': error object is a " +
                               luaL_typename(L, -1)};
    }
    resolve_deferred(config, paths);
    return config;
}

}  // namespace skyhive
