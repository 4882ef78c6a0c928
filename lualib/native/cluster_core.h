#pragma once

// skynet.cluster.core: the native half of node-to-node links (lualib/skynet/cluster.lua and the
// cluster services). The wire format is in cluster_codec.h; cluster_core.cpp documents the Lua API.
//
// Thread: every function runs on the thread that runs its lua_State, one call at a time; a link
// object belongs to the service that made it.

#include <lua.hpp>

// {link, router, prefix, hmac_sha256, random, equal, REQUEST, RESPONSE, MAX_CONTROL}
extern "C" int luaopen_skynet_cluster_core(lua_State* L);
