// skynet.cluster.core, the Lua binding of the link codec (cluster_codec.h).
//
//   core.link{max_message =, part =, max_frame =, max_pending =, assembled =} -> link
//       One link's codec. Every field is optional (bytes): max_message 16 MB, part 65536 (data
//       bytes per frame), max_frame 262144 (must hold a part and its header; the framer of the
//       peer must accept it), max_pending 4 * max_message (incomplete incoming messages).
//       assembled = true: the socket's "cluster" framer assembles split messages (its option
//       assemble): feed takes the whole messages it hands over.
//   link:request(session, push, msg, sz [, borrow [, gather]]) -> n, buf1, sz1, ..., bufn, szn
//       msg, sz: skynet.pack(address, ...) (a string is accepted too and is not freed; with
//       borrow true, msg is only read: the message being dispatched still owns it). The
//       first packed value is the address: an integer handle or a name (".name", "@name").
//       The frames are malloc'd (lightuserdata, size) pairs whose ownership moves to socket
//       send/lsend. n == 1 when the data fits in one part. msg is freed unless borrowed, also
//       on error. Errors: "message of N bytes is larger than cluster_max_message (M)", "cluster
//       request: the address is a table (a handle or a service name expected)". Nothing is
//       produced then.
//       session: 0..2^32-1; a message split in parts needs a session no other message of the
//       same direction in flight uses (pushes too).
//       With gather true, a message that fits in one frame is appended to the link's gathered
//       output instead, and the call returns 0, bytes gathered so far: many small frames then
//       leave in one socket write (link:take). A larger message returns its frames as above.
//   link:response(session, ok, msg, sz [, borrow [, gather]]) -> n, buf1, sz1, ...
//       msg: the packed return values (lightuserdata, freed unless borrow is true), nil, or a
//       string (an error text). gather as for request.
//   link:take() -> buf, sz | nil
//       The gathered frames back to back (malloc'd; ownership moves to the caller, e.g. to a
//       socket write), nil when nothing is gathered. The link starts a new gathering.
//   link:feed(msg, sz) -> n, t        (or link:feed(str))
//       msg, sz: one "frames" socket event's payload (borrowed). t is the same table at every
//       call (entries past 6 * n are stale); each completed item takes 6 slots, in wire order:
//         t[i]   kind      16 request, 17 response, 1..15 a control frame
//         t[i+1] session   (0 for control)
//         t[i+2] flags     request: 1 = push; response: 1 = ok; control: 0
//         t[i+3] address   request: an integer handle or a string name; otherwise nil
//         t[i+4] data      request/response: lightuserdata, malloc'd, owned by the caller
//                          (skynet.redirect takes it; NULL when empty); control: the body
//                          after the kind byte, as a string
//         t[i+5] size      bytes of data
//       No table is made per item. A malformed frame raises an error naming it (unknown kind,
//       truncated fields, a part without a first frame, a total above max_message, parts past
//       the total); the items of that call are freed, and the link should close its socket.
//   link:discard(msg, sz)             frees what a frames payload that will not be fed holds
//                                     (the assembled messages' data; nothing else needs it)
//   link:reset()                      drops incomplete incoming messages
//   link:pending() -> count, bytes    incomplete incoming messages
//   link:limits{max_message =, part =, ...}   new limits (as core.link's) from now on
//   The direct path (cluster_direct.h): an outgoing link also filters its service's messages.
//   link:direct(id, router, calls) | link:direct(false)
//       Connection id is up with router (or none is): a caller's request ("cluster" protocol)
//       is framed, recorded in the router and written without the service's Lua when `calls`
//       and nothing is gathered, queued in the mailbox or waiting in the router; a local
//       service's answer to a request recorded with serve likewise; a frames event of
//       connection id holding only whole requests to a handle or a ".name" is handed out (each
//       call recorded with serve). Everything else reaches Lua.
//   link:session() -> ls              the next link session (both paths draw from it)
//   link:serve(s, ls, id)             local session s serves the peer's request ls on
//                                     connection id (0: drop its answer)
//   link:served(s) -> ls, id | nil    takes that record (an answer the direct path left to Lua)
//   link:serving_limit(max, text)     at most max requests served at once; the direct path
//                                     answers one past it with the error text
//   link:admit() -> bool              whether one more request may be served (false past the
//                                     limit, logged once until half of it is answered)
//   link:count(requests, sent_bytes, served, received_bytes)
//                                     the counters (skynet.metrics) the direct path adds to
//   link:peer(name)                   the peer's name, for the direct path's log lines
//   link:last_send() -> cs, link:last_recv() -> cs
//                                     the node's time of its last write, last batch read (0: none)
//   link:taken() -> requests, answers, served   what the direct path handled so far
//   core.router() -> router
//       The calls one connection of this service's link waits on (cluster_router.h), shared
//       with the connection's framer (its option router = router:id()), which hands the answers
//       (not errors) that arrive in one frame to their callers on the socket thread, with this
//       service as their source. Thread: any method from the owning service (the table has its own
//       lock).
//   router:id() -> integer            for the framer's option `router`
//   router:add(ls, source, session) -> boolean
//       call ls of source's session waits; false when ls already waits or the router is closed
//   router:take(ls) -> source, session | nil
//       removes call ls (an answer the framer passed on: assembled, or routed too late)
//   router:close(text) -> n           fails every waiting call with the error text, routes
//                                     nothing more; n calls failed
//   router:has(ls) -> boolean         call ls waits
//   router:waiting() -> n
//   router:stats() -> bytes          bytes of the answer frames routed since the last call
//   core.prefix(address, msg, sz) -> msg2, sz2
//       skynet.pack(address) followed by msg, in one new buffer; msg is freed.
//   core.hmac_sha256(key, data) -> 32 bytes   (libcrypto)
//   core.random(n) -> n bytes (1..1024)       (RAND_bytes)
//   core.equal(a, b) -> boolean               constant time for equal lengths (CRYPTO_memcmp)
//   core.REQUEST (16), core.RESPONSE (17), core.MAX_CONTROL (15)   the kinds feed reports
//
// Lua errors unwind with longjmp: no local with a destructor may be alive when one is raised.
// The C++ state lives in the link userdata, whose __gc runs its destructor.

