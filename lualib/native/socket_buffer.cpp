#include "lualib/native/socket_buffer.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "net/socket_event.h"

namespace skyhive {

namespace {

constexpr const char* kMeta = "skynet.socketbuffer";

// One adopted data message; [begin, end) of `block` are the bytes not read yet.
struct Chunk {
    Chunk* next;
    char* block;
    size_t begin;
    size_t end;
};

// Lives in a Lua userdata as plain data and is emptied by __gc: Lua errors unwind with longjmp,
// so nothing here may depend on a C++ destructor running.
struct Buffer {
    Chunk* head;
    Chunk* tail;
    size_t size;   // bytes not read yet, over every chunk
    Chunk* spare;  // the last chunk read out, kept for the next push (a socket read to the end
                   // and refilled, as an echo or a request loop does, then allocates no chunk)
};

// The functions below have the buffers' metatable as upvalue 1, so that telling a buffer is one
// comparison (luaL_checkudata finds the metatable by name on every call); anything else gets
// luaL_checkudata's error.
Buffer* check_buffer(lua_State* L, int arg) {
    void* p = lua_touserdata(L, arg);
    if (p && lua_getmetatable(L, arg)) {
        const bool ours = lua_rawequal(L, -1, lua_upvalueindex(1));
        lua_pop(L, 1);
        if (ours) return static_cast<Buffer*>(p);
    }
    return static_cast<Buffer*>(luaL_checkudata(L, arg, kMeta));
}

void drop_front(Buffer* b) {
    Chunk* c = b->head;
    b->head = c->next;
    if (!b->head) b->tail = nullptr;
    std::free(c->block);
    if (b->spare) {
        std::free(c);
    } else {
        b->spare = c;
    }
}

void clear(Buffer* b) {
    while (b->head)
        drop_front(b);
    b->size = 0;
    std::free(b->spare);
    b->spare = nullptr;
}

// Copies the first n (<= size) bytes to dst without consuming them.
void copy_front(const Buffer* b, char* dst, size_t n) {
    for (const Chunk* c = b->head; n > 0; c = c->next) {
        size_t k = std::min(n, c->end - c->begin);
        std::memcpy(dst, c->block + c->begin, k);
        dst += k;
        n -= k;
    }
}

void consume(Buffer* b, size_t n) {
    b->size -= n;
    while (n > 0) {
        Chunk* c = b->head;
        size_t avail = c->end - c->begin;
        if (n < avail) {
            c->begin += n;
            return;
        }
        n -= avail;
        drop_front(b);
    }
}

// Pushes the first n (<= size) bytes as a string, then consumes them. The push comes first, so a
// memory error leaves the buffer as it was.
void push_front(lua_State* L, Buffer* b, size_t n) {
    if (n == 0) {
        lua_pushlstring(L, "", 0);  // no C string to look up, as lua_pushliteral does
        return;
    }
    const Chunk* c = b->head;
    if (c->end - c->begin >= n) {
        lua_pushlstring(L, c->block + c->begin, n);
    } else {
        luaL_Buffer lb;
        char* dst = luaL_buffinitsize(L, &lb, n);
        copy_front(b, dst, n);
        luaL_pushresultsize(&lb, n);
    }
    consume(b, n);
}

// True when sep[0, seplen) starts at offset i of chunk c (the match may run into later chunks).
bool matches_at(const Chunk* c, size_t i, const char* sep, size_t seplen) {
    size_t k = 0;
    for (; c && k < seplen; c = c->next, i = 0) {
        const char* data = c->block + c->begin;
        const size_t len = c->end - c->begin;
        for (; i < len && k < seplen; ++i, ++k)
            if (data[i] != sep[k]) return false;
    }
    return k == seplen;
}

// Offset of the first sep in the buffer, or -1.
ptrdiff_t find(const Buffer* b, const char* sep, size_t seplen) {
    size_t base = 0;
    for (const Chunk* c = b->head; c; c = c->next) {
        const char* data = c->block + c->begin;
        const size_t len = c->end - c->begin;
        for (size_t i = 0; i < len; ++i) {
            const void* hit = std::memchr(data + i, sep[0], len - i);
            if (!hit) break;
            i = size_t(static_cast<const char*>(hit) - data);
            if (matches_at(c, i, sep, seplen)) return ptrdiff_t(base + i);
        }
        base += len;
    }
    return -1;
}

int l_buffer(lua_State* L) {
    auto* b = static_cast<Buffer*>(lua_newuserdatauv(L, sizeof(Buffer), 0));
    *b = Buffer{nullptr, nullptr, 0, nullptr};
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, -2);
    return 1;
}

int l_push(lua_State* L) {
    Buffer* b = check_buffer(L, 1);
    luaL_checktype(L, 2, LUA_TLIGHTUSERDATA);
    lua_Integer size = luaL_checkinteger(L, 3);
    luaL_argcheck(L, size >= lua_Integer(net::kEventHeaderSize), 3, "not a socket message");
    auto* block = static_cast<char*>(lua_touserdata(L, 2));
    luaL_argcheck(L, uint8_t(block[0]) == uint8_t(net::SocketEventType::data), 2,
                  "not a data event");
    // From here on the block is ours: free it on every path.
    if (size_t(size) == net::kEventHeaderSize) {
        std::free(block);
    } else {
        Chunk* c = b->spare;
        if (c) {
            b->spare = nullptr;
        } else {
            c = static_cast<Chunk*>(std::malloc(sizeof(Chunk)));
        }
        if (!c) {
            std::free(block);
            return luaL_error(L, "socket buffer: out of memory");
        }
        *c = Chunk{nullptr, block, net::kEventHeaderSize, size_t(size)};
        if (b->tail)
            b->tail->next = c;
        else
            b->head = c;
        b->tail = c;
        b->size += c->end - c->begin;
    }
    lua_pushinteger(L, lua_Integer(b->size));
    return 1;
}

int l_pop(lua_State* L) {
    Buffer* b = check_buffer(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "negative size");
    if (size_t(n) > b->size) {
        lua_pushnil(L);
        return 1;
    }
    push_front(L, b, size_t(n));
    return 1;
}

int l_readall(lua_State* L) {
    Buffer* b = check_buffer(L, 1);
    push_front(L, b, b->size);
    return 1;
}

int l_readline(lua_State* L) {
    Buffer* b = check_buffer(L, 1);
    size_t seplen = 0;
    const char* sep = luaL_optlstring(L, 2, "\n", &seplen);
    luaL_argcheck(L, seplen > 0, 2, "empty separator");
    const bool check = lua_toboolean(L, 3);
    ptrdiff_t at = find(b, sep, seplen);
    if (check) {
        lua_pushboolean(L, at >= 0);
        return 1;
    }
    if (at < 0) {
        lua_pushnil(L);
        return 1;
    }
    push_front(L, b, size_t(at));
    consume(b, seplen);
    return 1;
}

int l_size(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_buffer(L, 1)->size));
    return 1;
}

int l_clear(lua_State* L) {
    clear(check_buffer(L, 1));
    return 0;
}

int l_gc(lua_State* L) {
    clear(static_cast<Buffer*>(lua_touserdata(L, 1)));
    return 0;
}

}  // namespace

void socket_buffer_register(lua_State* L) {
    if (luaL_newmetatable(L, kMeta)) {
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, l_size, 1);
        lua_setfield(L, -2, "__len");
    }
    static const luaL_Reg funcs[] = {
        {"buffer", l_buffer},     {"push", l_push}, {"pop", l_pop},     {"readall", l_readall},
        {"readline", l_readline}, {"size", l_size}, {"clear", l_clear}, {nullptr, nullptr},
    };
    luaL_setfuncs(L, funcs, 1);  // the metatable is every function's upvalue (check_buffer)
}

}  // namespace skyhive
