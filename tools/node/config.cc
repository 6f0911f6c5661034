// Reads an hbd configuration (DESIGN §9): TOML text into the cluster model plus process settings,
// collecting every problem with its line so that `hbd --check` can list them all at once.
#include "tools/node/config.hh"

#include "build_config.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <variant>
#include <vector>

// toml++ 3.3 asserts preconditions that some malformed documents break ("[=", "[[[1]]]",
// "x = [ }", "1979-05-27Tx", "1979-05-27 1"; some fixed upstream since). With the check off, as in
// the distribution's compiled library, it goes on to report the syntax error itself; with it on,
// `hbd --check` would abort on a typo. So a header-only build turns it off too.
#ifndef TOML_ASSERT
#define TOML_ASSERT(expression) static_assert(true)
#endif
#include <toml++/toml.h>

#include "hb/key_file.hh"
#include "policy/timing.hh"

namespace hb::node {
namespace {

constexpr std::size_t config_max_bytes = 16 << 20;
// toml++ builds and destroys nested tables recursively, so a document of a hundred thousand dotted
// key parts overflows the stack. Every level of nesting costs at least one '.', '[' or '{', so
// capping their count bounds the depth far below that, while leaving room for over a thousand
// nodes.
constexpr std::size_t nesting_characters_max = 16384;
constexpr std::size_t ifname_max_chars = 15;  // IFNAMSIZ - 1
constexpr std::size_t shown_chars_max = 64;
constexpr std::int64_t node_id_max = std::numeric_limits<NodeId>::max();
constexpr std::size_t networks_max = std::numeric_limits<NetworkIndex>::max();
constexpr double interval_ms_min = 0.1;
constexpr double interval_ms_max = 60000;
// DPDK devargs ("net_af_packet0,iface=eth1,qpairs=1") and EAL arguments are short; a long one is
// a mistake, and a bound keeps messages readable.
constexpr std::size_t dpdk_port_max_chars = 256;
constexpr std::size_t eal_arg_max_chars = 1024;
constexpr std::size_t eal_args_max = 128;
constexpr std::int64_t lcore_cpu_max = 1023;           // the last CPU a cpu_set_t can name
constexpr std::size_t control_socket_max_chars = 107;  // sizeof(sockaddr_un::sun_path) - 1

using Keys = std::initializer_list<std::string_view>;

std::uint32_t line_of(const toml::node& node) {
    return node.source().begin.line;
}

std::uint32_t line_of(const toml::key& key) {
    return key.source().begin.line;
}

// A value as the operator should see it in a message: quoted, control bytes escaped, and cut short
// (at a character boundary) so that a garbage line does not flood the terminal.
std::string shown(std::string_view text) {
    std::string out = "\"";
    std::size_t count = 0;
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        const bool continuation = (byte & 0xC0U) == 0x80U;
        if (count >= shown_chars_max && !continuation) {
            out += "...";
            break;
        }
        if (byte < 0x20U || byte == 0x7FU) {
            std::array<char, 8> escaped{};
            std::snprintf(escaped.data(), escaped.size(), "\\x%02x", static_cast<unsigned>(byte));
            out += escaped.data();
        } else if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else {
            out += c;
        }
        if (!continuation) {
            ++count;
        }
    }
    out += '"';
    return out;
}

std::string number_text(double value) {
    std::array<char, 64> buffer{};
    const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    if (ec != std::errc{}) {
        return "?";
    }
    return std::string(buffer.data(), end);
}

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::table:
            return "table";
        case toml::node_type::array:
            return "array";
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

// "string \"x\"", "integer 5", "table": the type and, for a scalar, its value.
std::string described(const toml::node& node) {
    std::string out(type_name(node.type()));
    if (const auto* text = node.as_string()) {
        out += ' ' + shown(text->get());
    } else if (const auto* integer = node.as_integer()) {
        out += ' ' + std::to_string(integer->get());
    } else if (const auto* floating = node.as_floating_point()) {
        out += ' ' + number_text(floating->get());
    } else if (const auto* boolean = node.as_boolean()) {
        out += boolean->get() ? " true" : " false";
    }
    return out;
}

// Edit distance counting a swap of neighbours as one edit (optimal string alignment), for
// "did you mean" hints on misspelt keys: "prot" is one edit from "port".
std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t width = b.size() + 1;
    std::vector<std::size_t> before(width);    // row i - 2
    std::vector<std::size_t> previous(width);  // row i - 1
    std::vector<std::size_t> current(width);
    for (std::size_t j = 0; j < width; ++j) {
        previous[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j < width; ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                current[j] = std::min(current[j], before[j - 2] + 1);
            }
        }
        before.swap(previous);
        previous.swap(current);
    }
    return previous[b.size()];
}

// Reads a whole file. Returns an error text (strerror or a size problem) or nothing on success.
// `regular_only` refuses FIFOs and devices without blocking on them (a key file must be a file);
// the configuration itself may come from a pipe such as /dev/stdin.
std::optional<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes,
                                     bool regular_only, std::string& bytes) {
    const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | (regular_only ? O_NONBLOCK : 0);
    const int fd = ::open(path.c_str(), flags);
    if (fd < 0) {
        return std::string(std::strerror(errno));
    }
    struct stat status {};
    std::optional<std::string> problem;
    if (::fstat(fd, &status) != 0) {
        problem = std::strerror(errno);
    } else if (S_ISDIR(status.st_mode)) {
        problem = std::strerror(EISDIR);
    } else if (regular_only && !S_ISREG(status.st_mode)) {
        problem = "not a regular file";
    }
    std::array<char, 65536> chunk{};
    while (!problem) {
        const ssize_t count = ::read(fd, chunk.data(), chunk.size());
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            problem = std::strerror(errno);
        } else if (count == 0) {
            break;
        } else if (bytes.size() + static_cast<std::size_t>(count) > max_bytes) {
            problem = "larger than " + std::to_string(max_bytes) + " bytes";
        } else {
            bytes.append(chunk.data(), static_cast<std::size_t>(count));
        }
    }
    ::close(fd);
    explicit_bzero(chunk.data(), chunk.size());  // the chunk may hold key material
    return problem;
}

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

bool is_ascii(char c) {
    return static_cast<unsigned char>(c) < 0x80U;
}

enum class Open : std::uint8_t { header, array, inline_table };

// Follows '[', '{', ']', '}', '=' and ',' so that the caller knows whether a key comes next.
void track_brackets(char c, char previous, std::vector<Open>& open, bool& key_next) {
    if (c == '[') {
        const bool header = (open.empty() && key_next && previous == '\n') ||
                            (open.size() == 1 && open.back() == Open::header && previous == '[');
        open.push_back(header ? Open::header : Open::array);
        key_next = header;
    } else if (c == '{') {
        open.push_back(Open::inline_table);
        key_next = true;
    } else if (c == ']' || c == '}') {
        if (!open.empty()) {
            open.pop_back();
        }
        key_next = false;
    } else if (c == '=') {
        key_next = false;
    } else if (c == ',') {
        key_next = !open.empty() && open.back() == Open::inline_table;
    }
}