#include "lualib/native/cluster_core.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/service.h"
#include "lualib/native/cluster_codec.h"
#include "lualib/native/cluster_direct.h"
#include "lualib/native/cluster_router.h"
#include "lualib/native/crypt.h"
#include "lualib/native/metrics.h"
#include "lualib/native/skynet_core.h"
#include "lualib/native/socket_driver.h"

namespace skyhive {

namespace {

using cluster::Codec;
using cluster::Item;
using cluster::Limits;

constexpr const char* kLinkMeta = "skynet.cluster.link";
constexpr const char* kRouterMeta = "skynet.cluster.router";
constexpr int kStride = 6;

struct Link {
    explicit Link(Limits l) : codec(l) {}
    ~Link() { std::free(gathered); }
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

    // Appends one frame to `gathered`. False when out of memory.
    bool gather(const Payload& f) {
        if (gathered_size + f.size() > gathered_cap) {
            size_t cap = std::max<size_t>(gathered_cap * 2, gathered_size + f.size());
            cap = std::max<size_t>(cap, 4096);
            char* p = static_cast<char*>(std::realloc(gathered, cap));
            if (!p) return false;
            gathered = p;
            gathered_cap = cap;
        }
        std::memcpy(gathered + gathered_size, f.data(), f.size());
        gathered_size += f.size();
        return true;
    }

