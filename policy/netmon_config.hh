// The netmon.cf reader (DESIGN §6, local adapter health rule 2): `!REQD <owner> <target>` lines,
// and in RSCT mode the traditional one-address-per-line targets, resolved to this node's adapters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "hb/model.hh"

namespace hb::policy {

// CAA (PowerHA 7.2 and later) reads only `!REQD` lines; RSCT also takes plain address lines as
// targets for every adapter.
enum class NetmonMode : std::uint8_t { caa, rsct };

inline constexpr std::size_t netmon_max_file_bytes = std::size_t{1} << 20;
inline constexpr std::size_t netmon_max_line_bytes = 4096;
inline constexpr std::size_t netmon_max_targets_per_owner = 32;
// Garbage input must not turn into megabytes of warnings: past this many, the rest are counted.
inline constexpr std::size_t netmon_max_warnings = 100;
// The owner that stands for every local adapter.
inline constexpr std::string_view netmon_all_owner = "!ALL";

struct NetmonEntry {
    std::string owner;  // interface name, dotted-quad address, or "!ALL"
    Ipv4 target{};
    std::uint32_t line = 0;  // 1-based line of the file that gave this entry
    friend bool operator==(const NetmonEntry&, const NetmonEntry&) = default;
};

struct NetmonWarning {
    std::uint32_t line = 0;  // 0: the whole file
    std::string message;     // without the line number; see to_string
};

struct NetmonFile {
    std::vector<NetmonEntry> entries;  // in file order; at most 32 per owner, no duplicates
    std::vector<NetmonWarning> warnings;
};

// Never fails: anything unusable becomes a warning. Text over netmon_max_file_bytes gives no
// entries and one warning.
[[nodiscard]] NetmonFile parse_netmon(std::string_view text, NetmonMode mode);

// Reads and parses a regular file. A file that is missing, unreadable, not a regular file or
// larger than netmon_max_file_bytes gives an error message instead.
[[nodiscard]] std::variant<NetmonFile, std::string> load_netmon(const std::filesystem::path& file,
                                                                NetmonMode mode);

// The probe targets of each local adapter, indexed like local_adapters. An owner matches an
// adapter by interface name or address; "!ALL" matches every adapter. Owners naming an adapter
// are served before "!ALL", so the cap of 32 per adapter never drops a specific target for a
// generic one. Targets are deduplicated per adapter; a target that is one of this node's own
// addresses is dropped (it would always answer). Problems are appended to warnings.
[[nodiscard]] std::vector<std::vector<Ipv4>> targets_per_adapter(
    const NetmonFile& file, std::span<const AdapterConfig> local_adapters,
    std::vector<NetmonWarning>& warnings);

// "line 40: more than 32 ..." or, for line 0, the message alone.
[[nodiscard]] std::string to_string(const NetmonWarning& warning);

}  // namespace hb::policy