// Inputs that toml++ 3.3 cannot be trusted with, refused before it sees them:
// - nesting deep enough to overflow its recursion (see nesting_characters_max);
// - a non-ASCII character where it asks whether that character is whitespace, which for many
//   characters (U+00A1..U+0499, for one) reaches an "unreachable" branch: undefined behaviour in
//   every build (marzer/tomlplusplus#190). It asks outside strings and comments, where a non-ASCII
//   character is never valid TOML 1.0, and right after a backslash in a multi-line basic string.
// The scan follows strings and comments only as far as needed to know where they are, and takes a
// quote for the start of a string only where TOML allows one; a quote anywhere else is part of a
// malformed value, which toml++ scans on past.
std::optional<ConfigError> unsafe_for_parser(std::string_view text) {
    const auto nesting_characters = static_cast<std::size_t>(std::count_if(
        text.begin(), text.end(), [](char c) { return c == '.' || c == '[' || c == '{'; }));
    if (nesting_characters > nesting_characters_max) {
        return ConfigError{
            0, "the configuration holds more than " + std::to_string(nesting_characters_max) +
                   " '.', '[' and '{' characters; this bound on nesting keeps reading it safe"};
    }
    enum class State : std::uint8_t { normal, comment, basic, literal, multi_basic, multi_literal };
    State state = State::normal;
    constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";
    std::size_t at = text.starts_with(byte_order_mark) ? byte_order_mark.size() : 0;
    std::uint32_t line = 1;
    // The last character outside strings and comments that is not blank; '\n' at a line start.
    char previous = '\n';
    // Whether a key or a value comes next, which decides what a quote after a '.' is: a quoted
    // segment of a dotted key, or a stray character inside a malformed value (e.g. "1.'x'").
    bool key_next = true;
    std::vector<Open> open;  // as deep as the nesting bound above
    const auto closes = [&](std::string_view quotes) {
        if (text.substr(at, quotes.size()) != quotes) {
            return false;
        }
        at += quotes.size();
        // A multi-line string may end with one or two quotes of its own before the delimiter.
        for (int extra = 0; extra < 2 && at < text.size() && text[at] == quotes[0]; ++extra) {
            ++at;
        }
        state = State::normal;
        return true;
    };
    while (at < text.size()) {
        const char c = text[at];
        if (c == '\n' && state != State::multi_basic && state != State::multi_literal) {
            state = State::normal;  // a single-line string ends here (toml++ reports it)
            previous = '\n';
            if (open.empty() || open.back() == Open::header) {
                open.clear();  // only arrays span lines
                key_next = true;
            }
        }
        line += c == '\n' ? 1 : 0;
        switch (state) {
            case State::normal:
                if (!is_ascii(c)) {
                    return ConfigError{line,
                                       "TOML syntax: a non-ASCII character outside a string or "
                                       "comment"};
                }
                if (c == '#') {
                    state = State::comment;
                } else if ((c == '"' || c == '\'') &&
                           (std::string_view("\n=[,{").find(previous) != std::string_view::npos ||
                            (previous == '.' && key_next))) {
                    const bool multi_line = text.substr(at, 3) == std::string(3, c);
                    state = c == '"' ? (multi_line ? State::multi_basic : State::basic)
                                     : (multi_line ? State::multi_literal : State::literal);
                    at += multi_line ? 2 : 0;
                    previous = c;
                } else if ((c == '[' || c == '{') &&
                           std::string_view("\n=[,").find(previous) == std::string_view::npos) {
                    // Inside a malformed value ("9zz[..."), which toml++ reads on through: not
                    // an array or table, and a quote after it starts no string.
                    previous = 'x';
                } else if (!is_blank(c) && c != '\n' && c != '\r') {
                    track_brackets(c, previous, open, key_next);
                    previous = c;
                }
                ++at;
                continue;
            case State::comment:
                ++at;
                continue;
            case State::basic:
                if (c == '\\' && at + 1 < text.size() && text[at + 1] != '\n') {
                    ++at;  // the escaped character cannot end the string
                } else if (c == '"') {
                    state = State::normal;
                }
                ++at;
                continue;
            case State::literal:
                if (c == '\'') {
                    state = State::normal;
                }
                ++at;
                continue;
            case State::multi_basic:
                if (c == '\\') {
                    // toml++ asks whether the characters after a backslash are whitespace, up to
                    // the first that is not, across line breaks.
                    std::size_t next = at + 1;
                    bool whitespace_follows = false;
                    while (next < text.size() &&
                           (is_blank(text[next]) || text[next] == '\n' || text[next] == '\r')) {
                        line += text[next] == '\n' ? 1 : 0;
                        whitespace_follows = true;
                        ++next;
                    }
                    if (next < text.size() && !is_ascii(text[next])) {
                        return ConfigError{
                            line,
                            "a non-ASCII character right after a backslash in a multi-line "
                            "string is refused (the TOML reader of this build mishandles it); "
                            "write it as a \\u escape"};
                    }
                    // An escaped character (a quote, a backslash) cannot end the string.
                    at = whitespace_follows ? next : std::min(next + 1, text.size());
                    continue;
                }
                if (!closes("\"\"\"")) {
                    ++at;
                }
                continue;
            case State::multi_literal:
                if (!closes("'''")) {
                    ++at;
                }
                continue;
        }
    }
    return std::nullopt;
}

// Builds the settings from a parsed document. Each read_* step records its own errors and carries
// on with what it could read, so that one bad value never hides the next.
class Reader {
public:
    explicit Reader(const std::filesystem::path& base_dir) : base_dir_(base_dir) {}