    Codec codec;
    std::vector<Payload> frames;  // scratch of request/response
    std::vector<Item> items;      // scratch of feed
    char* gathered = nullptr;     // malloc'd: single-frame messages waiting for take()
    size_t gathered_size = 0;
    size_t gathered_cap = 0;
    cluster::DirectPath direct{codec, gathered_size};  // link:direct and what shares its state
};

// A message argument: lightuserdata + size (owned: freed by us), a string (borrowed), or nil.
struct Msg {
    const char* data = nullptr;
    size_t size = 0;
    void* owned = nullptr;
};

Msg read_msg(lua_State* L, int idx) {
    Msg m;
    switch (lua_type(L, idx)) {
        case LUA_TLIGHTUSERDATA: {
            m.owned = lua_touserdata(L, idx);
            m.data = static_cast<const char*>(m.owned);
            lua_Integer sz = lua_tointeger(L, idx + 1);
            if (sz < 0 || (!m.data && sz != 0)) {
                std::free(m.owned);
                luaL_error(L, "cluster: invalid message size %d", int(sz));
            }
            m.size = size_t(sz);
            break;
        }
        case LUA_TSTRING:
            m.data = lua_tolstring(L, idx, &m.size);
            break;
        case LUA_TNIL:
        case LUA_TNONE:
            break;
        default:
            luaL_error(L, "cluster: the message is a %s (lightuserdata and size, or a string)",
                       luaL_typename(L, idx));
    }
    return m;
}

Link* check_link(lua_State* L) {
    return static_cast<Link*>(luaL_checkudata(L, 1, kLinkMeta));
}

// A session argument, or -1 when it is not an integer in 0..2^32-1.
int64_t session_arg(lua_State* L, int idx) {
    int isnum = 0;
    lua_Integer s = lua_tointegerx(L, idx, &isnum);
    if (!isnum || s < 0 || s > lua_Integer(UINT32_MAX)) return -1;
    return int64_t(s);
}

// Pushes the frames just encoded; with gather, a lone frame goes to the gathered output and
// 0, bytes gathered is pushed instead.
int push_frames(lua_State* L, Link* link, bool gather) {
    if (gather && link->frames.size() == 1) {
        const bool ok = link->gather(link->frames[0]);
        link->frames.clear();
        if (!ok) return luaL_error(L, "cluster: out of memory gathering frames");
        lua_pushinteger(L, 0);
        lua_pushinteger(L, lua_Integer(link->gathered_size));
        return 2;
    }
    const int n = int(link->frames.size());
    luaL_checkstack(L, 1 + 2 * n, "cluster: too many frames");
    lua_pushinteger(L, n);
    for (Payload& f : link->frames) {
        const uint32_t size = f.size();
        lua_pushlightuserdata(L, f.release());
        lua_pushinteger(L, size);
    }
    link->frames.clear();
    return 1 + 2 * n;
}

// The limits in the table at idx (absent: the defaults); raises on a bad one.
Limits check_limits(lua_State* L, int idx, const char* what) {
    Limits l;
    if (!lua_isnoneornil(L, idx)) {
        luaL_checktype(L, idx, LUA_TTABLE);
        const char* fields[] = {"max_message", "part", "max_frame", "max_pending"};
        for (int i = 0; i < 4; ++i) {
            if (lua_getfield(L, idx, fields[i]) != LUA_TNIL) {
                int isnum = 0;
                lua_Integer v = lua_tointegerx(L, -1, &isnum);
                if (!isnum || v < 1 || (i < 3 && v > lua_Integer(UINT32_MAX)))
                    luaL_error(L, "%s: %s must be a positive integer%s", what, fields[i],
                               i < 3 ? " below 2^32" : "");
                if (i == 0) l.max_message = uint32_t(v);
                if (i == 1) l.part = uint32_t(v);
                if (i == 2) l.max_frame = uint32_t(v);
                if (i == 3) l.max_pending = uint64_t(v);
            } else if (i == 3) {
                l.max_pending = 4ull * l.max_message;
            }
            lua_pop(L, 1);
        }
        lua_getfield(L, idx, "assembled");
        l.assembled = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    char bad[160] = "";
    {
        const std::string text = Codec::check(l);
        std::snprintf(bad, sizeof bad, "%s", text.c_str());
    }
    if (bad[0]) luaL_error(L, "%s: %s", what, bad);
    return l;
}

int l_link(lua_State* L) {
    const Limits l = check_limits(L, 1, "cluster.core.link");
    void* mem = lua_newuserdatauv(L, sizeof(Link), 1);
    new (mem) Link(l);
    luaL_setmetatable(L, kLinkMeta);
    lua_createtable(L, kStride * 8, 0);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

// Frees what the link holds and leaves an empty link (no heap memory) behind, so a link reached
// again after its finalizer (resurrected by another object's __gc) is still safe to use.
int l_gc(lua_State* L) {
    auto* link = static_cast<Link*>(luaL_checkudata(L, 1, kLinkMeta));
    const Limits limits = link->codec.limits();
    link->~Link();
    new (link) Link(limits);
    return 0;
}

int l_request(lua_State* L) {
    Link* link = check_link(L);
    Msg m = read_msg(L, 4);
    if (lua_toboolean(L, 6)) m.owned = nullptr;  // borrowed: the caller's message still owns it
    const int64_t session = session_arg(L, 2);
    if (session < 0) {
        std::free(m.owned);
        return luaL_error(L, "cluster request: session must be an integer in 0..2^32-1");
    }
    link->frames.clear();
    const bool ok =
        link->codec.request(uint32_t(session), lua_toboolean(L, 3), m.data, m.size, link->frames);
    std::free(m.owned);
    if (!ok) return luaL_error(L, "%s", link->codec.error().c_str());
    return push_frames(L, link, lua_toboolean(L, 7));
}

int l_response(lua_State* L) {
    Link* link = check_link(L);
    Msg m = read_msg(L, 4);
    if (lua_toboolean(L, 6)) m.owned = nullptr;  // borrowed, as in l_request
    const int64_t session = session_arg(L, 2);
    if (session < 0) {
        std::free(m.owned);
        return luaL_error(L, "cluster response: session must be an integer in 0..2^32-1");
    }
    link->frames.clear();
    const bool ok =
        link->codec.response(uint32_t(session), lua_toboolean(L, 3), m.data, m.size, link->frames);
    std::free(m.owned);
    if (!ok) return luaL_error(L, "%s", link->codec.error().c_str());
    return push_frames(L, link, lua_toboolean(L, 7));
}

int l_feed(lua_State* L) {
    Link* link = check_link(L);
    const char* data;
    size_t size;
    if (lua_type(L, 2) == LUA_TLIGHTUSERDATA) {
        data = static_cast<const char*>(lua_touserdata(L, 2));
        const lua_Integer sz = luaL_checkinteger(L, 3);
        luaL_argcheck(L, sz >= 0 && (data || sz == 0), 3, "invalid payload size");
        size = size_t(sz);
    } else {
        data = luaL_checklstring(L, 2, &size);
    }
    link->items.clear();
    if (!link->codec.feed(data, size, link->items))
        return luaL_error(L, "%s", link->codec.error().c_str());
    lua_getiuservalue(L, 1, 1);
    const int t = lua_gettop(L);
    lua_Integer i = 1;
    for (const Item& it : link->items) {
        lua_pushinteger(L, it.kind);
        lua_rawseti(L, t, i);
        lua_pushinteger(L, it.session);
        lua_rawseti(L, t, i + 1);
        lua_pushinteger(L, it.flags);
        lua_rawseti(L, t, i + 2);
        if (it.kind == cluster::kRequest) {
            if (it.by_name)
                lua_pushlstring(L, it.name.data(), it.name.size());
            else
                lua_pushinteger(L, it.handle);
        } else {
            lua_pushnil(L);
        }
        lua_rawseti(L, t, i + 3);
        if (it.kind > cluster::kMaxControl)
            lua_pushlightuserdata(L, it.data);
        else
            lua_pushlstring(L, it.data, it.size);
        lua_rawseti(L, t, i + 4);
        lua_pushinteger(L, it.size);
        lua_rawseti(L, t, i + 5);
        i += kStride;
    }
    lua_pushinteger(L, lua_Integer(link->items.size()));
    link->items.clear();
    lua_pushvalue(L, t);
    return 2;
}

int l_take(lua_State* L) {
    Link* link = check_link(L);
    if (link->gathered_size == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlightuserdata(L, link->gathered);
    lua_pushinteger(L, lua_Integer(link->gathered_size));
    link->gathered = nullptr;
    link->gathered_size = link->gathered_cap = 0;
    return 2;
}

int l_discard(lua_State* L) {
    Link* link = check_link(L);
    luaL_checktype(L, 2, LUA_TLIGHTUSERDATA);
    const auto* data = static_cast<const char*>(lua_touserdata(L, 2));
    const lua_Integer sz = luaL_checkinteger(L, 3);
    luaL_argcheck(L, sz >= 0 && (data || sz == 0), 3, "invalid payload size");
    link->codec.discard(data, size_t(sz));
    return 0;
}

int l_reset(lua_State* L) {
    check_link(L)->codec.reset();
    return 0;
}

int l_pending(lua_State* L) {
    Link* link = check_link(L);
    lua_pushinteger(L, lua_Integer(link->codec.pending_messages()));
    lua_pushinteger(L, lua_Integer(link->codec.pending_bytes()));
    return 2;
}

int l_limits(lua_State* L) {
    Link* link = check_link(L);
    link->codec.set_limits(check_limits(L, 2, "cluster link:limits"));
    return 0;
}

int l_prefix(lua_State* L) {
    Msg m = read_msg(L, 2);
    const int type = lua_type(L, 1);
    size_t len = 0;
    const char* name = nullptr;
    if (type == LUA_TSTRING) {
        name = lua_tolstring(L, 1, &len);
    } else if (!lua_isinteger(L, 1)) {
        std::free(m.owned);
        return luaL_error(L,
                          "cluster.core.prefix: the address is a %s (integer or string expected)",
                          luaL_typename(L, 1));
    }
    const size_t head = name ? len + 5 : 9;
    if (m.size + head > UINT32_MAX) {
        std::free(m.owned);
        return luaL_error(L, "cluster.core.prefix: message too large");
    }
    char* out = static_cast<char*>(std::malloc(head + m.size));
    if (!out) {
        std::free(m.owned);
        return luaL_error(L, "cluster.core.prefix: out of memory");
    }
    size_t n = name ? cluster::pack_string(name, len, out)
                    : cluster::pack_integer(int64_t(lua_tointeger(L, 1)), out);
    if (m.size) std::memcpy(out + n, m.data, m.size);
    std::free(m.owned);
    lua_pushlightuserdata(L, out);
    lua_pushinteger(L, lua_Integer(n + m.size));
    return 2;
}

// The keyed hash, random bytes and comparison of skynet.crypt, under this module's names.
int l_hmac_sha256(lua_State* L) {
    return crypt::hmac_sha256(L, "cluster.core.hmac_sha256");
}

int l_random(lua_State* L) {
    return crypt::random_bytes(L, "cluster.core.random");
}

// ---- router ----------------------------------------------------------------------------------

// The userdata holds one reference; __gc drops it (the framer may keep the router a while).
struct RouterRef {
    std::shared_ptr<cluster::Router> router;
};

cluster::Router& check_router(lua_State* L) {
    auto* ref = static_cast<RouterRef*>(luaL_checkudata(L, 1, kRouterMeta));
    if (!ref->router) luaL_error(L, "cluster router: used after its finalizer");
    return *ref->router;
}

uint32_t ls_arg(lua_State* L, int idx) {
    const int64_t ls = session_arg(L, idx);
    if (ls < 0)
        luaL_error(L, "cluster router: bad link session %s", luaL_tolstring(L, idx, nullptr));
    return uint32_t(ls);
}

int l_router(lua_State* L) {
    Service& self = core_args::service_of(L);
    void* mem = lua_newuserdatauv(L, sizeof(RouterRef), 0);
    new (mem) RouterRef{cluster::Router::make(self.node(), self.handle())};
    luaL_setmetatable(L, kRouterMeta);
    return 1;
}

int l_router_gc(lua_State* L) {
    auto* ref = static_cast<RouterRef*>(luaL_checkudata(L, 1, kRouterMeta));
    ref->~RouterRef();
    new (ref) RouterRef{};
    return 0;
}

int l_router_id(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_router(L).id()));
    return 1;
}

int l_router_add(lua_State* L) {
    cluster::Router& r = check_router(L);
    const uint32_t ls = ls_arg(L, 2);
    const Handle source = core_args::check_dest(L, 3);
    const lua_Integer session = luaL_checkinteger(L, 4);
    if (session <= 0 || session > INT32_MAX)
        return luaL_error(L, "cluster router: bad caller session %d", int(session));
    lua_pushboolean(L, r.add(ls, source, int32_t(session)));
    return 1;
}

int l_router_take(lua_State* L) {
    cluster::Router& r = check_router(L);
    Handle source;
    int32_t session = 0;
    if (!r.take(ls_arg(L, 2), &source, &session)) return 0;
    lua_pushinteger(L, lua_Integer(source.value));
    lua_pushinteger(L, session);
    return 2;
}

int l_router_close(lua_State* L) {
    cluster::Router& r = check_router(L);
    size_t len = 0;
    const char* text = luaL_checklstring(L, 2, &len);
    lua_pushinteger(L, lua_Integer(r.close(std::string_view(text, len))));
    return 1;
}

int l_router_has(lua_State* L) {
    cluster::Router& r = check_router(L);
    lua_pushboolean(L, r.has(ls_arg(L, 2)));
    return 1;
}

int l_router_waiting(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_router(L).waiting()));
    return 1;
}

int l_router_stats(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_router(L).drain_bytes()));
    return 1;
}

