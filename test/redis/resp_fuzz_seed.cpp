// Writes the seed corpus of resp_fuzz into a directory (created if missing): typical replies,
// nesting, binary bulks and a few malformed streams, each behind a split-choice byte.

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

using namespace std::string_literals;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
        return 2;
    }
    const std::string seeds[] = {
        "+OK\r\n-ERR unknown command\r\n:0\r\n:-9223372036854775808\r\n",
        "$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n",
        "$7\r\na\0b\r\nc\0\r\n"s,
        "*3\r\n$1\r\na\r\n:1\r\n*3\r\n$-1\r\n+x\r\n-WRONGTYPE bad\r\n",
        "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        "*2\r\n$7\r\nmessage\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
        "$300\r\n" + std::string(300, 'x') + "\r\n",
        "*65\r\n",
        "+" + std::string(300, 'l'),
        "$3\r\nfooXY",
        ":12a\r\n",
        "x",
    };
    std::error_code ec;
    std::filesystem::create_directories(argv[1], ec);
    if (ec) {
        std::fprintf(stderr, "%s: %s\n", argv[1], ec.message().c_str());
        return 1;
    }
    int n = 0;
    for (const std::string& stream : seeds) {
        for (char split : {'\0', '\x07', '\xff'}) {
            std::string bytes = split + stream;
            std::string path = std::string(argv[1]) + "/seed-" + std::to_string(n++);
            std::FILE* f = std::fopen(path.c_str(), "wb");
            if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
                std::perror(path.c_str());
                return 1;
            }
            std::fclose(f);
        }
    }
    return 0;
}