    ConfigResult read(const toml::table& root) {
        NodeSettings settings;
        check_root(root);
        read_cluster(root, settings);
        const Timing cluster_timing = read_cluster_timing(root, settings);
        read_networks(root, cluster_timing, settings.cluster);
        read_nodes(root, settings.cluster);
        read_local(root, settings.cluster);
        read_process(root, settings.process);
        read_netmon(root, settings);
        read_disk(root, settings.disk);
        read_dpdk(root, settings.dpdk, settings.process);
        read_control(root, settings.control);
        read_metrics(root, settings.metrics);
        read_events(root, settings.events);
        read_deadman(root, settings.deadman);
        check_local_dpdk(settings);
        warn_unused_networks(settings.cluster);

        ConfigResult result;
        if (errors_.empty()) {
            result.settings = std::move(settings);
        }
        std::stable_sort(
            errors_.begin(), errors_.end(),
            [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
        result.errors = std::move(errors_);
        result.warnings = std::move(warnings_);
        return result;
    }

private:
    void error(std::uint32_t line, std::string message) {
        errors_.push_back(ConfigError{line, std::move(message)});
    }

    // ---- generic checks ------------------------------------------------------------------

    void check_keys(const toml::table& table, Keys known, std::string_view where) {
        for (const auto& [key, value] : table) {
            const std::string_view name = key.str();
            if (std::find(known.begin(), known.end(), name) != known.end()) {
                continue;
            }
            std::string message = "unknown key " + shown(name) + " in " + std::string(where);
            for (std::string_view candidate : known) {
                // Close enough to be a typo, not so loose that "x" suggests "id".
                const std::size_t allowed = std::max<std::size_t>(1, candidate.size() / 4);
                if (name.size() <= 2 * candidate.size() &&
                    edit_distance(name, candidate) <= allowed) {
                    message += " (did you mean \"" + std::string(candidate) + "\"?)";
                    break;
                }
            }
            error(line_of(key), std::move(message));
        }
    }

    void type_error(const toml::node& node, std::string_view what, std::string_view expected) {
        error(line_of(node),
              std::string(what) + " must be " + std::string(expected) + ", got " + described(node));
    }

    void missing(const toml::table& table, std::string_view what) {
        error(line_of(table), std::string(what) + " is required");
    }

    std::optional<std::int64_t> integer_in(const toml::node& node, std::string_view what,
                                           std::int64_t min, std::int64_t max) {
        const auto* integer = node.as_integer();
        if (integer == nullptr) {
            type_error(node, what, "an integer");
            return std::nullopt;
        }
        const std::int64_t value = integer->get();
        if (value < min || value > max) {
            error(line_of(node), std::string(what) + " must be in " + std::to_string(min) + ".." +
                                     std::to_string(max) + ", got " + std::to_string(value));
            return std::nullopt;
        }
        return value;
    }

    std::optional<std::string_view> string_of(const toml::node& node, std::string_view what) {
        const auto* text = node.as_string();
        if (text == nullptr) {
            type_error(node, what, "a string");
            return std::nullopt;
        }
        return std::string_view(text->get());
    }

    std::optional<std::string_view> non_empty_string(const toml::node& node,
                                                     std::string_view what) {
        const auto text = string_of(node, what);
        if (text && text->empty()) {
            error(line_of(node), std::string(what) + " must not be empty");
            return std::nullopt;
        }
        return text;
    }

    // One of a few fixed words; returns its position in `choices`.
    std::optional<std::size_t> choice(const toml::node& node, std::string_view what, Keys choices) {
        const auto text = string_of(node, what);
        if (!text) {
            return std::nullopt;
        }
        std::size_t index = 0;
        for (std::string_view candidate : choices) {
            if (*text == candidate) {
                return index;
            }
            ++index;
        }
        std::string expected;
        index = 0;
        for (std::string_view candidate : choices) {
            if (index > 0) {
                expected += index + 1 == choices.size() ? " or " : ", ";
            }
            expected += '"' + std::string(candidate) + '"';
            ++index;
        }
        error(line_of(node), std::string(what) + " must be " + expected + ", got " + shown(*text));
        return std::nullopt;
    }

    std::optional<bool> boolean_of(const toml::node& node, std::string_view what) {
        const auto* boolean = node.as_boolean();
        if (boolean == nullptr) {
            type_error(node, what, "a boolean");
            return std::nullopt;
        }
        return boolean->get();
    }

    // A top-level table such as [cluster]; nullptr when absent or not a table (reported).
    const toml::table* section(const toml::table& root, std::string_view name) {
        const toml::node* node = root.get(name);
        if (node == nullptr) {
            return nullptr;
        }
        if (const toml::table* table = node->as_table()) {
            return table;
        }
        type_error(*node, "[" + std::string(name) + "]", "a table");
        return nullptr;
    }

    // The tables of [[network]] or [[node]]; reports a plain [network] table or non-table items.
    std::vector<const toml::table*> table_array(const toml::table& root, std::string_view name) {
        std::vector<const toml::table*> tables;
        const toml::node* node = root.get(name);
        if (node == nullptr) {
            return tables;
        }
        const toml::array* array = node->as_array();
        if (array == nullptr) {
            type_error(*node, name, "an array of tables (written [[" + std::string(name) + "]])");
            return tables;
        }
        for (const toml::node& item : *array) {
            if (const toml::table* table = item.as_table()) {
                tables.push_back(table);
            } else {
                type_error(item, "each " + std::string(name), "a table");
            }
        }
        return tables;
    }

    // A path from the file, resolved against the configuration's directory unless absolute.
    std::filesystem::path resolve_path(std::string_view configured) const {
        const std::filesystem::path path(configured);
        return path.is_absolute() ? path : base_dir_ / path;
    }
    // How a message names a configured path: `[netmon] file "x.cf" ("/etc/hb/x.cf")`.
    static std::string path_shown(std::string_view key, std::string_view configured,
                                  const std::filesystem::path& resolved) {
        std::string what = std::string(key) + " " + shown(configured);
        if (resolved != std::filesystem::path(configured)) {
            what += " (" + shown(resolved.native()) + ")";
        }
        return what;
    }

    static bool is_empty_array(const toml::node& node) {
        const toml::array* array = node.as_array();
        return array != nullptr && array->empty();
    }

    // ---- sections ------------------------------------------------------------------------

    void check_root(const toml::table& root) {
        for (const auto& [key, value] : root) {
            const std::string_view name = key.str();
            if (name == "cluster" || name == "timing" || name == "local" || name == "network" ||
                name == "node" || name == "process" || name == "netmon" || name == "disk" ||
                name == "dpdk" || name == "control" || name == "metrics" || name == "events" ||
                name == "deadman") {
                continue;
            }
            if (value.is_table()) {
                error(line_of(key), "unknown section [" + bare_or_shown(name) + "]");
            } else if (value.is_array_of_tables()) {
                error(line_of(key), "unknown section [[" + bare_or_shown(name) + "]]");
            } else {
                error(line_of(key), "unknown top-level key " + shown(name) +
                                        " (every key belongs to a section such as [cluster])");
            }
        }
    }

    static std::string bare_or_shown(std::string_view name) {
        const bool bare = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
        });
        return bare ? std::string(name) : shown(name);
    }

    void read_cluster(const toml::table& root, NodeSettings& settings) {
        const toml::table* cluster = section(root, "cluster");
        if (cluster == nullptr) {
            if (root.get("cluster") == nullptr) {
                error(0, "[cluster] is missing: it is required (with id)");
            }
            return;
        }
        check_keys(*cluster, {"id", "key_file", "accept_key_files", "allow_unauthenticated"},
                   "[cluster]");
        if (const toml::node* id = cluster->get("id")) {
            if (auto value =
                    integer_in(*id, "[cluster] id", 1, std::numeric_limits<std::int64_t>::max())) {
                settings.cluster.cluster_id = static_cast<std::uint64_t>(*value);
            }
        } else {
            missing(*cluster, "[cluster] id");
        }
        read_keys(*cluster, settings);
    }

    // [cluster] key_file, accept_key_files and allow_unauthenticated: beats are authenticated
    // unless the operator says, in so many words, that they need not be (docs/security.md).
    void read_keys(const toml::table& cluster, NodeSettings& settings) {
        bool allow_unauthenticated = false;
        const toml::node* allow = cluster.get("allow_unauthenticated");
        if (allow != nullptr) {
            allow_unauthenticated =
                boolean_of(*allow, "[cluster] allow_unauthenticated").value_or(false);
        }
        const toml::node* key_file = cluster.get("key_file");
        const toml::node* accepted = cluster.get("accept_key_files");
        if (key_file == nullptr) {
            if (accepted != nullptr) {
                error(line_of(*accepted),
                      "[cluster] accept_key_files needs key_file (the key this node signs with)");
            }
            if (allow_unauthenticated) {
                settings.allow_unauthenticated = true;
                warnings_.push_back(
                    "[cluster] allow_unauthenticated = true: beats are sent and accepted without "
                    "authentication; anyone who can reach a heartbeat port can forge any node's "
                    "beats");
            } else if (allow == nullptr || allow->is_boolean()) {
                error(line_of(cluster),
                      "[cluster] key_file is required: beats are authenticated with the cluster "
                      "key (create one with `head -c 32 /dev/urandom > cluster.key; chmod 600 "
                      "cluster.key` and copy it to every node), or set allow_unauthenticated = "
                      "true to run without");
            }
            return;
        }
        if (allow_unauthenticated) {
            error(line_of(*allow),
                  "[cluster] allow_unauthenticated = true contradicts key_file: remove one");
        }
        if (auto key = read_key_file(*key_file, "[cluster] key_file")) {
            settings.key_file = key->first;
            static_cast<void>(settings.cluster.keys.add(key->second));
        }
        if (accepted != nullptr) {
            read_accepted_keys(*accepted, settings);
        }
    }

