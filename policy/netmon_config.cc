// The netmon.cf reader: a line-at-a-time parser that turns every problem into a warning naming
// the line, and the resolution of owners to the local node's adapters.
#include "policy/netmon_config.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "hb/assert.hh"

namespace hb::policy {
namespace {

constexpr std::string_view reqd_keyword = "!REQD";
constexpr std::size_t max_quoted_bytes = 40;
constexpr std::size_t max_ifname_bytes = 15;  // IFNAMSIZ - 1

bool is_separator(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<std::string_view> split_fields(std::string_view text) {
    std::vector<std::string_view> fields;
    std::size_t position = 0;
    while (position < text.size()) {
        while (position < text.size() && is_separator(text[position])) {
            ++position;
        }
        const std::size_t start = position;
        while (position < text.size() && !is_separator(text[position])) {
            ++position;
        }
        if (position > start) {
            fields.push_back(text.substr(start, position - start));
        }
    }
    return fields;
}

// A field quoted for a message: garbage bytes are escaped so that a warning stays one printable
// line, and long fields are cut.
std::string quoted(std::string_view field) {
    static constexpr char hex_digits[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < field.size() && i < max_quoted_bytes; ++i) {
        const auto byte = static_cast<unsigned char>(field[i]);
        if (byte == '"' || byte == '\\') {
            out += '\\';
            out += static_cast<char>(byte);
        } else if (byte >= 0x20 && byte < 0x7f) {
            out += static_cast<char>(byte);
        } else {
            out += "\\x";
            out += hex_digits[byte >> 4];
            out += hex_digits[byte & 0xf];
        }
    }
    if (field.size() > max_quoted_bytes) {
        out += "...";
    }
    out += '"';
    return out;
}

bool is_dotted_digits(std::string_view text) noexcept {
    return !text.empty() && std::all_of(text.begin(), text.end(),
                                        [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// The Linux rules for a device name (dev_valid_name), limited to printable ASCII.
bool is_interface_name(std::string_view text) noexcept {
    if (text.empty() || text.size() > max_ifname_bytes || text == "." || text == "..") {
        return false;
    }
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c > ' ' && c < '\x7f' && c != '/' && c != ':'; });
}

bool looks_like_host_name(std::string_view text) noexcept {
    bool has_letter = false;
    for (const char c : text) {
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        has_letter = has_letter || letter;
        if (!letter && !(c >= '0' && c <= '9') && c != '-' && c != '.' && c != '_') {
            return false;
        }
    }
    return has_letter;
}

struct Checked {
    std::optional<std::string> value;  // set when usable
    std::string problem;               // set otherwise
};

// An owner as stored: the name, "!ALL", or the address in canonical dotted-quad form.
Checked check_owner(std::string_view owner) {
    if (owner == netmon_all_owner) {
        return {std::string(owner), {}};
    }
    if (const std::optional<Ipv4> address = Ipv4::parse(owner)) {
        return {address->to_string(), {}};
    }
    if (is_dotted_digits(owner)) {
        return {std::nullopt, "owner " + quoted(owner) + " is not a valid IPv4 address; ignored"};
    }
    if (owner.front() == '!' || !is_interface_name(owner)) {
        return {std::nullopt, "owner " + quoted(owner) +
                                  " is not an interface name, an IPv4 address or !ALL; ignored"};
    }
    return {std::string(owner), {}};
}

// Addresses a probe can never usefully reach: they are not a remote host that proves the
// adapter can get packets in from outside.
std::optional<std::string> unusable_target_reason(Ipv4 target) {
    if (target.is_unspecified()) {
        return "the unspecified address";
    }
    if ((target.value >> 24) == 127) {
        return "a loopback address (it always answers)";
    }
    if (target.is_multicast()) {
        return "a multicast address";
    }
    if (target.value == 0xffff'ffffU) {
        return "the broadcast address";
    }
    return std::nullopt;
}

struct CheckedTarget {
    std::optional<Ipv4> value;
    std::string problem;
};

CheckedTarget check_target(std::string_view target) {
    if (const std::optional<Ipv4> address = Ipv4::parse(target)) {
        if (const std::optional<std::string> reason = unusable_target_reason(*address)) {
            return {std::nullopt,
                    "target " + address->to_string() + " is " + *reason + "; ignored"};
        }
        return {address, {}};
    }
    if (looks_like_host_name(target) && !is_dotted_digits(target)) {
        // Resolving would let a slow or dead DNS server stall the detector.
        return {std::nullopt, "target " + quoted(target) +
                                  " is a host name; host names are not resolved (use an IPv4 "
                                  "address); ignored"};
    }
    return {std::nullopt, "target " + quoted(target) + " is not an IPv4 address; ignored"};
}

// Collects warnings up to netmon_max_warnings, then only counts them.
class WarningSink {
public:
    explicit WarningSink(std::vector<NetmonWarning>& out) : out_(out) {}

    void add(std::uint32_t line, std::string message) {
        if (added_ < netmon_max_warnings) {
            out_.push_back({line, std::move(message)});
            ++added_;
        } else {
            ++suppressed_;
        }
    }

    void finish() {
        if (suppressed_ > 0) {
            out_.push_back({0, std::to_string(suppressed_) + " further warnings not shown"});
        }
    }

private:
    std::vector<NetmonWarning>& out_;
    std::size_t added_ = 0;
    std::size_t suppressed_ = 0;
};

struct OwnerTargets {
    std::vector<std::pair<Ipv4, std::uint32_t>> kept;  // target, line it came from
};

class Parser {
public:
    Parser(NetmonMode mode, NetmonFile& file) : mode_(mode), file_(file), sink_(file.warnings) {}

    void parse(std::string_view text) {
        std::uint32_t line_number = 0;
        std::size_t position = 0;
        while (position < text.size()) {
            const std::size_t end = std::min(text.find('\n', position), text.size());
            ++line_number;
            parse_line(line_number, text.substr(position, end - position));
            position = end + 1;
        }
        if (ignored_line_count_ > 0) {
            file_.warnings.push_back({0, std::to_string(ignored_line_count_) +
                                             " lines without !REQD ignored (CAA mode)"});
        }
        sink_.finish();
    }

private:
    void parse_line(std::uint32_t line_number, std::string_view line) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.size() > netmon_max_line_bytes) {
            sink_.add(line_number, "line longer than " + std::to_string(netmon_max_line_bytes) +
                                       " bytes; ignored");
            return;
        }
        if (line.find('\0') != std::string_view::npos) {
            sink_.add(line_number, "line contains a NUL byte; ignored");
            return;
        }
        const std::string_view content = line.substr(0, line.find('#'));
        const std::vector<std::string_view> fields = split_fields(content);
        if (fields.empty()) {
            return;
        }
        if (content.starts_with(reqd_keyword)) {
            if (fields.front() != reqd_keyword) {
                sink_.add(line_number, "unknown keyword " + quoted(fields.front()) +
                                           " (expected !REQD); ignored");
                return;
            }
            parse_reqd(line_number, fields);
            return;
        }
        if (fields.front() == reqd_keyword) {
            sink_.add(line_number, "!REQD must start at column 0; line ignored");
            return;
        }
        if (mode_ == NetmonMode::caa) {
            // The traditional format is not valid under CAA: counted, reported once.
            ++ignored_line_count_;
            return;
        }
        parse_plain(line_number, fields);
    }

    void parse_reqd(std::uint32_t line_number, std::span<const std::string_view> fields) {
        if (fields.size() == 1) {
            sink_.add(line_number, "!REQD needs an owner and a target; ignored");
            return;
        }
        Checked owner = check_owner(fields[1]);
        if (!owner.value) {
            sink_.add(line_number, std::move(owner.problem));
            return;
        }
        if (fields.size() == 2) {
            sink_.add(line_number, "!REQD " + quoted(fields[1]) + " has no target; ignored");
            return;
        }
        CheckedTarget target = check_target(fields[2]);
        if (!target.value) {
            sink_.add(line_number, std::move(target.problem));
            return;
        }
        if (fields.size() > 3) {
            sink_.add(line_number, std::to_string(fields.size() - 3) +
                                       " extra fields after the target ignored, first " +
                                       quoted(fields[3]));
        }
        add_entry(line_number, std::move(*owner.value), *target.value, "!REQD targets");
    }

    // RSCT's traditional format: one address per line, a target for every adapter.
    void parse_plain(std::uint32_t line_number, std::span<const std::string_view> fields) {
        if (fields.front().starts_with('!')) {
            sink_.add(line_number, "unsupported directive " + quoted(fields.front()) + "; ignored");
            return;
        }
        CheckedTarget target = check_target(fields.front());
        if (!target.value) {
            sink_.add(line_number, std::move(target.problem));
            return;
        }
        if (fields.size() > 1) {
            sink_.add(line_number, std::to_string(fields.size() - 1) +
                                       " extra fields after the address ignored, first " +
                                       quoted(fields[1]));
        }
        add_entry(line_number, std::string(netmon_all_owner), *target.value, "targets");
    }

    void add_entry(std::uint32_t line_number, std::string owner, Ipv4 target,
                   std::string_view what) {
        OwnerTargets& targets = owners_[owner];
        const auto duplicate = std::find_if(targets.kept.begin(), targets.kept.end(),
                                            [&](const auto& kept) { return kept.first == target; });
        if (duplicate != targets.kept.end()) {
            sink_.add(line_number, "duplicate of line " + std::to_string(duplicate->second) +
                                       " (owner " + owner + ", target " + target.to_string() +
                                       "); ignored");
            return;
        }
        if (targets.kept.size() >= netmon_max_targets_per_owner) {
            sink_.add(line_number, "more than " + std::to_string(netmon_max_targets_per_owner) +
                                       " " + std::string(what) + " for owner " + owner +
                                       "; ignored");
            return;
        }
        targets.kept.emplace_back(target, line_number);
        file_.entries.push_back({std::move(owner), target, line_number});
    }

    NetmonMode mode_;
    NetmonFile& file_;
    WarningSink sink_;
    std::map<std::string, OwnerTargets, std::less<>> owners_;
    std::size_t ignored_line_count_ = 0;
};

std::string describe(const AdapterConfig& adapter) {
    return adapter.ifname + " (" + adapter.address.to_string() + ")";
}

struct AdapterTargets {
    std::vector<Ipv4> targets;
    std::uint32_t first_dropped_line = 0;
    std::size_t dropped_count = 0;
};

}  // namespace

NetmonFile parse_netmon(std::string_view text, NetmonMode mode) {
    NetmonFile file;
    if (text.size() > netmon_max_file_bytes) {
        file.warnings.push_back({0, "file larger than " + std::to_string(netmon_max_file_bytes) +
                                        " bytes; nothing read"});
        return file;
    }
    Parser parser(mode, file);
    parser.parse(text);
    return file;
}

std::variant<NetmonFile, std::string> load_netmon(const std::filesystem::path& file,
                                                  NetmonMode mode) {
    const auto error_text = [&](std::string_view what, int error) {
        return file.string() + ": " + std::string(what) + ": " +
               std::error_code(error, std::generic_category()).message();
    };
    // O_NONBLOCK: a FIFO put in the file's place must not hang the open.
    const int descriptor = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (descriptor < 0) {
        return error_text("cannot open", errno);
    }
    struct Closer {
        int descriptor;
        ~Closer() { ::close(descriptor); }
    } closer{descriptor};
    struct stat status {};
    if (::fstat(descriptor, &status) != 0) {
        return error_text("cannot stat", errno);
    }
    if (!S_ISREG(status.st_mode)) {
        return file.string() + ": not a regular file";
    }
    const std::string too_large = file.string() + ": larger than " +
                                  std::to_string(netmon_max_file_bytes) + " bytes; refused";
    if (static_cast<std::uintmax_t>(status.st_size) > netmon_max_file_bytes) {
        return too_large;
    }
    // Read one byte past the limit, so that a file that grew after fstat is still refused.
    std::string text(netmon_max_file_bytes + 1, '\0');
    std::size_t length = 0;
    while (length < text.size()) {
        const ssize_t count = ::read(descriptor, text.data() + length, text.size() - length);
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            return error_text("cannot read", errno);
        }
        if (count == 0) {
            break;
        }
        length += static_cast<std::size_t>(count);
    }
    if (length > netmon_max_file_bytes) {
        return too_large;
    }
    text.resize(length);
    return parse_netmon(text, mode);
}

