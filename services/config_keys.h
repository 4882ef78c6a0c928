#pragma once

#include "core/config.h"
#include "core/config_schema.h"
#include "core/result.h"

namespace skyhive {

// Every key the skyhive binary, its node and the services shipped with it read from the config,
// with the kind and range of its value (services/config_keys.cpp is the one list: a service that
// reads a new key declares it there).
// Thread: any; the schema is built once and never changed.
const ConfigSchema& node_config_schema();

// Checks a loaded config against node_config_schema(), before any thread or service starts. The
// error names every bad or unknown key, one per line, as "file:line: key 'k': ...".
Result<void> validate_node_config(const Config& config);

}  // namespace skyhive