    void read_accepted_keys(const toml::node& node, NodeSettings& settings) {
        const toml::array* array = node.as_array();
        if (array == nullptr) {
            type_error(node, "[cluster] accept_key_files", "an array of strings");
            return;
        }
        constexpr std::size_t accepted_max = KeySet::capacity - 1;
        if (array->size() > accepted_max) {
            error(line_of(node), "[cluster] accept_key_files holds " +
                                     std::to_string(array->size()) + " files; at most " +
                                     std::to_string(accepted_max) + " (a rollover needs one)");
            return;
        }
        for (const toml::node& item : *array) {
            auto key = read_key_file(item, "each of [cluster] accept_key_files");
            if (!key) {
                continue;
            }
            const auto known = settings.cluster.keys.accepted();
            if (std::find(known.begin(), known.end(), key->second) != known.end()) {
                warnings_.push_back("[cluster] accept_key_files: " + shown(key->first.native()) +
                                    " holds a key already configured (key id " +
                                    key_id_text(key->second.id) + ")");
                continue;
            }
            settings.accept_key_files.push_back(key->first);
            static_cast<void>(settings.cluster.keys.add(key->second));
        }
    }

    // One key file: its resolved path and key, or nothing (the problem is reported).
    std::optional<std::pair<std::filesystem::path, MacKey>> read_key_file(const toml::node& node,
                                                                          std::string_view what) {
        const auto configured = non_empty_string(node, what);
        if (!configured) {
            return std::nullopt;
        }
        const std::filesystem::path path(*configured);
        const std::filesystem::path resolved = path.is_absolute() ? path : base_dir_ / path;
        std::string named = (what.starts_with("each of ") ? "key file " : std::string(what) + " ") +
                            shown(*configured);
        if (resolved != path) {
            named += " (" + shown(resolved.native()) + ")";
        }
        auto loaded = load_key_file(resolved);
        if (auto* problem = std::get_if<std::string>(&loaded)) {
            error(line_of(node), named + " " + *problem);
            return std::nullopt;
        }
        return std::pair(resolved, std::get<MacKey>(loaded));
    }

    // Timing keys of `table` on top of `inherited`. A profile replaces the inherited timing as a
    // whole; interval_ms, multiplier and up_count then override single values. nullopt on error.
    std::optional<Timing> read_timing(const toml::table& table, std::string_view where,
                                      const Timing& inherited, bool pair_needs_profile) {
        const std::size_t errors_before = errors_.size();
        const std::string prefix = std::string(where) + " ";
        Timing timing = inherited;
        const toml::node* profile = table.get("profile");
        const toml::node* interval = table.get("interval_ms");
        const toml::node* multiplier = table.get("multiplier");
        const toml::node* up_count = table.get("up_count");
        if (profile != nullptr) {
            if (auto name = string_of(*profile, prefix + "profile")) {
                if (auto named = policy::timing_profile(*name)) {
                    timing = *named;
                } else {
                    error(line_of(*profile), prefix +
                                                 "profile must be \"safe\", \"fast\" or "
                                                 "\"extreme\", got " +
                                                 shown(*name));
                }
            }
        } else if (pair_needs_profile && (interval == nullptr) != (multiplier == nullptr)) {
            // Without a profile, half a timing would silently take the other half from "safe".
            error(line_of(table), prefix + "sets " +
                                      (interval != nullptr ? "interval_ms without multiplier"
                                                           : "multiplier without interval_ms") +
                                      ": give both, or a profile to override");
        }
        if (interval != nullptr) {
            if (auto value = interval_ns(*interval, prefix + "interval_ms")) {
                timing.interval_ns = *value;
            }
        }
        if (multiplier != nullptr) {
            if (auto value = integer_in(*multiplier, prefix + "multiplier", 1, 255)) {
                timing.multiplier = static_cast<std::uint32_t>(*value);
            }
        }
        if (up_count != nullptr) {
            if (auto value = integer_in(*up_count, prefix + "up_count", 1, 64)) {
                timing.up_count = static_cast<std::uint32_t>(*value);
            }
        }
        if (errors_.size() != errors_before) {
            return std::nullopt;
        }
        return timing;
    }

    std::optional<Nanos> interval_ns(const toml::node& node, std::string_view what) {
        double milliseconds = 0;
        if (const auto* integer = node.as_integer()) {
            const std::int64_t value = integer->get();
            if (value < 0 || value > static_cast<std::int64_t>(interval_ms_max)) {
                error(line_of(node),
                      std::string(what) + " must be in 0.1..60000, got " + std::to_string(value));
                return std::nullopt;
            }
            milliseconds = static_cast<double>(value);
        } else if (const auto* floating = node.as_floating_point()) {
            milliseconds = floating->get();
        } else {
            type_error(node, what, "a number (integer or float)");
            return std::nullopt;
        }
        // The comparisons are false for NaN, so NaN is refused here too.
        if (!(milliseconds >= interval_ms_min && milliseconds <= interval_ms_max)) {
            error(line_of(node),
                  std::string(what) + " must be in 0.1..60000, got " + number_text(milliseconds));
            return std::nullopt;
        }
        return static_cast<Nanos>(std::llround(milliseconds * static_cast<double>(nanos_per_ms)));
    }

    Timing read_cluster_timing(const toml::table& root, NodeSettings& settings) {
        const Timing safe = *policy::timing_profile("safe");
        const toml::table* timing = section(root, "timing");
        if (timing == nullptr) {
            return safe;
        }
        check_keys(*timing,
                   {"profile", "interval_ms", "multiplier", "up_count", "adaptive_ceiling"},
                   "[timing]");
        if (const toml::node* ceiling = timing->get("adaptive_ceiling")) {
            if (auto value = integer_in(*ceiling, "[timing] adaptive_ceiling", 1, 255)) {
                settings.adaptive_ceiling = static_cast<std::uint32_t>(*value);
            }
        }
        // On error the networks still inherit something, and their own errors are still found.
        return read_timing(*timing, "[timing]", safe, true).value_or(safe);
    }

    void read_networks(const toml::table& root, const Timing& cluster_timing,
                       ClusterConfig& cluster) {
        const std::vector<const toml::table*> tables = table_array(root, "network");
        if (tables.empty()) {
            // Not when table_array already reported a value of the wrong kind.
            const toml::node* node = root.get("network");
            if (node == nullptr || is_empty_array(*node)) {
                error(node == nullptr ? 0 : line_of(*node),
                      "no [[network]]: at least one is required");
            }
            return;
        }
        if (tables.size() > networks_max) {
            error(line_of(*tables[networks_max]),
                  "too many [[network]] entries: at most " + std::to_string(networks_max));
            return;
        }
        for (const toml::table* table : tables) {
            const auto index = static_cast<NetworkIndex>(cluster.networks.size());
            cluster.networks.push_back(read_network(*table, index, cluster_timing));
        }
    }

    NetworkConfig read_network(const toml::table& table, NetworkIndex index,
                               const Timing& cluster_timing) {
        NetworkConfig network;
        check_keys(table,
                   {"name", "mode", "group", "port", "ttl", "link_state", "profile", "interval_ms",
                    "multiplier", "up_count"},
                   "[[network]]");
        if (const toml::node* name = table.get("name")) {
            if (auto text = non_empty_string(*name, "[[network]] name")) {
                network.name = std::string(*text);
                const auto [it, inserted] =
                    network_names_.try_emplace(network.name, NamedAt{index, line_of(*name)});
                if (!inserted) {
                    error(line_of(*name), "[[network]] name " + shown(*text) +
                                              " is listed twice (first at line " +
                                              std::to_string(it->second.line) + ")");
                }
            }
        } else {
            missing(table, "[[network]] name");
        }

        std::optional<NetworkMode> mode = NetworkMode::unicast;
        if (const toml::node* node = table.get("mode")) {
            const auto index_of_mode = choice(*node, "[[network]] mode", {"unicast", "multicast"});
            mode = index_of_mode ? std::optional(static_cast<NetworkMode>(*index_of_mode))
                                 : std::nullopt;
        }
        const toml::node* group = table.get("group");
        if (mode == NetworkMode::multicast) {
            network.mode = NetworkMode::multicast;
            if (group == nullptr) {
                error(line_of(table), "[[network]] group is required with mode = \"multicast\"");
            } else if (auto text = string_of(*group, "[[network]] group")) {
                const auto address = Ipv4::parse(*text);
                if (!address || !address->is_multicast()) {
                    error(line_of(*group), "[[network]] group " + shown(*text) +
                                               " is not an IPv4 multicast address (224.0.0.0/4)");
                } else {
                    network.group = *address;
                }
            }
        } else if (mode == NetworkMode::unicast && group != nullptr) {
            error(line_of(*group), "[[network]] group is only valid with mode = \"multicast\"");
        }

        if (const toml::node* port = table.get("port")) {
            if (auto value = integer_in(*port, "[[network]] port", 1, 65535)) {
                network.port = static_cast<std::uint16_t>(*value);
            }
        }
        if (const toml::node* ttl = table.get("ttl")) {
            if (auto value = integer_in(*ttl, "[[network]] ttl", 1, 255)) {
                network.ttl = static_cast<std::uint8_t>(*value);
            }
        }
        if (const toml::node* link_state = table.get("link_state")) {
            if (auto value = choice(*link_state, "[[network]] link_state", {"watch", "ignore"})) {
                network.link_state = static_cast<LinkStateUse>(*value);
            }
        }
        network.timing =
            read_timing(table, "[[network]]", cluster_timing, false).value_or(cluster_timing);
        return network;
    }

