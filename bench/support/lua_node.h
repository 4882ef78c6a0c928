#pragma once

// The skyhive binary's composition root (services/runtime.h) for a benchmark that measures Lua
// services: started from a config text, with a wait for the port a service publishes.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "services/runtime.h"

namespace skyhive::bench {

// Parses `config_text` (relative paths resolve against the folder of `config_name`, so a name
// under the source tree lets the benchmark run from any directory), creates the Runtime and
// starts it (the bootstrap service is launched). Null after printing on stderr what failed.
// Thread: the main thread, before any other thread exists (Runtime::create).
std::unique_ptr<Runtime> start_runtime(std::string_view config_text,
                                       const std::string& config_name);

// The first non-zero value of get(), polled every 5 ms for up to 10 s; 0 if none came (a
// service that publishes its port has no event to await from outside the node).
int wait_for(const std::function<int()>& get);

// The port a service of `runtime` published with skynet.setenv(key, port), waiting for it as
// wait_for does; 0 if it never came.
int wait_for_env_port(Runtime& runtime, const char* key);

// Stops the node and returns the Runtime's exit code (Runtime::wait).
int stop(Runtime& runtime);

}  // namespace skyhive::bench
