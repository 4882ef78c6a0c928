#include "services/snlua/snlua.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "core/node.h"
#include "core/service.h"
#include "lualib/native/seri.h"
#include "lualib/native/skynet_sched.h"
#include "lualib/native/socket_driver.h"

// jemalloc's sized free, when the process runs on jemalloc (the skyhive binary; not the
// sanitizer builds): Lua always knows the size of the block it frees, which spares jemalloc the
// lookup of it. Weak, so that binaries without jemalloc link and use free().
extern "C" void sdallocx(void* ptr, size_t size, int flags) __attribute__((weak));

namespace skyhive {

namespace {

// Hands launch details from a Lua service's core.launch to the init of the snlua instance it
// creates: Node::launch runs that init synchronously on the calling thread, and passes it the very
// `args` view the caller gave (so a nested launch cannot pick up its parent's record).
struct PendingLaunch {
    Handle parent;
    int32_t session = 0;
    std::string_view args;
    std::string error;  // filled by the child when its init fails
};
thread_local PendingLaunch* tls_pending = nullptr;

// The allocator's user data is the LuaServiceHost base (skynet.core relies on it).
SnluaModule& module_of(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return *static_cast<SnluaModule*>(static_cast<LuaServiceHost*>(ud));
}

std::string format_handle(Handle h) {
    char buf[16];
    std::snprintf(buf, sizeof buf, ":%08x", h.value);
    return buf;
}

}  // namespace

SnluaModule::SnluaModule(std::shared_ptr<LuaHost> host) : host_(std::move(host)) {}

SnluaModule::~SnluaModule() {
    if (L_) lua_close(L_);
}

void SnluaModule::account(long long delta) {
    long long used = used_.load(std::memory_order_relaxed) + delta;
    used_.store(used, std::memory_order_relaxed);
    if (delta > 0 && size_t(used) > warn_at_) {
        while (warn_at_ < size_t(used))
            warn_at_ *= 2;
        if (Service* s = attached()) {
            char text[96];
            std::snprintf(text, sizeof text, "snlua: Lua memory warning: %.2f MB in use",
                          double(used) / double(1 << 20));
            s->node().log(s->handle(), LogLevel::warn, text);
        }
    }
}

void* SnluaModule::allocate(void* ud, void* ptr, size_t osize, size_t nsize) {
    auto* m = static_cast<SnluaModule*>(static_cast<LuaServiceHost*>(ud));
    const size_t old = ptr ? osize : 0;  // without ptr, osize is a type tag, not a size
    if (nsize == 0) {
        if (ptr && sdallocx)
            sdallocx(ptr, osize, 0);
        else
            std::free(ptr);
        m->account(-static_cast<long long>(old));
        return nullptr;
    }
    // Lua requires shrinking to succeed; only growth is checked against the limit.
    if (nsize > old && m->limit_ &&
        size_t(m->used_.load(std::memory_order_relaxed)) + (nsize - old) > m->limit_)
        return nullptr;
    // A new block (most of them: tables, strings, closures) through malloc's fast path rather
    // than realloc's.
    void* p = ptr ? resize(ptr, old, nsize) : std::malloc(nsize);
    if (!p) return nullptr;
    m->account(static_cast<long long>(nsize) - static_cast<long long>(old));
    return p;
}

// A block Lua resizes (a table's array part, a string buffer, a stack). jemalloc's realloc looks
// the block's size up first and took about 490 instructions a call in callgrind; a small block
// that changes size class moves anyway, and Lua knows its size, so it is moved here with malloc's
// fast path and a sized free (about 130, the copy included). Asking jemalloc whether the two
// sizes share a class (nallocx, twice) cost more than the moves it spared. Large blocks, which
// realloc can grow in place, and processes without jemalloc go through realloc.
void* SnluaModule::resize(void* ptr, size_t osize, size_t nsize) {
    constexpr size_t kSmall = 4096;
    if (!sdallocx || osize > kSmall || nsize > kSmall) return std::realloc(ptr, nsize);
    void* p = std::malloc(nsize);
    if (!p) return nsize < osize ? std::realloc(ptr, nsize) : nullptr;  // shrinking must succeed
    std::memcpy(p, ptr, std::min(osize, nsize));
    sdallocx(ptr, osize, 0);
    return p;
}

size_t SnluaModule::set_memory_limit(size_t bytes) {
    return std::exchange(limit_, bytes);
}

bool SnluaModule::set_inline_events(bool on) {
    return inline_events_.exchange(on, std::memory_order_relaxed);
}

bool SnluaModule::inline_overrun(Service& self, uint64_t ms) {
    (void)self;
    (void)ms;
    inline_events_.store(false, std::memory_order_relaxed);
    return true;
}

void SnluaModule::signal(int sig) {
    if (sig != 0 || !L_) return;
    std::lock_guard guard(active_lock_);
    // active_ is live while we hold the lock: it is running, or is L_ itself.
    trap_seq_.store(dispatch_seq_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    endless_.store(true, std::memory_order_relaxed);
    lua_sethook(active_, trap_hook, LUA_MASKCOUNT, 1);
}

void SnluaModule::trap_hook(lua_State* L, lua_Debug*) {
    SnluaModule& m = module_of(L);
    lua_sethook(L, nullptr, 0, 0);
    // A hook left over from a message that ended before it fired must not fail a later one.
    if (m.trap_seq_.load(std::memory_order_relaxed) !=
        m.dispatch_seq_.load(std::memory_order_relaxed))
        return;
    // Inside a hook, level 0 is the looping function itself: name where the loop is.
    char text[48];
    std::snprintf(text, sizeof text, "endless loop detected in :%08x", m.service().handle().value);
    luaL_where(L, 0);
    lua_pushstring(L, text);
    lua_concat(L, 2);
    lua_error(L);
}

int SnluaModule::resume_into(lua_State* L, lua_State* co, int nargs) {
    if (!lua_checkstack(co, nargs)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, nargs);
    SnluaModule& m = module_of(L);
    lua_State* previous = m.enter(co);
    int nres = 0;
    int status = lua_resume(co, L, nargs, &nres);
    m.leave(previous);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

int SnluaModule::resume(lua_State* L) {
    lua_State* co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int r = resume_into(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

int SnluaModule::wrapped_call(lua_State* L) {
    lua_State* co = lua_tothread(L, lua_upvalueindex(1));
    int r = resume_into(L, co, lua_gettop(L));
    if (r >= 0) return r;
    // As coroutine.wrap does: close the dead coroutine and add the position to a string error.
    int status = lua_status(co);
    if (status != LUA_OK && status != LUA_YIELD) {
        status = lua_resetthread(co);
        lua_xmove(co, L, 1);
    }
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

int SnluaModule::wrap(lua_State* L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State* co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, wrapped_call, 1);
    return 1;
}

void SnluaModule::log_error(std::string_view what, std::string_view text) {
    std::string line("snlua ");
    line.append(what).append(": ").append(text);
    service().node().log(service().handle(), LogLevel::error, line);
}

bool SnluaModule::init(Service& self, std::string_view args) {
    attach(self);
    PendingLaunch* pending = tls_pending;
    if (pending && pending->args.data() == args.data() && pending->args.size() == args.size()) {
        tls_pending = nullptr;
        parent_ = pending->parent;
        start_session_ = pending->session;
    } else {
        pending = nullptr;
    }
    auto fail = [&](std::string text) {
        log_error("cannot launch '" + std::string(args) + "'", text);
        if (pending) pending->error = "cannot launch '" + std::string(args) + "': " + text;
        start_session_ = 0;  // the parent learns of the failure from launch's result
        return false;
    };
    if (host_->config_error()) return fail(host_->config_error()->message);
    L_ = lua_newstate(allocate, static_cast<LuaServiceHost*>(this));
    if (!L_) return fail("cannot create a Lua state");
    LuaScheduler::clear_extraspace(L_);  // before any thread exists: they copy it
    active_ = L_;
    lua_gc(L_, LUA_GCSTOP);
    auto loaded = run_loader(args);
    if (!loaded) return fail(loaded.error().message);
    lua_gc(L_, LUA_GCRESTART);
    lua_gc(L_, LUA_GCGEN, 0, 0);  // a full collection: the loaders' garbage goes now
    plan_collector();
    return true;
}

void SnluaModule::plan_collector() {
    const size_t live = size_t(used_.load(std::memory_order_relaxed));
    const size_t big = size_t(host_->options().gc_incremental_kb) * 1024;
    if (live > big || big == 0) {
        if (!incremental_) lua_gc(L_, LUA_GCINC, kIncPause, kIncStepMul, 0);
        incremental_ = true;
        gc_next_ = SIZE_MAX;
        return;
    }
    gc_next_ = live + std::max(live, kGcFloor);
}

void SnluaModule::tend_collector() {
    const size_t used = size_t(used_.load(std::memory_order_relaxed));
    if (!incremental_) {
        if (used > gc_next_) {
            lua_gc(L_, LUA_GCCOLLECT);
            plan_collector();
        }
        return;
    }
    const size_t big = size_t(host_->options().gc_incremental_kb) * 1024;
    if (used < big / 2) {
        incremental_ = false;
        lua_gc(L_, LUA_GCGEN, 0, 0);  // a full collection
        plan_collector();
    }
}

Result<void> SnluaModule::run_loader(std::string_view args) {
    lua_State* L = L_;
    lua_pushcfunction(L, skynet_core_traceback);
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, protected_init, 1);
    lua_pushlstring(L, args.data(), args.size());
    if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
        const char* msg = lua_tostring(L, -1);
        Error e{msg ? msg : "error object is not a string"};
        lua_pop(L, 2);
        return e;
    }
    lua_pop(L, 1);
    return {};
}

namespace {

// Error text copied out of C++ objects, so it can be raised with no destructor pending.
struct ErrorText {
    char text[4096] = "";
    bool set = false;
    void assign(const std::string& prefix, const std::string& message) {
        std::snprintf(text, sizeof text, "%s%s", prefix.c_str(), message.c_str());
        set = true;
    }
};

}  // namespace

int SnluaModule::protected_init(lua_State* L) {
    auto* m = static_cast<SnluaModule*>(lua_touserdata(L, lua_upvalueindex(1)));
    return m->load_service(L);
}

namespace {

// Standard libraries opened on first use of their global (or by require), which saves an idle
// service ~11 KB and the time to build them. A script that replaces _G's metatable should
// require these first.
const luaL_Reg kLazyLibs[] = {
    {LUA_COLIBNAME, SnluaModule::open_coroutine},
    {LUA_TABLIBNAME, luaopen_table},
    {LUA_IOLIBNAME, luaopen_io},
    {LUA_OSLIBNAME, luaopen_os},
    {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},
    {LUA_DBLIBNAME, luaopen_debug},
};

// _G's __index: opens a lazy library the first time its global is read.
int lazy_global(lua_State* L) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    const char* name = lua_tostring(L, 2);
    for (const luaL_Reg& lib : kLazyLibs)
        if (std::strcmp(name, lib.name) == 0) {
            luaL_requiref(L, lib.name, lib.func, 1);
            return 1;
        }
    return 0;
}

void open_libraries(lua_State* L) {
    // A globals table sized for the base library (~30 names), instead of growing it five times.
    lua_createtable(L, 0, 32);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    static const luaL_Reg eager[] = {
        {LUA_GNAME, luaopen_base},
        {LUA_LOADLIBNAME, luaopen_package},
        {LUA_STRLIBNAME, luaopen_string},
    };
    for (const luaL_Reg& lib : eager) {
        luaL_requiref(L, lib.name, lib.func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, lazy_global);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

}  // namespace

int SnluaModule::open_coroutine(lua_State* L) {
    luaopen_coroutine(L);
    lua_pushcfunction(L, resume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, wrap);
    lua_setfield(L, -2, "wrap");
    return 1;
}

int SnluaModule::load_service(lua_State* L) {
    open_libraries(L);

    const LuaHostOptions& o = host_->options();
    lua_getglobal(L, LUA_LOADLIBNAME);
    lua_pushlstring(L, o.lua_path.data(), o.lua_path.size());
    lua_setfield(L, -2, "path");
    lua_pushlstring(L, o.lua_cpath.data(), o.lua_cpath.size());
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    host_->install_searchers(L);
    skynet_core_bind(L, this);
    socket_driver_bind(L, host_->socket_driver(), service().handle());

    ErrorText err;
    size_t len = 0;
    const char* args = lua_tolstring(L, 1, &len);
    if (!o.lualoader.empty()) {
        // skynet's convention: the loader gets the whole args string and finds the script itself.
        if (auto r = host_->load(L, o.lualoader); !r) err.assign("lualoader: ", r.error().message);
        if (err.set) return luaL_error(L, "%s", err.text);
        lua_pushvalue(L, 1);
        lua_call(L, 1, 0);
        return 0;
    }

    // Words of args: 1 is the script name, the rest its arguments.
    const int base = lua_gettop(L);
    for (size_t i = 0; i < len;) {
        while (i < len && args[i] == ' ')
            ++i;
        size_t start = i;
        while (i < len && args[i] != ' ')
            ++i;
        if (i > start) lua_pushlstring(L, args + start, i - start);
    }
    const int words = lua_gettop(L) - base;
    if (words == 0) return luaL_error(L, "no script named in the service arguments");
    const char* name = lua_tostring(L, base + 1);
    lua_pushvalue(L, base + 1);
    lua_setglobal(L, "SERVICE_NAME");

    if (!o.preload.empty()) {
        if (auto r = host_->load(L, o.preload); !r) err.assign("preload: ", r.error().message);
        if (err.set) return luaL_error(L, "%s", err.text);
        for (int i = 2; i <= words; ++i)
            lua_pushvalue(L, base + i);
        lua_call(L, words - 1, 0);
    }

    {
        std::string tried;
        auto file = host_->search(o.luaservice, name, LuaHost::Names::verbatim, &tried);
        if (!file)
            err.assign("cannot find service script '" + std::string(name) + "' along luaservice:",
                       tried);
        else if (auto r = host_->load(L, *file); !r)
            err.assign("", r.error().message);
    }
    if (err.set) return luaL_error(L, "%s", err.text);
    for (int i = 2; i <= words; ++i)
        lua_pushvalue(L, base + i);
    lua_call(L, words - 1, 0);
    return 0;
}

void SnluaModule::on_message(Service& self, Message& msg) {
    if (MessageFilter* f = filter(); f && f->take(msg)) return;
    dispatch_seq_.store(dispatch_seq_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
    (void)self;
    if (!skynet_core_dispatch(L_, *this, msg)) {
        // The scheduler itself failed (a memory error); handler errors never get here.
        log_error("dispatch failed", lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "?");
        lua_pop(L_, 1);
    }
    tend_collector();
}

void SnluaModule::release(Service& self) {
    if (!skynet_core_release(L_, *this)) {
        log_error("release failed", lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "?");
        lua_pop(L_, 1);
    }
    if (start_session_)
        notify_started(StartOutcome::failed, "service " + format_handle(self.handle()) +
                                                 " exited before its start function finished");
}

Result<Handle> SnluaModule::launch(std::string_view module, std::string_view args,
                                   int32_t start_session) {
    PendingLaunch pending{service().handle(), start_session, args, {}};
    PendingLaunch* saved = std::exchange(tls_pending, module == "snlua" ? &pending : nullptr);
    auto r = service().node().launch(module, args);
    tls_pending = saved;
    if (!r && !pending.error.empty()) return Error{std::move(pending.error)};
    return r;
}

// The answer's payload tells the parent's newservice what happened: empty for started, a
// one-byte mark for exited (newservice returns nil), the error text for failed.
void SnluaModule::notify_started(StartOutcome outcome, std::string_view error) {
    if (!start_session_) return;
    int32_t session = std::exchange(start_session_, 0);
    switch (outcome) {
        case StartOutcome::started:
            service().send(parent_, MessageType::response, session, Payload());
            break;
        case StartOutcome::exited:
            service().send(parent_, MessageType::response, session, Payload::copy("x"));
            break;
        case StartOutcome::failed:
            service().send(parent_, MessageType::error, session, Payload::copy(error));
            break;
    }
}

std::shared_ptr<LuaHost> register_snlua(Node& node) {
    auto options = LuaHostOptions::from_config(node.config());
    auto host = options ? std::make_shared<LuaHost>(std::move(options.value()))
                        : std::make_shared<LuaHost>(LuaHostOptions{}, options.error());
    host->add_native("skynet.core", luaopen_skynet_core);
    host->add_native("skyhive.seri", luaopen_skyhive_seri);
    for (const luaL_Reg& lib : kLazyLibs)  // require "io" before the global was touched
        host->add_native(lib.name, lib.func);
    node.modules().add("snlua", [host] { return std::make_unique<SnluaModule>(host); });
    return host;
}

}  // namespace skyhive