    void read_nodes(const toml::table& root, ClusterConfig& cluster) {
        const std::vector<const toml::table*> tables = table_array(root, "node");
        // Not when table_array already reported a value of the wrong kind.
        const toml::node* node = root.get("node");
        if (tables.size() < 2 && (node == nullptr || is_empty_array(*node) || !tables.empty())) {
            const std::uint32_t line = !tables.empty()   ? line_of(*tables.front())
                                       : node != nullptr ? line_of(*node)
                                                         : 0;
            error(line, "a cluster needs at least two [[node]] entries, found " +
                            std::to_string(tables.size()));
        }
        for (const toml::table* table : tables) {
            cluster.nodes.push_back(read_node(*table));
        }
    }

    NodeConfig read_node(const toml::table& table) {
        NodeConfig node;
        check_keys(table, {"id", "name", "adapters"}, "[[node]]");
        if (const toml::node* id = table.get("id")) {
            if (auto value = integer_in(*id, "[[node]] id", 1, node_id_max)) {
                node.id = static_cast<NodeId>(*value);
                const auto [it, inserted] = node_ids_.try_emplace(node.id, line_of(*id));
                if (!inserted) {
                    error(line_of(*id), "[[node]] id " + std::to_string(node.id) +
                                            " is listed twice (first at line " +
                                            std::to_string(it->second) + ")");
                }
            }
        } else {
            missing(table, "[[node]] id");
        }
        if (const toml::node* name = table.get("name")) {
            if (auto text = non_empty_string(*name, "[[node]] name")) {
                node.name = std::string(*text);
                const auto [it, inserted] = node_names_.try_emplace(node.name, line_of(*name));
                if (!inserted) {
                    error(line_of(*name), "[[node]] name " + shown(*text) +
                                              " is listed twice (first at line " +
                                              std::to_string(it->second) + ")");
                }
            }
        } else {
            missing(table, "[[node]] name");
        }
        const toml::node* adapters = table.get("adapters");
        if (adapters == nullptr) {
            missing(table, "[[node]] adapters");
            return node;
        }
        const toml::array* array = adapters->as_array();
        if (array == nullptr) {
            type_error(*adapters, "[[node]] adapters", "an array of inline tables");
            return node;
        }
        if (array->empty() || array->size() > max_adapters_per_node) {
            error(line_of(*adapters), "[[node]] adapters must list 1.." +
                                          std::to_string(max_adapters_per_node) +
                                          " adapters, got " + std::to_string(array->size()));
        }
        for (const toml::node& item : *array) {
            if (const toml::table* adapter = item.as_table()) {
                node.adapters.push_back(read_adapter(*adapter, node.id));
            } else {
                type_error(item, "each of [[node]] adapters", "an inline table");
            }
        }
        return node;
    }

    AdapterConfig read_adapter(const toml::table& table, NodeId node_id) {
        AdapterConfig adapter;
        check_keys(table, {"network", "ifname", "address", "transport", "port"},
                   "[[node]] adapters");
        if (const toml::node* network = table.get("network")) {
            if (auto name = string_of(*network, "adapter network")) {
                const auto it = network_names_.find(*name);
                if (it == network_names_.end()) {
                    error(line_of(*network),
                          "adapter network " + shown(*name) + " is not a [[network]] name");
                } else {
                    adapter.network = it->second.index;
                }
            }
        } else {
            missing(table, "adapter network");
        }
        if (const toml::node* ifname = table.get("ifname")) {
            if (auto name = non_empty_string(*ifname, "adapter ifname")) {
                check_ifname(*ifname, *name);
                adapter.ifname = std::string(*name);
            }
        } else {
            missing(table, "adapter ifname");
        }
        if (const toml::node* address = table.get("address")) {
            if (auto text = string_of(*address, "adapter address")) {
                read_address(*address, *text, adapter);
            }
        } else {
            missing(table, "adapter address");
        }
        const toml::node* transport = table.get("transport");
        if (transport != nullptr) {
            if (auto kind = choice(*transport, "adapter transport", {"udp", "dpdk"})) {
                adapter.transport = static_cast<TransportKind>(*kind);
                if (adapter.transport == TransportKind::dpdk && !HB_HAVE_DPDK) {
                    error(line_of(*transport),
                          "adapter transport \"dpdk\" is not available in this build");
                    return adapter;
                }
            }
        }
        const toml::node* port = table.get("port");
        if (adapter.transport == TransportKind::dpdk) {
            if (port == nullptr) {
                error(line_of(*transport),
                      "adapter transport \"dpdk\" needs port (an ethdev name, a PCI address or "
                      "devargs such as \"net_af_packet0,iface=eth1\")");
            } else if (auto text = non_empty_string(*port, "adapter port")) {
                if (check_dpdk_port(*port, *text)) {
                    adapter.port = std::string(*text);
                }
            }
            // Checked against the local node later, with or without a valid port.
            dpdk_adapters_.push_back(
                DpdkAdapterAt{node_id, adapter.port, line_of(*transport),
                              port == nullptr ? line_of(*transport) : line_of(*port)});
        } else if (port != nullptr) {
            error(line_of(*port), "adapter port is only valid with transport = \"dpdk\"");
        }
        return adapter;
    }

