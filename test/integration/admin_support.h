#pragma once

// Support for the admin endpoint's black-box tests (header only): plain HTTP requests to a
// node's admin port, the port from the node's log, and headless Chromium loading a page.

#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "test/integration/line_client.h"
#include "test/integration/process.h"

namespace skyhive::test::admin {

// One HTTP response, read whole (the request asks the server to close after it).
struct HttpReply {
    int status = 0;  // 0: no answer
    std::string head;
    std::string body;

    // The value of header `name` (given in lowercase; matched in any case), or "".
    std::string header(const std::string& name) const {
        size_t pos = head.find("\r\n");
        while (pos != std::string::npos && pos + 2 < head.size()) {
            size_t end = head.find("\r\n", pos + 2);
            std::string line =
                head.substr(pos + 2, end == std::string::npos ? std::string::npos : end - pos - 2);
            size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string key = line.substr(0, colon);
                for (char& c : key)
                    c = char(std::tolower(static_cast<unsigned char>(c)));
                if (key == name) return line.substr(line.find_first_not_of(' ', colon + 1));
            }
            pos = end;
        }
        return "";
    }
};

// `method path` on 127.0.0.1:port with the extra header lines (each ending in CR LF).
inline HttpReply http(int port, const std::string& method, const std::string& path,
                      const std::string& extra = "") {
    HttpReply reply;
    LineClient c(port);
    if (!c.connected()) return reply;
    std::string request = method + " " + path +
                          " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nConnection: close\r\n" + extra;
    if (method != "GET" && method != "HEAD") request += "Content-Length: 0\r\n";
    if (!c.send(request + "\r\n") || !c.wait_eof()) return reply;
    std::string all;
    while (auto more = c.read_some())
        all += *more;
    size_t end = all.find("\r\n\r\n");
    if (all.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos) return reply;
    reply.status = std::atoi(all.c_str() + 9);
    reply.head = all.substr(0, end);
    reply.body = all.substr(end + 4);
    return reply;
}

inline HttpReply get(int port, const std::string& path, const std::string& extra = "") {
    return http(port, "GET", path, extra);
}

// The admin port from a node's log ("admin: listening on 127.0.0.1:<port>"); 0 when absent.
inline int admin_port(const std::string& output) {
    const std::string needle = "admin: listening on 127.0.0.1:";
    size_t at = output.rfind(needle);
    return at == std::string::npos ? 0 : std::atoi(output.c_str() + at + needle.size());
}

// The Chromium binary (Debian's chromium package), or "" when it is not installed.
inline std::string chromium_binary() {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin";
    for (size_t start = 0; start <= dirs.size();) {
        size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        for (const char* name : {"chromium", "chromium-browser"}) {
            std::string file = dirs.substr(start, end - start) + "/" + name;
            if (::access(file.c_str(), X_OK) == 0) return file;
        }
        start = end + 1;
    }
    return "";
}

// Headless Chromium on `url` with a profile of its own in `dir`; the page runs for
// `budget_ms` of virtual time (time that passes at once while the page waits only for timers;
// network requests are real). `mode` is "--dump-dom" (the DOM after the budget, as HTML, is
// returned) or "--screenshot=FILE" (the return value is Chromium's output).
inline std::string run_chromium(const TempDir& dir, const std::string& url, int budget_ms,
                                const std::string& mode) {
    std::vector<std::string> argv = {chromium_binary(),
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--no-first-run",
                                     "--hide-scrollbars",
                                     "--user-data-dir=" + dir.file("chromium-profile"),
                                     "--window-size=1280,900",
                                     "--virtual-time-budget=" + std::to_string(budget_ms),
                                     mode,
                                     url};
    static int runs = 0;
    std::string out = dir.file("chromium." + std::to_string(++runs) + ".out");
    Process p(argv, out, dir.path());
    if (p.wait(std::chrono::seconds(90)) != 0) return "chromium failed:\n" + p.output();
    std::string text = p.output();
    if (mode != "--dump-dom") return text;
    size_t begin = text.find("<html"), end = text.rfind("</html>");
    if (begin == std::string::npos || end == std::string::npos) return "no DOM in:\n" + text;
    return text.substr(begin, end + 7 - begin);
}

// The text inside the element whose id is `id` (up to its first child tag), or nullopt.
inline std::optional<std::string> text_of(const std::string& dom, const std::string& id) {
    size_t at = dom.find("id=\"" + id + "\"");
    if (at == std::string::npos) return std::nullopt;
    size_t open = dom.find('>', at);
    size_t close = dom.find('<', open);
    if (open == std::string::npos || close == std::string::npos) return std::nullopt;
    return dom.substr(open + 1, close - open - 1);
}

// The value of attribute `name` in the start tag of the element whose id is `id`, or nullopt.
inline std::optional<std::string> attribute_of(const std::string& dom, const std::string& id,
                                               const std::string& name) {
    size_t at = dom.find("id=\"" + id + "\"");
    if (at == std::string::npos) return std::nullopt;
    size_t tag = dom.rfind('<', at), end = dom.find('>', at);
    std::string start = dom.substr(tag, end - tag);
    size_t a = start.find(" " + name + "=\"");
    if (a == std::string::npos) return std::nullopt;
    a += name.size() + 3;
    return start.substr(a, start.find('"', a) - a);
}

inline size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

}  // namespace skyhive::test::admin