std::vector<std::vector<Ipv4>> targets_per_adapter(const NetmonFile& file,
                                                   std::span<const AdapterConfig> local_adapters,
                                                   std::vector<NetmonWarning>& warnings) {
    WarningSink sink(warnings);
    std::vector<AdapterTargets> per_adapter(local_adapters.size());
    std::set<std::string, std::less<>> unresolved_owners;

    const auto resolve = [&](const NetmonEntry& entry) {
        const bool all = entry.owner == netmon_all_owner;
        const std::optional<Ipv4> owner_address = Ipv4::parse(entry.owner);
        std::vector<std::size_t> matches;
        for (std::size_t i = 0; i < local_adapters.size(); ++i) {
            const AdapterConfig& adapter = local_adapters[i];
            if (all || adapter.ifname == entry.owner ||
                (owner_address && adapter.address == *owner_address)) {
                matches.push_back(i);
            }
        }
        if (matches.empty()) {
            if (unresolved_owners.insert(entry.owner).second) {
                sink.add(entry.line, "unresolvable owner " + entry.owner +
                                         ": no local adapter has that name or address; its "
                                         "lines are ignored");
            }
            return;
        }
        for (const AdapterConfig& adapter : local_adapters) {
            if (adapter.address == entry.target) {
                sink.add(entry.line, "target " + entry.target.to_string() +
                                         " is this node's own address (adapter " +
                                         describe(adapter) + "); ignored");
                return;
            }
        }
        for (const std::size_t index : matches) {
            AdapterTargets& targets = per_adapter[index];
            if (std::find(targets.targets.begin(), targets.targets.end(), entry.target) !=
                targets.targets.end()) {
                continue;  // the same target named twice, e.g. by name and by !ALL
            }
            if (targets.targets.size() >= netmon_max_targets_per_owner) {
                if (targets.dropped_count == 0) {
                    targets.first_dropped_line = entry.line;
                }
                ++targets.dropped_count;
                continue;
            }
            targets.targets.push_back(entry.target);
        }
    };

    // Specific owners first, so that "!ALL" lines cannot crowd them out of the cap.
    for (const NetmonEntry& entry : file.entries) {
        if (entry.owner != netmon_all_owner) {
            resolve(entry);
        }
    }
    for (const NetmonEntry& entry : file.entries) {
        if (entry.owner == netmon_all_owner) {
            resolve(entry);
        }
    }

    std::vector<std::vector<Ipv4>> result;
    result.reserve(per_adapter.size());
    for (std::size_t i = 0; i < per_adapter.size(); ++i) {
        AdapterTargets& targets = per_adapter[i];
        HB_ASSERT(targets.targets.size() <= netmon_max_targets_per_owner);
        if (targets.dropped_count > 0) {
            sink.add(targets.first_dropped_line,
                     "adapter " + describe(local_adapters[i]) + " has more than " +
                         std::to_string(netmon_max_targets_per_owner) + " targets; " +
                         std::to_string(targets.dropped_count) +
                         " ignored, the first from this line");
        }
        result.push_back(std::move(targets.targets));
    }
    sink.finish();
    return result;
}

std::string to_string(const NetmonWarning& warning) {
    if (warning.line == 0) {
        return warning.message;
    }
    return "line " + std::to_string(warning.line) + ": " + warning.message;
}

}  // namespace hb::policy
