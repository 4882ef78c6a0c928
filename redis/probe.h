#pragma once

// Blocking probes of a Redis server on this machine's loopback, for the code that starts one and
// waits for it: the node's own redis-server (services/local_redis.*) and the tests' processes
// (test/support/redis_process.*). Every call blocks its caller up to its timeout: never call one
// on the socket thread or a worker.
//
// Thread: any (no shared state).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace skyhive::redis {

// A TCP port on 127.0.0.1 that was free a moment ago (bound, read back and released); 0 when
// none could be had. Another process may take it before the caller binds it: callers retry.
int free_loopback_port();

// Sends one inline command ("PING", "ROLE") to 127.0.0.1:port and returns the first line of the
// reply without its CRLF ("+PONG", "*3"). Connecting, sending and each read wait up to `timeout`.
// Errors name the address and the command, e.g. "no reply from 127.0.0.1:6379 to PING".
Result<std::string> inline_command(int port, std::string_view command,
                                   std::chrono::milliseconds timeout);

// True when 127.0.0.1:port answers PING with +PONG within `timeout`.
bool answers_ping(int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(500));

// Waits for a server being started on 127.0.0.1:port: sends PING every 20 ms until it answers
// +PONG. Stops early with the Error `starting` returns (the caller's process exited, or is being
// stopped); after `timeout`, returns "127.0.0.1:port did not answer PING within N ms".
Result<void> await_ping(int port, std::chrono::milliseconds timeout,
                        const std::function<Result<void>()>& starting);

}  // namespace skyhive::redis
