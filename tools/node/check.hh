// `hbd --check` and `hbctl check`: validate a configuration without running a node, with one
// output for both tools (DESIGN §9: every error with its line, exit 2).
#pragma once

#include <filesystem>
#include <string_view>

namespace hb::node {

// Reads `config_path`; prints every error ("FILE:LINE: message") to standard error and returns 2,
// or prints the warnings (standard error, "<program>: warning: ..."), what each local adapter's
// health sources will be and, with [disk], whether the disk is initialised for this cluster
// (standard output), and returns 0. A disk that is not usable returns 2.
[[nodiscard]] int check_config(const std::filesystem::path& config_path, std::string_view program);

}  // namespace hb::node
