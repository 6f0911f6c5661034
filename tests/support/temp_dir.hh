// A private directory under the system's temporary directory for a test's files, removed with
// everything in it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hb::test {

class TempDir {
public:
    explicit TempDir(std::string_view prefix = "hb_test") {
        std::string pattern =
            (std::filesystem::temp_directory_path() / (std::string(prefix) + ".XXXXXX")).native();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

    // Writes `bytes` to `name` (below the directory; parents are made) with permissions `mode`.
    std::filesystem::path write(const std::filesystem::path& name, std::string_view bytes,
                                std::filesystem::perms mode) const {
        const std::filesystem::path file = path_ / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.close();
        std::filesystem::permissions(file, mode);
        return file;
    }

private:
    std::filesystem::path path_;
};

}  // namespace hb::test
