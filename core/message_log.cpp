#include "core/message_log.h"

#include <cerrno>
#include <ctime>

namespace skyhive {

namespace {
// What a limit line takes at most: reserved so that the file never passes its limit.
constexpr uint64_t kLastLineReserve = 128;
}  // namespace

Result<std::unique_ptr<MessageLog>> MessageLog::open(const std::string& path, uint64_t limit,
                                                     const std::string& what) {
    char date[64] = "";
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm);
    const std::string header = "# messages of " + what.substr(0, 256) + " from " + date +
                               ": seconds :source type session bytes payload(hex)\n";
    std::FILE* f = std::fopen(path.c_str(), "a");
    if (!f) return Error::from_errno("cannot open message log " + path);
    std::unique_ptr<MessageLog> log(new MessageLog(f, path, limit));
    // Appended to, as skynet does: an earlier logon's lines stay, and count toward the limit.
    const long size = std::fseek(f, 0, SEEK_END) == 0 ? std::ftell(f) : 0;
    log->written_ = size > 0 ? uint64_t(size) : 0;
    if (log->written_ + header.size() + kLastLineReserve > limit)
        return Error{"message log " + path + " is already at its limit of " +
                     std::to_string(limit) + " bytes (remove it, or raise logon_limit_kb)"};
    log->put(header);
    return log;
}

MessageLog::~MessageLog() {
    std::fclose(file_);
}

bool MessageLog::put(const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) return false;
    written_ += line.size();
    return true;
}

bool MessageLog::write(const Message& m, uint64_t now_cs) {
    if (full_) return false;
    static const char hex[] = "0123456789abcdef";
    char head[96];
    int n = std::snprintf(head, sizeof head, "%llu.%02u :%08x %s %d %u ",
                          static_cast<unsigned long long>(now_cs / 100),
                          static_cast<unsigned>(now_cs % 100), m.source.value, to_string(m.type),
                          m.session, m.payload.size());
    std::string line(head, size_t(n));
    line.reserve(line.size() + 2 * size_t(m.payload.size()) + 1);
    for (unsigned char ch : m.payload.view()) {
        line.push_back(hex[ch >> 4]);
        line.push_back(hex[ch & 15]);
    }
    line.push_back('\n');
    if (written_ + line.size() + kLastLineReserve > limit_) {
        full_ = true;
        put("# stopped: the next message would take this file past its limit of " +
            std::to_string(limit_) + " bytes\n");
        std::fflush(file_);
        return false;
    }
    put(line);
    // Flushed per message: an operator tails the file while the service runs.
    std::fflush(file_);
    return true;
}

}  // namespace skyhive