    // A port or devargs: printable ASCII without blanks (EAL devargs have none), bounded.
    bool check_dpdk_port(const toml::node& node, std::string_view text) {
        if (text.size() > dpdk_port_max_chars) {
            error(line_of(node), "adapter port " + shown(text) + " is longer than " +
                                     std::to_string(dpdk_port_max_chars) + " characters");
            return false;
        }
        const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20U && static_cast<unsigned char>(c) < 0x7FU;
        });
        if (!printable || text.front() == ',') {
            error(line_of(node), "adapter port " + shown(text) +
                                     " is not a DPDK port name or devargs (printable ASCII "
                                     "without blanks, the name first)");
            return false;
        }
        return true;
    }

    // The kernel's own rule for interface names (dev_valid_name), so a bad one fails here and not
    // at bind time on one node only.
    void check_ifname(const toml::node& node, std::string_view name) {
        if (name.size() > ifname_max_chars) {
            error(line_of(node), "adapter ifname " + shown(name) + " is longer than " +
                                     std::to_string(ifname_max_chars) + " characters");
            return;
        }
        const bool bad_character = std::any_of(name.begin(), name.end(), [](char c) {
            return c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r') ||
                   static_cast<unsigned char>(c) < 0x20U;
        });
        if (bad_character || name == "." || name == "..") {
            error(line_of(node), "adapter ifname " + shown(name) +
                                     " is not an interface name (no '/', ':' or whitespace)");
        }
    }

    void read_address(const toml::node& node, std::string_view text, AdapterConfig& adapter) {
        const auto address = Ipv4::parse(text);
        if (!address) {
            error(line_of(node), "adapter address " + shown(text) + " is not an IPv4 address");
            return;
        }
        if (address->is_multicast() || address->is_unspecified()) {
            error(line_of(node), "adapter address " + shown(text) + " is " +
                                     (address->is_unspecified() ? "unspecified" : "multicast") +
                                     ": it must be the adapter's own unicast address");
            return;
        }
        const auto [it, inserted] = addresses_.try_emplace(address->value, line_of(node));
        if (!inserted) {
            error(line_of(node), "adapter address " + shown(text) +
                                     " is listed twice (first at line " +
                                     std::to_string(it->second) + ")");
            return;
        }
        adapter.address = *address;
    }

    void read_local(const toml::table& root, ClusterConfig& cluster) {
        const toml::table* local = section(root, "local");
        if (local == nullptr) {
            if (root.get("local") == nullptr) {
                error(0, "[local] is missing: it is required (with node)");
            }
            return;
        }
        check_keys(*local, {"node"}, "[local]");
        const toml::node* node = local->get("node");
        if (node == nullptr) {
            missing(*local, "[local] node");
            return;
        }
        const auto* integer = node->as_integer();
        if (integer == nullptr) {
            type_error(*node, "[local] node", "an integer");
            return;
        }
        const std::int64_t id = integer->get();
        if (id < 1 || id > node_id_max || node_ids_.count(static_cast<NodeId>(id)) == 0) {
            error(line_of(*node),
                  "[local] node " + std::to_string(id) + " is not the id of a [[node]]");
            return;
        }
        cluster.local_node = static_cast<NodeId>(id);
    }

    void read_process(const toml::table& root, ProcessSettings& process) {
        const toml::table* table = section(root, "process");
        if (table == nullptr) {
            return;
        }
        check_keys(*table, {"realtime_priority", "lock_memory", "threads"}, "[process]");
        if (const toml::node* priority = table->get("realtime_priority")) {
            if (auto value = integer_in(*priority, "[process] realtime_priority", 0, 99)) {
                process.realtime_priority = static_cast<int>(*value);
            }
        }
        if (const toml::node* lock = table->get("lock_memory")) {
            if (auto value = boolean_of(*lock, "[process] lock_memory")) {
                process.lock_memory = *value;
            }
        }
        if (const toml::node* threads = table->get("threads")) {
            if (auto value = choice(*threads, "[process] threads", {"single", "threaded"})) {
                process.threads = static_cast<ProcessSettings::Threads>(*value);
            }
        }
    }

    // [netmon]: netmon.cf is read and resolved to this node's adapters now, so that a missing
    // file or a target list that names nothing here shows up at --check, not at failover time.
    void read_netmon(const toml::table& root, NodeSettings& settings) {
        const toml::table* table = section(root, "netmon");
        if (table == nullptr) {
            return;
        }
        check_keys(*table, {"file", "mode"}, "[netmon]");
        policy::NetmonMode mode = policy::NetmonMode::caa;
        if (const toml::node* node = table->get("mode")) {
            if (auto value = choice(*node, "[netmon] mode", {"caa", "rsct"})) {
                mode = static_cast<policy::NetmonMode>(*value);
            }
        }
        const toml::node* file_node = table->get("file");
        if (file_node == nullptr) {
            missing(*table, "[netmon] file");
            return;
        }
        const auto configured = non_empty_string(*file_node, "[netmon] file");
        if (!configured) {
            return;
        }
        const std::filesystem::path resolved = resolve_path(*configured);
        auto loaded = policy::load_netmon(resolved, mode);
        if (auto* problem = std::get_if<std::string>(&loaded)) {
            const std::string what = path_shown("[netmon] file", *configured, resolved);
            error(line_of(*file_node), what + " cannot be used: " + *problem);
            return;
        }
        const policy::NetmonFile& netmon = std::get<policy::NetmonFile>(loaded);
        std::vector<policy::NetmonWarning> warnings = netmon.warnings;
        // The owners resolve against the local node's adapters; without a valid [local] there is
        // nothing to resolve against (and that error is reported already).
        const NodeConfig* local = settings.cluster.find_node(settings.cluster.local_node);
        if (local != nullptr) {
            settings.netmon_targets =
                policy::targets_per_adapter(netmon, local->adapters, warnings);
        }
        const std::string prefix(*configured);
        for (const policy::NetmonWarning& warning : warnings) {
            warnings_.push_back(warning.line == 0 ? prefix + ": " + warning.message
                                                  : prefix + ":" + std::to_string(warning.line) +
                                                        ": " + warning.message);
        }
        if (local != nullptr &&
            std::all_of(settings.netmon_targets.begin(), settings.netmon_targets.end(),
                        [](const std::vector<Ipv4>& targets) { return targets.empty(); })) {
            warnings_.push_back("[netmon] file " + shown(*configured) +
                                " gives no target to any adapter of this node: nothing is probed");
        }
        settings.netmon_file = resolved;
        settings.netmon_mode = mode;
    }

    // [disk]: the non-IP path. Whether the disk is there and initialised for this cluster is
    // found when hbd opens it (hbd --check opens it too).
    void read_disk(const toml::table& root, DiskSettings& disk) {
        const toml::table* table = section(root, "disk");
        if (table == nullptr) {
            return;
        }
        // Never accept and ignore a non-IP path: an operator would believe it protects them.
        if (!HB_HAVE_LIBURING) {
            error(line_of(*table),
                  "[disk] is not supported by this build: hb was built without liburing, so the "
                  "disk heartbeat module is not built");
            return;
        }
        check_keys(*table, {"path", "interval_ms", "multiplier", "sector_size", "io"}, "[disk]");
        if (const toml::node* node = table->get("path")) {
            if (const auto configured = non_empty_string(*node, "[disk] path")) {
                disk.path = resolve_path(*configured);
            }
        } else {
            missing(*table, "[disk] path");
        }
        if (const toml::node* node = table->get("interval_ms")) {
            if (auto value = interval_ns(*node, "[disk] interval_ms")) {
                disk.interval_ns = *value;
            }
        }
        if (const toml::node* node = table->get("multiplier")) {
            if (auto value = integer_in(*node, "[disk] multiplier", 1, 255)) {
                disk.multiplier = static_cast<std::uint32_t>(*value);
            }
        }
        if (const toml::node* node = table->get("sector_size")) {
            if (auto value = integer_in(*node, "[disk] sector_size", 512, 4096)) {
                if (*value != 512 && *value != 4096) {
                    error(line_of(*node),
                          "[disk] sector_size must be 512 or 4096, got " + std::to_string(*value));
                } else {
                    disk.sector_size = static_cast<std::uint32_t>(*value);
                }
            }
        }
        if (const toml::node* node = table->get("io")) {
            if (auto value =
                    choice(*node, "[disk] io", {"auto", "interrupt", "iopoll", "sqpoll"})) {
                disk.io = static_cast<DiskSettings::Io>(*value);
            }
        }
    }

    // [dpdk] mode = "inline" | "lcore", and lcore_cpu (lcore mode only; 0..CPU_SETSIZE - 1) and
    // lcore_priority (lcore mode only; below the engine's, which must preempt a polling thread
    // that shares its CPU).
    void read_dpdk_mode(const toml::table& table, DpdkSettings& dpdk,
                        const ProcessSettings& process) {
        if (const toml::node* mode = table.get("mode")) {
            if (auto value = choice(*mode, "[dpdk] mode", {"inline", "lcore"})) {
                dpdk.mode = static_cast<DpdkSettings::Mode>(*value);
            }
        }
        if (const toml::node* cpu = table.get("lcore_cpu")) {
            if (dpdk.mode != DpdkSettings::Mode::lcore) {
                error(line_of(*cpu), "[dpdk] lcore_cpu needs mode = \"lcore\"");
            } else if (auto value = integer_in(*cpu, "[dpdk] lcore_cpu", 0, lcore_cpu_max)) {
                dpdk.lcore_cpu = static_cast<int>(*value);
            }
        }
        if (const toml::node* priority = table.get("lcore_priority")) {
            if (dpdk.mode != DpdkSettings::Mode::lcore) {
                error(line_of(*priority), "[dpdk] lcore_priority needs mode = \"lcore\"");
            } else if (auto value = integer_in(*priority, "[dpdk] lcore_priority", 0, 98)) {
                if (*value > 0 && *value >= process.realtime_priority) {
                    error(line_of(*priority),
                          "[dpdk] lcore_priority " + std::to_string(*value) +
                              " must be below [process] realtime_priority (" +
                              std::to_string(process.realtime_priority) +
                              "): the engine thread must preempt a polling thread on its CPU");
                } else {
                    dpdk.lcore_priority = static_cast<int>(*value);
                }
            }
        }
    }

    // [dpdk] eal_args: the DPDK EAL's command line, without a program name; mode and lcore_cpu.
    void read_dpdk(const toml::table& root, DpdkSettings& dpdk, const ProcessSettings& process) {
        const toml::table* table = section(root, "dpdk");
        if (table == nullptr) {
            return;
        }
        if (!HB_HAVE_DPDK) {
            error(line_of(*table),
                  "[dpdk] is not supported by this build: hb was built without libdpdk, so the "
                  "DPDK transport is not built");
            return;
        }
        dpdk_line_ = line_of(*table);
        check_keys(*table, {"eal_args", "mode", "lcore_cpu", "lcore_priority"}, "[dpdk]");
        read_dpdk_mode(*table, dpdk, process);
        const toml::node* node = table->get("eal_args");
        if (node == nullptr) {
            missing(*table, "[dpdk] eal_args");
            return;
        }
        const toml::array* array = node->as_array();
        if (array == nullptr) {
            type_error(*node, "[dpdk] eal_args", "an array of strings");
            return;
        }
        if (array->size() > eal_args_max) {
            error(line_of(*node), "[dpdk] eal_args holds " + std::to_string(array->size()) +
                                      " arguments; at most " + std::to_string(eal_args_max));
            return;
        }
        const std::size_t errors_before = errors_.size();
        std::vector<std::string> args;
        for (const toml::node& item : *array) {
            const auto text = non_empty_string(item, "each of [dpdk] eal_args");
            if (!text) {
                continue;
            }
            const bool control = std::any_of(text->begin(), text->end(), [](char c) {
                return static_cast<unsigned char>(c) < 0x20U || c == 0x7F;
            });
            if (control || text->size() > eal_arg_max_chars) {
                error(line_of(item),
                      "[dpdk] eal_args argument " + shown(*text) +
                          (control ? " holds control characters"
                                   : " is longer than " + std::to_string(eal_arg_max_chars) +
                                         " characters"));
                continue;
            }
            args.emplace_back(*text);
        }
        if (errors_.size() == errors_before) {
            dpdk.configured = true;
            dpdk.eal_args = std::move(args);
        }
    }

    std::optional<Nanos> milliseconds_in(const toml::node& node, std::string_view what,
                                         std::int64_t min_ms, std::int64_t max_ms) {
        const auto value = integer_in(node, what, min_ms, max_ms);
        return value ? std::optional<Nanos>(*value * nanos_per_ms) : std::nullopt;
    }

    // [events]: the script directory must be there when hbd starts (and at --check), not be
    // found missing at the first failover; the scripts in it are looked up at each event.
    void read_events(const toml::table& root, EventsSettings& events) {
        const toml::table* table = section(root, "events");
        if (table == nullptr) {
            return;
        }
        check_keys(*table, {"script_dir", "timeout_ms", "warn_ms", "max_running"}, "[events]");
        if (const toml::node* node = table->get("timeout_ms")) {
            if (auto value = milliseconds_in(*node, "[events] timeout_ms", 1, 86'400'000)) {
                events.timeout_ns = *value;
            }
        }
        if (const toml::node* node = table->get("warn_ms")) {
            if (auto value = milliseconds_in(*node, "[events] warn_ms", 1, 86'400'000)) {
                events.warn_ns = *value;
            }
            if (events.warn_ns > events.timeout_ns) {
                warnings_.push_back(
                    "[events] warn_ms is above timeout_ms: scripts are killed "
                    "before they could be reported as running too long");
            }
        }
        if (const toml::node* node = table->get("max_running")) {
            if (auto value = integer_in(*node, "[events] max_running", 1, 64)) {
                events.max_running = static_cast<std::uint32_t>(*value);
            }
        }
        const toml::node* dir = table->get("script_dir");
        if (dir == nullptr) {
            missing(*table, "[events] script_dir");
            return;
        }
        const auto configured = non_empty_string(*dir, "[events] script_dir");
        if (!configured) {
            return;
        }
        const std::filesystem::path resolved = resolve_path(*configured);
        const std::string what = path_shown("[events] script_dir", *configured, resolved);
        struct stat status {};
        if (::stat(resolved.c_str(), &status) != 0) {
            error(line_of(*dir), what + " cannot be used: " + std::strerror(errno));
        } else if (!S_ISDIR(status.st_mode)) {
            error(line_of(*dir), what + " is not a directory");
        } else if (::access(resolved.c_str(), R_OK | X_OK) != 0) {
            error(line_of(*dir), what + " cannot be read: " + std::strerror(errno));
        } else {
            events.script_dir = resolved;
        }
    }

    void read_deadman(const toml::table& root, DeadmanSettings& deadman) {
        const toml::table* table = section(root, "deadman");
        if (table == nullptr) {
            return;
        }
        check_keys(*table, {"timeout_ms", "action", "test_hook"}, "[deadman]");
        if (const toml::node* node = table->get("timeout_ms")) {
            // The run loop sleeps at most 50 ms when idle: a shorter timeout would fire on a
            // healthy, quiet node.
            if (auto value = milliseconds_in(*node, "[deadman] timeout_ms", 200, 3'600'000)) {
                deadman.timeout_ns = *value;
            }
        } else {
            missing(*table, "[deadman] timeout_ms");
        }
        if (const toml::node* node = table->get("action")) {
            if (auto value = choice(*node, "[deadman] action", {"event", "halt"})) {
                deadman.action = static_cast<DeadmanSettings::Action>(*value);
            }
        }
        if (const toml::node* node = table->get("test_hook")) {
            if (auto value = boolean_of(*node, "[deadman] test_hook")) {
                deadman.test_hook = *value;
            }
        }
    }

    // What the local node's DPDK adapters need: [dpdk], one port each, the single-thread runner
    // (the transport runs inline on the engine thread), and no netmon targets (the prober's raw
    // sockets go through the kernel, which a DPDK port bypasses).
    void check_local_dpdk(NodeSettings& settings) {
        const NodeId local = settings.cluster.local_node;
        std::map<std::string_view, std::uint32_t> ports;  // port -> line
        bool any = false;
        for (const DpdkAdapterAt& at : dpdk_adapters_) {
            if (at.node != local || local == 0) {
                continue;
            }
            any = true;
            if (dpdk_line_ == 0) {
                error(at.transport_line,
                      "adapter transport \"dpdk\" needs a [dpdk] section with eal_args (the "
                      "DPDK EAL's arguments, see docs/dpdk.md)");
            }
            const auto [it, inserted] = at.port.empty() ? std::pair(ports.end(), true)
                                                        : ports.try_emplace(at.port, at.port_line);
            if (!inserted) {
                error(at.port_line, "adapter port " + shown(at.port) +
                                        " is used by another adapter of this node (line " +
                                        std::to_string(it->second) + "): one port per adapter");
            }
            if (settings.process.threads == ProcessSettings::Threads::threaded) {
                error(at.transport_line,
                      "adapter transport \"dpdk\" runs inline on the engine thread: it needs "
                      "[process] threads = \"single\"");
            }
        }
        if (!any && dpdk_line_ != 0 && local != 0) {
            warnings_.push_back("[dpdk] at line " + std::to_string(dpdk_line_) +
                                " is not used: no adapter of this node has transport = \"dpdk\"");
        }
        const NodeConfig* node = settings.cluster.find_node(local);
        if (node == nullptr) {
            return;
        }
        for (std::size_t a = 0; a < node->adapters.size() && a < settings.netmon_targets.size();
             ++a) {
            if (node->adapters[a].transport == TransportKind::dpdk &&
                !settings.netmon_targets[a].empty()) {
                warnings_.push_back("[netmon] targets of DPDK adapter " +
                                    shown(node->adapters[a].ifname) +
                                    " are not probed: the prober's sockets use the kernel's "
                                    "interfaces, which the DPDK port bypasses");
                settings.netmon_targets[a].clear();
            }
        }
    }

    // [control] socket: a path a Unix socket can be bound to (sun_path holds 107 bytes and a NUL).
    void read_control(const toml::table& root, ControlSettings& control) {
        const toml::table* table = section(root, "control");
        if (table == nullptr) {
            return;
        }
        check_keys(*table, {"socket"}, "[control]");
        const toml::node* node = table->get("socket");
        if (node == nullptr) {
            return;  // an empty [control] keeps the default socket
        }
        const auto configured = non_empty_string(*node, "[control] socket");
        if (!configured) {
            return;
        }
        const std::filesystem::path path(*configured);
        const std::filesystem::path resolved = path.is_absolute() ? path : base_dir_ / path;
        if (resolved.native().size() > control_socket_max_chars) {
            error(line_of(*node), "[control] socket " + shown(resolved.native()) + " is " +
                                      std::to_string(resolved.native().size()) +
                                      " bytes long; a Unix socket path holds at most " +
                                      std::to_string(control_socket_max_chars));
            return;
        }
        if (!resolved.has_filename()) {
            error(line_of(*node),
                  "[control] socket " + shown(*configured) + " names a directory, not a socket");
            return;
        }
        control.socket = resolved;
    }

    // [metrics] listen = "ADDRESS:PORT": an IPv4 address and a TCP port.
    void read_metrics(const toml::table& root, MetricsSettings& metrics) {
        const toml::table* table = section(root, "metrics");
        if (table == nullptr) {
            return;
        }
        check_keys(*table, {"listen"}, "[metrics]");
        const toml::node* node = table->get("listen");
        if (node == nullptr) {
            missing(*table, "[metrics] listen");
            return;
        }
        const auto text = non_empty_string(*node, "[metrics] listen");
        if (!text) {
            return;
        }
        const std::size_t colon = text->rfind(':');
        const std::string what = "[metrics] listen " + shown(*text);
        if (colon == std::string_view::npos) {
            error(line_of(*node), what + " must be ADDRESS:PORT, e.g. \"127.0.0.1:9464\"");
            return;
        }
        const auto address = Ipv4::parse(text->substr(0, colon));
        if (!address) {
            error(line_of(*node),
                  what + ": " + shown(text->substr(0, colon)) + " is not an IPv4 address");
            return;
        }
        const std::string_view port_text = text->substr(colon + 1);
        std::uint32_t port = 0;
        const auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
            port > 65535) {
            error(line_of(*node), what + ": the port must be 1..65535, got " + shown(port_text));
            return;
        }
        metrics.enabled = true;
        metrics.address = *address;
        metrics.port = static_cast<std::uint16_t>(port);
    }

    // A network that fewer than two nodes are on carries no path: legal, but likely a typo.
    void warn_unused_networks(const ClusterConfig& cluster) {
        if (!errors_.empty()) {
            return;
        }
        std::vector<std::set<NodeId>> nodes_on(cluster.networks.size());
        for (const NodeConfig& node : cluster.nodes) {
            for (const AdapterConfig& adapter : node.adapters) {
                nodes_on[adapter.network].insert(node.id);
            }
        }
        for (std::size_t i = 0; i < cluster.networks.size(); ++i) {
            if (nodes_on[i].size() < 2) {
                warnings_.push_back("[[network]] " + shown(cluster.networks[i].name) + " has " +
                                    std::to_string(nodes_on[i].size()) +
                                    " node(s) on it: it carries no heartbeat path");
            }
        }
    }

    struct NamedAt {
        NetworkIndex index;
        std::uint32_t line;
    };
    struct DpdkAdapterAt {
        NodeId node;
        std::string port;
        std::uint32_t transport_line;
        std::uint32_t port_line;
    };

    std::filesystem::path base_dir_;
    std::vector<ConfigError> errors_;
    std::vector<std::string> warnings_;
    std::map<std::string, NamedAt, std::less<>> network_names_;
    std::map<NodeId, std::uint32_t> node_ids_;
    std::map<std::string, std::uint32_t, std::less<>> node_names_;
    std::map<std::uint32_t, std::uint32_t> addresses_;  // address -> line
    std::vector<DpdkAdapterAt> dpdk_adapters_;          // every node's, checked for the local one
    std::uint32_t dpdk_line_ = 0;                       // [dpdk]'s line, 0 without one
};

}  // namespace

