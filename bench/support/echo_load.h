#pragma once

// The load client shared by the echo benchmarks (bench/net, bench/socket): one thread, its own
// epoll set, run against each server under test and the reference alike.

#include <cstdint>

namespace skyhive::bench {

// What a 64-byte request is: raw bytes, or one packet in skynet's netpack framing (a 2-byte
// big-endian length, then 62 bytes), which a gate cuts while a plain echo server simply sends
// the same bytes back.
enum class Framing : uint8_t { raw, netpack };

// A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY set. When it cannot connect, the
// benchmark exits with "<who>: connect: <errno text>".
int connect_loopback(int port, const char* who);

// `connections` connections to 127.0.0.1:port, each sending a 64-byte request and waiting for
// the 64-byte echo before the next, for `seconds`. Returns round trips per second; every echoed
// byte is checked (a mismatch aborts the benchmark).
double echo_round_trips(int port, int connections, double seconds, Framing framing = Framing::raw);

// One connection streaming 64 KB writes while reading the echo back (at most 4 MB in flight),
// for `seconds`. Returns echoed megabytes (2^20) per second, each byte checked.
double echo_bulk(int port, double seconds);

}  // namespace skyhive::bench
