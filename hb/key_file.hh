// Reading a cluster key file, the same way in hbd, hbping and hbdisk: the checks an operator
// expects of a secret (as ssh makes of a private key) and the derivation of the MAC key.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <variant>

#include "hb/model.hh"

namespace hb {

inline constexpr std::size_t key_file_min_bytes = 16;
// A key file is a few dozen bytes; a large one is almost certainly the wrong path.
inline constexpr std::size_t key_file_max_bytes = 1 << 20;

// Reads a key file and derives its MacKey. Refuses, with a reason that names the path, a file that
// is not a regular file, that group or others may read or write, that belongs to neither the
// effective user nor root, or that holds fewer than key_file_min_bytes. The reason reads after the
// file's name: "cannot be read: No such file or directory", "has mode 0644; ...".
[[nodiscard]] std::variant<MacKey, std::string> load_key_file(const std::filesystem::path& path);

// "3a": a key id as logs and `hbd --check` show it.
[[nodiscard]] std::string key_id_text(std::uint8_t id);

}  // namespace hb