ConfigResult parse_config(std::string_view toml_text, const std::filesystem::path& base_dir) {
    if (auto problem = unsafe_for_parser(toml_text)) {
        ConfigResult result;
        result.errors.push_back(std::move(*problem));
        return result;
    }
    toml::table root;
    try {
        root = toml::parse(toml_text);
    } catch (const toml::parse_error& parse_error) {
        ConfigResult result;
        result.errors.push_back(
            ConfigError{parse_error.source().begin.line,
                        "TOML syntax: " + std::string(parse_error.description())});
        return result;
    }
    return Reader(base_dir).read(root);
}

ConfigResult load_config(const std::filesystem::path& file) {
    std::string text;
    if (auto problem = read_file(file, config_max_bytes, false, text)) {
        ConfigResult result;
        result.errors.push_back(
            ConfigError{0, "cannot read configuration " + shown(file.native()) + ": " + *problem});
        return result;
    }
    return parse_config(text, file.parent_path());
}

std::filesystem::path default_control_socket(std::uint64_t cluster_id, NodeId node) {
    return "/run/hb/" + std::to_string(cluster_id) + "-" + std::to_string(node) + ".sock";
}

std::filesystem::path control_socket(const NodeSettings& settings) {
    return settings.control.socket.empty()
               ? default_control_socket(settings.cluster.cluster_id, settings.cluster.local_node)
               : settings.control.socket;
}

std::string format_errors(const std::filesystem::path& file,
                          const std::vector<ConfigError>& errors) {
    std::string out;
    for (const ConfigError& error : errors) {
        out += file.native();
        if (error.line != 0) {
            out += ':' + std::to_string(error.line);
        }
        out += ": " + error.message + '\n';
    }
    return out;
}

}  // namespace hb::node
