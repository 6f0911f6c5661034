// libFuzzer target for the netmon.cf reader: any input, in either mode, parses without crashing
// into entries that keep the format's limits, and resolves to at most 32 targets per adapter.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hb/assert.hh"
#include "policy/netmon_config.hh"

namespace {

using hb::policy::NetmonMode;

// Two adapters whose names and addresses fuzzed lines can plausibly hit ("en2", "10.0.0.2").
const std::vector<hb::AdapterConfig> local_adapters = {
    {.network = 0, .ifname = "en2", .address = hb::Ipv4{0x0a00'0002}},
    {.network = 1, .ifname = "en3", .address = hb::Ipv4{0x0a00'0102}},
};

void check(std::string_view text, NetmonMode mode) {
    const hb::policy::NetmonFile file = hb::policy::parse_netmon(text, mode);
    std::vector<std::size_t> line_starts{0};
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n') {
            line_starts.push_back(i + 1);
        }
    }
    std::map<std::string, std::set<std::uint32_t>> per_owner;
    std::uint32_t previous_line = 0;
    for (const hb::policy::NetmonEntry& entry : file.entries) {
        HB_ASSERT(!entry.owner.empty());
        HB_ASSERT(entry.line >= 1 && entry.line <= line_starts.size());
        // CAA reads nothing but lines that open with the keyword at column 0.
        HB_ASSERT(mode == NetmonMode::rsct ||
                  text.substr(line_starts[entry.line - 1]).starts_with("!REQD"));
        HB_ASSERT(entry.line > previous_line);
        previous_line = entry.line;
        HB_ASSERT(!entry.target.is_unspecified() && !entry.target.is_multicast());
        HB_ASSERT(per_owner[entry.owner].insert(entry.target.value).second);
        HB_ASSERT(per_owner[entry.owner].size() <= hb::policy::netmon_max_targets_per_owner);
    }
    HB_ASSERT(file.warnings.size() <= hb::policy::netmon_max_warnings + 2);
    for (const hb::policy::NetmonWarning& warning : file.warnings) {
        HB_ASSERT(!warning.message.empty());
    }

    std::vector<hb::policy::NetmonWarning> warnings;
    const std::vector<std::vector<hb::Ipv4>> targets =
        hb::policy::targets_per_adapter(file, local_adapters, warnings);
    HB_ASSERT(targets.size() == local_adapters.size());
    for (const std::vector<hb::Ipv4>& list : targets) {
        HB_ASSERT(list.size() <= hb::policy::netmon_max_targets_per_owner);
        std::set<std::uint32_t> seen;
        for (const hb::Ipv4 target : list) {
            HB_ASSERT(seen.insert(target.value).second);
            for (const hb::AdapterConfig& adapter : local_adapters) {
                HB_ASSERT(target != adapter.address);
            }
        }
    }
    HB_ASSERT(warnings.size() <= hb::policy::netmon_max_warnings + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check(text, NetmonMode::caa);
    check(text, NetmonMode::rsct);
    return 0;
}
