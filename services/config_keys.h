#pragma once

#include "core/config.h"
#include "core/config_schema.h"
#include "core/result.h"
#include "services/config_loader.h"

namespace skyhive {

// Every key the skyhive binary, its node and the services shipped with it read from the config,
// with the kind and range of its value (services/config_keys.cpp is the one list: a service that
// reads a new key declares it there).
// Thread: any; the schema is built once and never changed.
const ConfigSchema& node_config_schema();

// The keys of node_config_schema() whose values name files or directories, which the loader
// resolves against the directory of the config file that sets them: logger (in logpath when set),
// logpath, cpath, local_redis, luaservice, lua_path, lua_cpath, lualoader, preload, cluster.
// Thread: any; built once and never changed.
const PathKeys& node_path_keys();

// Checks a loaded config against node_config_schema(), before any thread or service starts, and
// that the files it names which must exist (lualoader, preload, cluster) do; the entries of the
// cluster file (skynet's clustername) are checked one by one, cluster_peer_timeout must be
// more than cluster_heartbeat, and an `admin` address that is not loopback needs both
// admin_allow_remote = true and an admin_token (of 16 characters or more). The error names every
// bad or unknown key, one per line, as "file:line: key 'k': ...".
Result<void> validate_node_config(const Config& config);

}  // namespace skyhive