// ---- the direct path (cluster_direct.h) ------------------------------------------------------

int l_direct(lua_State* L) {
    Link* link = check_link(L);
    if (!lua_toboolean(L, 2)) {
        link->direct.connect(0, nullptr, false);
        return 0;
    }
    const lua_Integer id = luaL_checkinteger(L, 2);
    luaL_argcheck(L, id > 0 && id <= INT32_MAX, 2, "not a socket id");
    auto* ref = static_cast<RouterRef*>(luaL_checkudata(L, 3, kRouterMeta));
    net::SocketServer* server = socket_server_of(L);
    if (!server) return luaL_error(L, "cluster link:direct: this node has no socket server");
    link->direct.attach(core_args::host_of(L), *server);
    link->direct.connect(int32_t(id), ref->router, lua_toboolean(L, 4));
    return 0;
}

int l_session(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_link(L)->direct.next_session()));
    return 1;
}

int32_t local_session_arg(lua_State* L, int idx) {
    const lua_Integer s = luaL_checkinteger(L, idx);
    luaL_argcheck(L, s > 0 && s <= INT32_MAX, idx, "not a session");
    return int32_t(s);
}

int l_serve(lua_State* L) {
    Link* link = check_link(L);
    const int32_t s = local_session_arg(L, 2);
    const int64_t ls = session_arg(L, 3);
    const lua_Integer id = luaL_checkinteger(L, 4);
    luaL_argcheck(L, ls >= 0, 3, "not a link session");
    luaL_argcheck(L, id >= 0 && id <= INT32_MAX, 4, "not a socket id");
    link->direct.serve(s, uint32_t(ls), int32_t(id));
    return 0;
}

