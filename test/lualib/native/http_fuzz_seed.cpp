// Writes a few valid HTTP streams into a directory (created if missing), as the seed corpus of
// http_fuzz: byte 0 picks the kind and read size, the rest is what a peer sends.
#include <string>
#include <vector>

#include "fuzz_seed.h"

int main(int argc, char** argv) {
    if (!skyhive::fuzz::seed_args_ok(argc, argv)) return 2;
    const std::vector<std::string> seeds = {
        std::string(1, char(0 << 1)) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        std::string(1, char(6 << 1)) +
            "POST /p?q=1 HTTP/1.1\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc"
            "GET /n HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        std::string(1, char(2 << 1)) +
            "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\nT: 1\r\n\r\n",
        std::string(1, char(40 << 1)) +
            "GET / HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
        std::string(1, char((3 << 1) | 1)) +
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        std::string(1, char((9 << 1) | 1)) +
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
        std::string(1, char((0 << 1) | 1)) + "HTTP/1.0 404 Not Found\r\n\r\nto the end",
    };
    return skyhive::fuzz::write_seeds(argv[1], seeds);
}
