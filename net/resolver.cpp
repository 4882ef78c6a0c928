#include "net/resolver.h"

#include <netdb.h>

namespace skyhive::net {

void Resolver::submit(int32_t id, std::string host, int port) {
    std::lock_guard g(mutex_);
    if (stopping_) return;
    jobs_.push_back(Job{id, std::move(host), port});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    cv_.notify_one();
}

void Resolver::stop() {
    {
        std::lock_guard g(mutex_);
        stopping_ = true;
        jobs_.clear();
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void Resolver::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock lk(mutex_);
            cv_.wait(lk, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        auto* result = new ResolveResult;
        result->id = job.id;
        result->target = host_port(job.host, job.port);
        auto r = resolve(job.host, job.port, SOCK_STREAM, Endpoint::remote);
        if (r) {
            result->addresses = std::move(r.value());
        } else {
            result->error = r.error().message;  // "resolve host:port: <why>"
            result->err = r.error().code;
        }
        Command c;
        c.type = CommandType::resolved;
        c.id = job.id;
        c.ptr = result;
        post_(c);
    }
}

}  // namespace skyhive::net