int l_served(lua_State* L) {
    Link* link = check_link(L);
    uint32_t ls = 0;
    int32_t id = 0;
    if (!link->direct.served(local_session_arg(L, 2), &ls, &id)) return 0;
    lua_pushinteger(L, ls);
    lua_pushinteger(L, id);
    return 2;
}

int l_serving_limit(lua_State* L) {
    Link* link = check_link(L);
    const lua_Integer max = luaL_checkinteger(L, 2);
    luaL_argcheck(L, max >= 1, 2, "not a positive count");
    size_t len = 0;
    const char* text = luaL_checklstring(L, 3, &len);
    link->direct.limit_serving(size_t(max), std::string(text, len));
    return 0;
}

int l_admit(lua_State* L) {
    lua_pushboolean(L, check_link(L)->direct.admit());
    return 1;
}

int l_count(lua_State* L) {
    Link* link = check_link(L);
    cluster::DirectPath::Counters c;
    c.requests = metrics_counter_arg(L, 2);
    c.sent_bytes = metrics_counter_arg(L, 3);
    c.served = metrics_counter_arg(L, 4);
    c.received_bytes = metrics_counter_arg(L, 5);
    link->direct.count(c);
    return 0;
}

int l_peer(lua_State* L) {
    Link* link = check_link(L);
    size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    link->direct.set_peer(std::string(name, len));
    return 0;
}

