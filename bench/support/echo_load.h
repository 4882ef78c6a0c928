#pragma once

// The load client shared by the echo benchmarks (bench/net, bench/socket): one thread, its own
// epoll set, run against each server under test and the reference alike.

namespace skyhive::bench {

// `connections` connections to 127.0.0.1:port, each sending a 64-byte request and waiting for
// the 64-byte echo before the next, for `seconds`. Returns round trips per second; every echoed
// byte is checked (a mismatch aborts the benchmark).
double echo_round_trips(int port, int connections, double seconds);

// One connection streaming 64 KB writes while reading the echo back (at most 4 MB in flight),
// for `seconds`. Returns echoed megabytes (2^20) per second, each byte checked.
double echo_bulk(int port, double seconds);

}  // namespace skyhive::bench
