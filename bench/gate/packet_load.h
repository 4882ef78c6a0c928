#pragma once

// The load client of the gate benchmark: like bench_support's echo_round_trips, but each 64-byte
// request is one packet in skynet's netpack framing (a 2-byte big-endian length, 62 bytes), so a
// gate can cut it, while a plain echo server simply sends the same bytes back.

namespace skyhive::bench {

// `connections` connections to 127.0.0.1:port, each sending one 64-byte framed packet and waiting
// for its 64 bytes back before the next, for `seconds`. Returns round trips per second; every
// echoed byte is checked (a mismatch aborts the benchmark). Thread: any.
double packet_round_trips(int port, int connections, double seconds);

}  // namespace skyhive::bench
