#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace skyhive {

// What went wrong: a sentence for a human, and the errno value when a system call failed.
struct Error {
    std::string message;
    int code = 0;  // errno, or 0

    // "what: strerror(errno)", e.g. from_errno("connect 127.0.0.1:6379").
    static Error from_errno(std::string what, int err = errno) {
        return Error{std::move(what) + ": " + std::strerror(err), err};
    }
};

// A value or an Error. For I/O and parsing outcomes; broken invariants assert instead.
template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T* operator->() { return &std::get<0>(v_); }
    T& operator*() { return std::get<0>(v_); }
    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error e) : e_(std::move(e)) {}
    bool ok() const { return !e_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return *e_; }

  private:
    std::optional<Error> e_;
};

}  // namespace skyhive
