#include "tools/hbd/event_sinks.hh"

#include <unistd.h>

#include <cerrno>
#include <new>

namespace hb::hbd {

void JsonLinesWriter::consume(const Event& event) noexcept {
    try {
        std::string line = event_to_json(event, cluster_);
        line.push_back('\n');
        write_line(line);
    } catch (const std::bad_alloc&) {
        lost_.fetch_add(1, std::memory_order_relaxed);
    }
}

void JsonLinesWriter::write_line(std::string_view line) noexcept {
    std::size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            lost_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace hb::hbd
