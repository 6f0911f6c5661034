#include "tools/hbd/log.hh"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace hb::hbd {

void log_line(std::string_view text) noexcept {
    // A fixed buffer: the engine thread logs too, and must not allocate. Longer lines are cut.
    std::array<char, 4096> line{};
    constexpr std::string_view prefix = "hbd: ";
    std::size_t length = prefix.size();
    std::memcpy(line.data(), prefix.data(), prefix.size());
    const std::size_t room = line.size() - length - 1;
    const std::size_t taken = std::min(text.size(), room);
    std::memcpy(line.data() + length, text.data(), taken);
    length += taken;
    line[length++] = '\n';
    std::size_t done = 0;
    while (done < length) {
        const ssize_t n = ::write(STDERR_FILENO, line.data() + done, length - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;  // nowhere to report a broken log
        }
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace hb::hbd