int l_last_recv(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_link(L)->direct.last_recv()));
    return 1;
}

int l_last_send(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_link(L)->direct.last_send()));
    return 1;
}

int l_taken(lua_State* L) {
    const cluster::DirectPath& d = check_link(L)->direct;
    lua_pushinteger(L, lua_Integer(d.requests()));
    lua_pushinteger(L, lua_Integer(d.answers()));
    lua_pushinteger(L, lua_Integer(d.served()));
    return 3;
}

// A metatable `name` whose __index holds `methods` and whose __gc is `gc`.
void register_class(lua_State* L, const char* name, const luaL_Reg* methods, lua_CFunction gc) {
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

}  // namespace

}  // namespace skyhive

extern "C" int luaopen_skynet_cluster_core(lua_State* L) {
    using namespace skyhive;
    const luaL_Reg methods[] = {
        {"request", l_request}, {"response", l_response},   {"feed", l_feed},
        {"reset", l_reset},     {"pending", l_pending},     {"take", l_take},
        {"discard", l_discard}, {"limits", l_limits},       {"direct", l_direct},
        {"session", l_session}, {"serve", l_serve},         {"served", l_served},
        {"count", l_count},     {"last_send", l_last_send}, {"taken", l_taken},
        {"peer", l_peer},       {"last_recv", l_last_recv}, {"serving_limit", l_serving_limit},
        {"admit", l_admit},     {nullptr, nullptr}};
    register_class(L, kLinkMeta, methods, l_gc);
    const luaL_Reg router_methods[] = {{"id", l_router_id},           {"add", l_router_add},
                                       {"take", l_router_take},       {"close", l_router_close},
                                       {"waiting", l_router_waiting}, {"stats", l_router_stats},
                                       {"has", l_router_has},         {nullptr, nullptr}};
    register_class(L, kRouterMeta, router_methods, l_router_gc);
    const luaL_Reg funcs[] = {{"link", l_link},     {"router", l_router},
                              {"prefix", l_prefix}, {"hmac_sha256", l_hmac_sha256},
                              {"random", l_random}, {"equal", crypt::equals},
                              {nullptr, nullptr}};
    luaL_newlib(L, funcs);
    lua_pushinteger(L, cluster::kRequest);
    lua_setfield(L, -2, "REQUEST");
    lua_pushinteger(L, cluster::kResponse);
    lua_setfield(L, -2, "RESPONSE");
    lua_pushinteger(L, cluster::kMaxControl);
    lua_setfield(L, -2, "MAX_CONTROL");
    return 1;
}
