// Key files: opened once, checked on the open descriptor (so the file checked is the file read),
// read into a buffer that is wiped afterwards.
#include "hb/key_file.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "hb/mac.hh"

namespace hb {

namespace {

std::string mode_text(mode_t mode) {
    std::array<char, 8> text{};
    std::snprintf(text.data(), text.size(), "%04o", static_cast<unsigned>(mode & 07777));
    return text.data();
}

// Why the file behind `fd` must not hold a key, or "" when it may.
std::string refusal(int fd, const std::filesystem::path& path) {
    struct stat status {};
    if (::fstat(fd, &status) != 0) {
        return std::string("cannot be read: ") + std::strerror(errno);
    }
    if (S_ISDIR(status.st_mode)) {
        return std::string("cannot be read: ") + std::strerror(EISDIR);
    }
    if (!S_ISREG(status.st_mode)) {
        return "cannot be read: not a regular file";
    }
    // Anyone who can read the key can forge beats; anyone who can write it can stop this node
    // from authenticating its peers. ssh refuses private keys on the same grounds.
    if ((status.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        return "has mode " + mode_text(status.st_mode) +
               "; a key file must not be accessible to group or others (chmod 600 " +
               path.native() + ")";
    }
    const uid_t self = ::geteuid();
    if (status.st_uid != self && status.st_uid != 0) {
        return "is owned by uid " + std::to_string(status.st_uid) +
               "; a key file must belong to the user reading it (uid " + std::to_string(self) +
               ") or to root";
    }
    return {};
}

}  // namespace

std::variant<MacKey, std::string> load_key_file(const std::filesystem::path& path) {
    // O_NONBLOCK: a FIFO given by mistake is refused below instead of blocking the open.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return std::string("cannot be read: ") + std::strerror(errno);
    }
    std::string problem = refusal(fd, path);
    std::vector<std::uint8_t> bytes(problem.empty() ? key_file_max_bytes + 1 : 0);
    std::size_t size = 0;
    while (problem.empty() && size < bytes.size()) {
        const ssize_t count = ::read(fd, bytes.data() + size, bytes.size() - size);
        if (count < 0 && errno == EINTR) {
            continue;
        }
        if (count < 0) {
            problem = std::string("cannot be read: ") + std::strerror(errno);
        } else if (count == 0) {
            break;
        } else {
            size += static_cast<std::size_t>(count);
        }
    }
    ::close(fd);
    if (problem.empty() && size > key_file_max_bytes) {
        problem = "cannot be read: larger than " + std::to_string(key_file_max_bytes) + " bytes";
    } else if (problem.empty() && size < key_file_min_bytes) {
        problem = "holds " + std::to_string(size) + " bytes; a key file needs at least " +
                  std::to_string(key_file_min_bytes);
    }
    MacKey key{};
    if (problem.empty()) {
        key = derive_key(std::span<const std::uint8_t>(bytes.data(), size));
    }
    if (!bytes.empty()) {  // empty (the open failed): data() may be null, which bzero refuses
        explicit_bzero(bytes.data(), bytes.size());  // leave no key material in freed memory
    }
    if (!problem.empty()) {
        return problem;
    }
    return key;
}

std::string key_id_text(std::uint8_t id) {
    std::array<char, 4> text{};
    std::snprintf(text.data(), text.size(), "%02x", static_cast<unsigned>(id));
    return text.data();
}

}  // namespace hb
