#pragma once

#include <memory>

#include "core/module.h"

namespace skyhive {

// The built-in demo ("demo" module): launches `pairs` pairs of C++ services that bounce a message
// back and forth as fast as the workers allow, and once a second logs the message rate and the
// allocator's figures. Args: "[pairs]" (default 2). Shows the runtime working with no Lua, no
// sockets and no Redis.
// Thread: a worker, like every module.
std::unique_ptr<Module> make_demo();
std::unique_ptr<Module> make_demo_bouncer();

}  // namespace skyhive
