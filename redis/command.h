#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "core/message.h"
#include "core/result.h"

namespace skyhive::redis {

// Encodes commands as RESP multibulk requests (binary-safe arguments; the bytes hiredis's
// formatter produces), appending them to one caller-owned buffer so that a pipeline leaves in a
// single write. Thread: one thread at a time (a value owned by its caller).
class CommandBuffer {
  public:
    CommandBuffer() = default;
    CommandBuffer(const CommandBuffer&) = delete;
    CommandBuffer& operator=(const CommandBuffer&) = delete;
    CommandBuffer(CommandBuffer&& o) noexcept;
    CommandBuffer& operator=(CommandBuffer&& o) noexcept;
    ~CommandBuffer();

    // Appends one command; argv[0] is its name. Error (buffer unchanged) for an empty argv, or
    // when the buffer would pass UINT32_MAX bytes (a Payload's limit) or memory runs out.
    Result<void> append(int argc, const char* const* argv, const size_t* lens);
    Result<void> append(std::span<const std::string_view> argv);
    Result<void> append(std::initializer_list<std::string_view> argv) {
        return append(std::span<const std::string_view>(argv.begin(), argv.size()));
    }

    // The same encoding built one argument at a time, for encoders that walk their arguments
    // once: begin(argc) writes the header, add() each of the argc arguments in order, then
    // commit() counts the command. False (over 4 GiB or out of memory) leaves a partial command:
    // the caller must truncate() to the size and count it read before begin().
    bool begin(size_t argc);
    bool add(const char* arg, size_t len);
    void commit() { ++count_; }
    // Appends `commands` whole commands already encoded (what another buffer holds, e.g. a
    // pipeline built ahead). False (buffer unchanged) past 4 GiB or out of memory.
    bool append_encoded(std::string_view bytes, uint32_t commands);

    const char* data() const { return data_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    std::string_view view() const { return {data_, size_}; }
    // Commands appended since the last take() or clear().
    uint32_t count() const { return count_; }

    // Hands the bytes over (malloc'd, as the socket layer's send expects); the buffer is empty
    // afterwards.
    Payload take();
    void clear();
    // Drops what was appended after size() and count() were `size` and `count` (a batch that
    // failed half-way). Both must be values read earlier, with no take() or clear() since.
    void truncate(size_t size, uint32_t count) {
        size_ = size;
        count_ = count;
    }

  private:
    bool reserve(size_t n);

    char* data_ = nullptr;
    size_t size_ = 0;
    size_t cap_ = 0;
    uint32_t count_ = 0;
    // The size of the last payload taken: the next one starts with that much room, so a
    // connection that sends pipelines of the same shape grows its buffer once, not per write.
    size_t last_ = 0;
};

// One command as a string; for tests and one-off requests.
std::string format_command(std::span<const std::string_view> argv);

}  // namespace skyhive::redis
