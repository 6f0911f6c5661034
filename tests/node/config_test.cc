// Tests of the hbd configuration reader: the DESIGN §9 example, every schema rule (each error by
// line and message), several errors at once, and garbage that must yield errors, never a crash.
#include "tools/node/config.hh"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hb/mac.hh"
#include "hb/topology.hh"
#include "policy/timing.hh"
#include "tests/support/temp_dir.hh"
#include "tools/node/node.hh"
#include "tools/node/reload.hh"

#include "build_config.hh"

namespace hb::node {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t seed = 0x6862'636f'6e66'0001;  // fixed: failures replay

// The DESIGN §9 two-node example, minus the optional sections ([disk] and [netmon], tested on
// their own) and minus key_file (the tests that need one add it).
constexpr std::string_view base_config = R"([cluster]
id = 7
allow_unauthenticated = true
[timing]
profile = "fast"
[local]
node = 1
[[network]]
name = "net_a"
[[node]]
id = 1
name = "alpha"
adapters = [ { network = "net_a", ifname = "veth1", address = "198.18.1.1" } ]
[[node]]
id = 2
name = "beta"
adapters = [ { network = "net_a", ifname = "veth2", address = "198.18.1.2" } ]
)";

// `text` with the first `from` replaced by `to`; a missing `from` is a broken test.
std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
    std::string out(text);
    const std::size_t at = out.find(from);
    if (at == std::string::npos) {
        throw std::logic_error("test text lacks: " + std::string(from));
    }
    out.replace(at, from.size(), to);
    return out;
}

// 1-based line of the first occurrence of `needle` in `text`.
std::uint32_t line_with(std::string_view text, std::string_view needle) {
    const std::size_t at = text.find(needle);
    if (at == std::string_view::npos) {
        throw std::logic_error("test text lacks: " + std::string(needle));
    }
    std::uint32_t line = 1;
    for (std::size_t i = 0; i < at; ++i) {
        line += text[i] == '\n' ? 1 : 0;
    }
    return line;
}

std::string shown_bytes(std::string_view bytes) {
    std::string out;
    for (const char c : bytes) {
        out += std::to_string(static_cast<unsigned char>(c)) + ' ';
    }
    return out;
}

std::string listed(const ConfigResult& result) {
    std::string out = format_errors("config", result.errors);
    for (const std::string& warning : result.warnings) {
        out += "warning: " + warning + '\n';
    }
    return out.empty() ? "(no errors, no warnings)\n" : out;
}

testing::AssertionResult has_error(const ConfigResult& result, std::uint32_t line,
                                   std::string_view text) {
    for (const ConfigError& error : result.errors) {
        if (error.line == line && error.message.find(text) != std::string::npos) {
            return testing::AssertionSuccess();
        }
    }
    return testing::AssertionFailure()
           << "no error at line " << line << " containing \"" << text << "\"; got:\n"
           << listed(result);
}

// The text has exactly one problem: this one.
testing::AssertionResult only_error(const ConfigResult& result, std::uint32_t line,
                                    std::string_view text) {
    if (result.settings.has_value()) {
        return testing::AssertionFailure() << "settings present despite an error";
    }
    if (result.errors.size() != 1) {
        return testing::AssertionFailure()
               << "expected exactly one error, got " << result.errors.size() << ":\n"
               << listed(result);
    }
    return has_error(result, line, text);
}

ConfigResult parse(std::string_view text) {
    return parse_config(text, "/nonexistent");
}

// Parses `text` that is expected to be valid and returns its settings.
NodeSettings valid(std::string_view text) {
    ConfigResult result = parse(text);
    EXPECT_TRUE(result.errors.empty()) << listed(result);
    if (!result.settings) {
        throw std::logic_error("expected valid settings:\n" + listed(result));
    }
    return *result.settings;
}

// The single error of `base_config` with `from` replaced by `to`, expected on the last line of
// `to`.
testing::AssertionResult rejects(std::string_view from, std::string_view to,
                                 std::string_view message) {
    const std::string text = replaced(base_config, from, to);
    const auto extra_lines = static_cast<std::uint32_t>(std::count(to.begin(), to.end(), '\n'));
    return only_error(parse(text), line_with(base_config, from) + extra_lines, message);
}

// Every test's files live in a directory of its own.
class TempDir : public test::TempDir {
public:
    TempDir() : test::TempDir("hb_config_test") {}
};

constexpr std::string_view key_bytes = "0123456789abcdef0123456789abcdef";
constexpr fs::perms owner_only = fs::perms::owner_read | fs::perms::owner_write;

MacKeyBytes expected_key(std::string_view bytes) {
    return derive_mac_key(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::string with_key_file(std::string_view path) {
    return replaced(base_config, "id = 7\nallow_unauthenticated = true\n",
                    "id = 7\nkey_file = \"" + std::string(path) + "\"\n");
}

// ---- the DESIGN §9 example -------------------------------------------------------------------

TEST(ConfigTest, DesignExampleLoadsWithRelativeKeyFile) {
    const TempDir dir;
    dir.write("etc/cluster.key", key_bytes, owner_only);
    const std::string text = R"([cluster]
id = 7
key_file = "cluster.key"      # optional: without it beats are unauthenticated, and hbd warns
[timing]
profile = "fast"              # safe | fast | extreme, or interval_ms + multiplier
[local]
node = 1
[[network]]
name = "net_a"                 # mode = "unicast" (default) or "multicast" with group = "228.x.y.z"
[[node]]
id = 1
name = "alpha"
adapters = [ { network = "net_a", ifname = "veth1", address = "198.18.1.1" } ]
[[node]]
id = 2
name = "beta"
adapters = [ { network = "net_a", ifname = "veth2", address = "198.18.1.2" } ]
)";
    // Loaded from a file whose directory is not the working directory, so the key file can only
    // be found by resolving against the configuration's directory.
    const fs::path file = dir.write("etc/hb.toml", text, owner_only);
    const ConfigResult result = load_config(file);
    ASSERT_TRUE(result.errors.empty()) << listed(result);
    ASSERT_TRUE(result.settings.has_value());
    EXPECT_TRUE(result.warnings.empty()) << listed(result);

    const NodeSettings& settings = *result.settings;
    const ClusterConfig& cluster = settings.cluster;
    EXPECT_EQ(cluster.cluster_id, 7U);
    EXPECT_EQ(settings.key_file, dir.path() / "etc" / "cluster.key");
    ASSERT_EQ(cluster.keys.count, 1U);
    EXPECT_EQ(cluster.keys.signing().bytes, expected_key(key_bytes));
    EXPECT_EQ(cluster.local_node, 1U);

    ASSERT_EQ(cluster.networks.size(), 1U);
    const NetworkConfig& network = cluster.networks[0];
    EXPECT_EQ(network.name, "net_a");
    EXPECT_EQ(network.mode, NetworkMode::unicast);
    EXPECT_EQ(network.port, default_port);
    EXPECT_EQ(network.ttl, 1);
    EXPECT_EQ(network.timing, *policy::timing_profile("fast"));

    ASSERT_EQ(cluster.nodes.size(), 2U);
    EXPECT_EQ(cluster.nodes[0].id, 1U);
    EXPECT_EQ(cluster.nodes[0].name, "alpha");
    EXPECT_EQ(cluster.nodes[1].id, 2U);
    EXPECT_EQ(cluster.nodes[1].name, "beta");
    ASSERT_EQ(cluster.nodes[1].adapters.size(), 1U);
    const AdapterConfig& adapter = cluster.nodes[1].adapters[0];
    EXPECT_EQ(adapter.network, 0);
    EXPECT_EQ(adapter.ifname, "veth2");
    EXPECT_EQ(adapter.address, *Ipv4::parse("198.18.1.2"));
    EXPECT_EQ(adapter.transport, TransportKind::udp);

    const ProcessSettings defaults;
    EXPECT_EQ(settings.process.realtime_priority, defaults.realtime_priority);
    EXPECT_EQ(settings.process.lock_memory, defaults.lock_memory);
    EXPECT_EQ(settings.process.threads, defaults.threads);
}

TEST(ConfigTest, DiskSectionIsReadWithDefaultsFromTheDisk) {
    const std::string text = std::string(base_config) +
                             "[disk]                         # optional non-IP path\n"
                             "path = \"/dev/loop0\"\n";
    const ConfigResult result = parse(text);
    if (!HB_HAVE_LIBURING) {
        // Never accepted and ignored: an operator would believe it protects them.
        EXPECT_TRUE(has_error(result, line_with(text, "[disk]"),
                              "[disk] is not supported by this build: hb was built without "
                              "liburing"));
        return;
    }
    ASSERT_TRUE(result.settings.has_value()) << listed(result);
    const DiskSettings& disk = result.settings->disk;
    EXPECT_EQ(disk.path, fs::path("/dev/loop0"));
    EXPECT_EQ(disk.interval_ns, 0) << "the disk header's timing";
    EXPECT_EQ(disk.multiplier, 0U);
    EXPECT_EQ(disk.sector_size, 0U);
    EXPECT_EQ(disk.io, DiskSettings::Io::automatic);
    EXPECT_TRUE(parse(base_config).settings->disk.path.empty()) << "no [disk], no disk";
}

TEST(ConfigTest, DiskSectionValuesAndErrors) {
    if (!HB_HAVE_LIBURING) {
        GTEST_SKIP() << "built without liburing: [disk] is refused (tested above)";
    }
    const auto with_disk = [](std::string_view body) {
        return std::string(base_config) + "[disk]\n" + std::string(body);
    };
    const ConfigResult full =
        parse(with_disk("path = \"shared.img\"\ninterval_ms = 20\n"
                        "multiplier = 4\nsector_size = 4096\nio = \"sqpoll\"\n"));
    ASSERT_TRUE(full.settings.has_value()) << listed(full);
    const DiskSettings& disk = full.settings->disk;
    EXPECT_TRUE(disk.path.is_absolute()) << "resolved against the config's directory";
    EXPECT_EQ(disk.path.filename(), "shared.img");
    EXPECT_EQ(disk.interval_ns, 20 * nanos_per_ms);
    EXPECT_EQ(disk.multiplier, 4U);
    EXPECT_EQ(disk.sector_size, 4096U);
    EXPECT_EQ(disk.io, DiskSettings::Io::sqpoll);

    const auto rejects = [&](std::string_view body,
                             std::string_view message) -> testing::AssertionResult {
        const std::string text = with_disk(body);
        const ConfigResult result = parse(text);
        const bool found =
            std::any_of(result.errors.begin(), result.errors.end(), [&](const ConfigError& error) {
                return error.message.find(message) != std::string::npos;
            });
        return testing::AssertionResult(!result.settings.has_value() && found)
               << "no error containing \"" << message << "\"; got:\n"
               << listed(result);
    };
    EXPECT_TRUE(rejects("interval_ms = 10\n", "[disk] path is required"));
    EXPECT_TRUE(rejects("path = \"\"\n", "[disk] path must not be empty"));
    EXPECT_TRUE(rejects("path = \"/dev/loop0\"\nsector_size = 1024\n",
                        "[disk] sector_size must be 512 or 4096, got 1024"));
    EXPECT_TRUE(rejects("path = \"/dev/loop0\"\nmultiplier = 0\n",
                        "[disk] multiplier must be in 1..255, got 0"));
    EXPECT_TRUE(rejects("path = \"/dev/loop0\"\nio = \"poll\"\n", "[disk] io must be"));
    EXPECT_TRUE(rejects("path = \"/dev/loop0\"\npaht = 1\n", "unknown key \"paht\" in [disk]"));
}

// ---- [netmon] ------------------------------------------------------------------------------

// base_config plus a [netmon] section with `body`, loaded from dir/etc/hb.toml.
ConfigResult load_with_netmon(const TempDir& dir, std::string_view body) {
    const std::string text = std::string(base_config) + "[netmon]\n" + std::string(body);
    return load_config(dir.write("etc/hb.toml", text, owner_only));
}

TEST(ConfigTest, NetmonFileIsReadRelativeToTheConfigAndResolvedToLocalAdapters) {
    const TempDir dir;
    dir.write("etc/netmon.cf",
              "!REQD veth1 198.18.1.50\n"
              "!REQD veth1 198.18.1.50\n"  // a duplicate: a warning with its line
              "!REQD veth2 198.18.1.60\n"  // beta's adapter: not this node's
              "!REQD !ALL 198.18.1.51\n",
              owner_only);
    const ConfigResult result = load_with_netmon(dir, "file = \"netmon.cf\"\n");
    ASSERT_TRUE(result.settings.has_value()) << listed(result);
    const NodeSettings& settings = *result.settings;
    EXPECT_EQ(settings.netmon_file, dir.path() / "etc" / "netmon.cf");
    EXPECT_EQ(settings.netmon_mode, policy::NetmonMode::caa);
    const std::vector<std::vector<Ipv4>> expected{
        {*Ipv4::parse("198.18.1.50"), *Ipv4::parse("198.18.1.51")}};
    EXPECT_EQ(settings.netmon_targets, expected);
    const auto warned = [&](std::string_view text) {
        return std::any_of(result.warnings.begin(), result.warnings.end(),
                           [&](const std::string& w) { return w.rfind(text, 0) == 0; });
    };
    EXPECT_TRUE(warned("netmon.cf:2: duplicate of line 1")) << listed(result);
    EXPECT_TRUE(warned("netmon.cf:3: unresolvable owner veth2")) << listed(result);
}

TEST(ConfigTest, NetmonRsctModeReadsPlainAddressLines) {
    const TempDir dir;
    dir.write("etc/netmon.cf", "198.18.1.70\n", owner_only);
    const ConfigResult caa = load_with_netmon(dir, "file = \"netmon.cf\"\nmode = \"caa\"\n");
    ASSERT_TRUE(caa.settings.has_value()) << listed(caa);
    EXPECT_EQ(caa.settings->netmon_targets, std::vector<std::vector<Ipv4>>{{}});
    EXPECT_TRUE(std::any_of(caa.warnings.begin(), caa.warnings.end(), [](const std::string& w) {
        return w.find("gives no target to any adapter of this node") != std::string::npos;
    })) << listed(caa);

    const ConfigResult rsct = load_with_netmon(dir, "file = \"netmon.cf\"\nmode = \"rsct\"\n");
    ASSERT_TRUE(rsct.settings.has_value()) << listed(rsct);
    EXPECT_EQ(rsct.settings->netmon_mode, policy::NetmonMode::rsct);
    const std::vector<std::vector<Ipv4>> expected{{*Ipv4::parse("198.18.1.70")}};
    EXPECT_EQ(rsct.settings->netmon_targets, expected);
}

TEST(ConfigTest, NetmonProblemsAreErrorsOnTheirLines) {
    const TempDir dir;
    const std::uint32_t section_line = line_with(std::string(base_config) + "[netmon]", "[netmon]");
    // The file must exist.
    EXPECT_TRUE(only_error(load_with_netmon(dir, "file = \"netmon.cf\"\n"), section_line + 1,
                           "[netmon] file \"netmon.cf\""));
    dir.write("etc/netmon.cf", "!REQD veth1 198.18.1.50\n", owner_only);
    EXPECT_TRUE(only_error(load_with_netmon(dir, "mode = \"caa\"\n"), section_line,
                           "[netmon] file is required"));
    EXPECT_TRUE(only_error(load_with_netmon(dir, "file = \"netmon.cf\"\nmode = \"aix\"\n"),
                           section_line + 2,
                           "[netmon] mode must be \"caa\" or \"rsct\", got \"aix\""));
    EXPECT_TRUE(only_error(load_with_netmon(dir, "file = \"netmon.cf\"\nfiles = 1\n"),
                           section_line + 2, "unknown key \"files\" in [netmon]"));
    EXPECT_TRUE(only_error(load_with_netmon(dir, "file = \"\"\n"), section_line + 1,
                           "[netmon] file must not be empty"));
}

TEST(ConfigTest, WithoutNetmonThereAreNoTargets) {
    const NodeSettings settings = valid(base_config);
    EXPECT_TRUE(settings.netmon_file.empty());
    EXPECT_TRUE(settings.netmon_targets.empty());
}

TEST(ConfigTest, WithoutKeyFileRefusesUnlessAllowed) {
    const ConfigResult allowed = parse(base_config);
    ASSERT_TRUE(allowed.settings.has_value()) << listed(allowed);
    EXPECT_TRUE(allowed.settings->cluster.keys.empty());
    EXPECT_TRUE(allowed.settings->allow_unauthenticated);
    EXPECT_TRUE(allowed.settings->key_file.empty());
    ASSERT_EQ(allowed.warnings.size(), 1U) << listed(allowed);
    EXPECT_NE(allowed.warnings[0].find("allow_unauthenticated = true: beats are sent and accepted "
                                       "without authentication"),
              std::string::npos);

    const std::string no_key = replaced(base_config, "allow_unauthenticated = true\n", "");
    EXPECT_TRUE(only_error(parse(no_key), 1, "[cluster] key_file is required"));
    const std::string refused =
        replaced(base_config, "allow_unauthenticated = true", "allow_unauthenticated = false");
    EXPECT_TRUE(only_error(parse(refused), 1, "or set allow_unauthenticated = true"));
    EXPECT_TRUE(rejects("allow_unauthenticated = true", "allow_unauthenticated = \"yes\"",
                        "[cluster] allow_unauthenticated must be a boolean, got string"));
}

TEST(ConfigTest, KeyFileAndAllowUnauthenticatedContradict) {
    const TempDir dir;
    const fs::path key = dir.write("k", key_bytes, owner_only);
    const std::string both =
        replaced(base_config, "id = 7\n", "id = 7\nkey_file = \"" + key.native() + "\"\n");
    EXPECT_TRUE(only_error(parse(both), 4, "contradicts key_file"));
}

TEST(ConfigTest, AcceptKeyFilesForARollover) {
    const TempDir dir;
    const fs::path signing = dir.write("new.key", key_bytes, owner_only);
    const fs::path old = dir.write("old.key", "another key of 32 bytes, really!", owner_only);
    const std::string text = replaced(with_key_file(signing.native()), "[timing]",
                                      "accept_key_files = [\"" + old.native() + "\"]\n[timing]");
    const ConfigResult result = parse(text);
    ASSERT_TRUE(result.settings.has_value()) << listed(result);
    const KeySet& keys = result.settings->cluster.keys;
    ASSERT_EQ(keys.count, 2U);
    EXPECT_EQ(keys.signing().bytes, expected_key(key_bytes)) << "key_file signs";
    EXPECT_EQ(keys.keys[1].bytes, expected_key("another key of 32 bytes, really!"));
    EXPECT_EQ(result.settings->accept_key_files, std::vector<fs::path>{old});

    // The same key twice is legal but pointless: a warning, and one key.
    const std::string twice =
        replaced(with_key_file(signing.native()), "[timing]",
                 "accept_key_files = [\"" + signing.native() + "\"]\n[timing]");
    const ConfigResult duplicate = parse(twice);
    ASSERT_TRUE(duplicate.settings.has_value()) << listed(duplicate);
    EXPECT_EQ(duplicate.settings->cluster.keys.count, 1U);
    ASSERT_EQ(duplicate.warnings.size(), 1U) << listed(duplicate);
    EXPECT_NE(duplicate.warnings[0].find("holds a key already configured"), std::string::npos);

    const std::string without_signing = replaced(base_config, "allow_unauthenticated = true",
                                                 "accept_key_files = [\"" + old.native() + "\"]");
    EXPECT_TRUE(has_error(parse(without_signing), 3, "accept_key_files needs key_file"));

    const std::string four = replaced(with_key_file(signing.native()), "[timing]",
                                      "accept_key_files = [\"a\", \"b\", \"c\", \"d\"]\n[timing]");
    EXPECT_TRUE(only_error(parse(four), 4, "holds 4 files; at most 3"));
    const std::string missing = replaced(with_key_file(signing.native()), "[timing]",
                                         "accept_key_files = [\"/nonexistent/old.key\"]\n[timing]");
    EXPECT_TRUE(only_error(parse(missing), 4,
                           "key file \"/nonexistent/old.key\" cannot be read: No such file"));
}

// ---- [cluster] and key_file --------------------------------------------------------------------

TEST(ConfigTest, ClusterRules) {
    EXPECT_TRUE(rejects("id = 7", "id = \"7\"", "[cluster] id must be an integer, got string"));
    EXPECT_TRUE(
        rejects("id = 7", "id = 0", "[cluster] id must be in 1..9223372036854775807, got 0"));
    EXPECT_TRUE(rejects("id = 7", "id = -3", "got -3"));
    EXPECT_TRUE(rejects("id = 7", "id = 7\nname = \"c\"", "unknown key \"name\" in [cluster]"));
    EXPECT_EQ(valid(replaced(base_config, "id = 7", "id = 9223372036854775807")).cluster.cluster_id,
              9223372036854775807U);

    const std::string no_id = replaced(base_config, "id = 7\n", "");
    EXPECT_TRUE(only_error(parse(no_id), 1, "[cluster] id is required"));

    const std::string no_cluster =
        replaced(base_config, "[cluster]\nid = 7\nallow_unauthenticated = true\n", "");
    EXPECT_TRUE(only_error(parse(no_cluster), 0, "[cluster] is missing"));

    const std::string not_table =
        replaced(base_config, "[cluster]\nid = 7\nallow_unauthenticated = true\n", "cluster = 7\n");
    EXPECT_TRUE(only_error(parse(not_table), 1, "[cluster] must be a table, got integer 7"));
}

TEST(ConfigTest, AbsoluteKeyFileOfSixteenBytes) {
    const TempDir dir;
    const fs::path key = dir.write("k", key_bytes.substr(0, 16), owner_only);
    const NodeSettings settings = valid(with_key_file(key.native()));
    EXPECT_EQ(settings.key_file, key);
    ASSERT_EQ(settings.cluster.keys.count, 1U);
    EXPECT_EQ(settings.cluster.keys.signing().bytes, expected_key(key_bytes.substr(0, 16)));
}

TEST(ConfigTest, RelativeKeyFileResolvesAgainstBaseDir) {
    const TempDir dir;
    dir.write("keys/cluster.key", key_bytes, owner_only);
    const ConfigResult result = parse_config(with_key_file("keys/cluster.key"), dir.path());
    ASSERT_TRUE(result.settings.has_value()) << listed(result);
    EXPECT_EQ(result.settings->key_file, dir.path() / "keys" / "cluster.key");
    EXPECT_EQ(result.settings->cluster.keys.signing().bytes, expected_key(key_bytes));

    // The same text against another directory does not find it, and says where it looked.
    const ConfigResult elsewhere = parse(with_key_file("keys/cluster.key"));
    EXPECT_TRUE(only_error(elsewhere, 3, "\"/nonexistent/keys/cluster.key\""));
    EXPECT_TRUE(has_error(elsewhere, 3, "cannot be read: No such file or directory"));
}

TEST(ConfigTest, KeyFileTooShort) {
    const TempDir dir;
    const fs::path key = dir.write("short.key", key_bytes.substr(0, 15), owner_only);
    EXPECT_TRUE(only_error(parse(with_key_file(key.native())), 3,
                           "holds 15 bytes; a key file needs at least 16"));
    const fs::path empty = dir.write("empty.key", "", owner_only);
    EXPECT_TRUE(only_error(parse(with_key_file(empty.native())), 3, "holds 0 bytes"));
}

TEST(ConfigTest, KeyFileMustBeAReadableRegularFile) {
    const TempDir dir;
    EXPECT_TRUE(only_error(parse(with_key_file(dir.path().native())), 3, "Is a directory"));

    // A FIFO would block the reader forever; it is refused without being opened for reading.
    const fs::path fifo = dir.path() / "fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_TRUE(only_error(parse(with_key_file(fifo.native())), 3, "not a regular file"));

    EXPECT_TRUE(only_error(parse(with_key_file("")), 3, "[cluster] key_file must not be empty"));
    const std::string number =
        replaced(base_config, "allow_unauthenticated = true\n", "key_file = 5\n");
    EXPECT_TRUE(only_error(parse(number), 3, "[cluster] key_file must be a string, got integer"));
}

TEST(ConfigTest, KeyFileAccessibleToOthersIsRefused) {
    const TempDir dir;
    for (const fs::perms extra :
         {fs::perms::group_read, fs::perms::others_read, fs::perms::group_write,
          fs::perms::others_write, fs::perms::others_exec}) {
        const fs::path key = dir.write("open.key", key_bytes, owner_only | extra);
        const ConfigResult result = parse(with_key_file(key.native()));
        EXPECT_TRUE(has_error(result, 3, "[cluster] key_file \"" + key.native() + "\" has mode 0"))
            << listed(result);
        EXPECT_TRUE(
            has_error(result, 3,
                      "must not be accessible to group or others (chmod 600 " + key.native() + ")"))
            << listed(result);
    }
}

TEST(ConfigTest, KeyFileOfAnotherUserIsRefused) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "needs root to give a file to another user";
    }
    const TempDir dir;
    const fs::path key = dir.write("theirs.key", key_bytes, owner_only);
    ASSERT_EQ(chown(key.c_str(), 65534, 65534), 0);
    EXPECT_TRUE(only_error(parse(with_key_file(key.native())), 3,
                           "is owned by uid 65534; a key file must belong to the user reading it "
                           "(uid 0) or to root"));
}

// ---- [timing] ----------------------------------------------------------------------------------

Timing timing_of(std::string_view timing_section) {
    const std::string text =
        replaced(base_config, "[timing]\nprofile = \"fast\"\n", timing_section);
    return valid(text).cluster.networks.at(0).timing;
}

TEST(ConfigTest, TimingProfiles) {
    EXPECT_EQ(timing_of(""), *policy::timing_profile("safe"));
    EXPECT_EQ(timing_of("[timing]\n"), *policy::timing_profile("safe"));
    for (const char* name : {"safe", "fast", "extreme"}) {
        EXPECT_EQ(timing_of("[timing]\nprofile = \"" + std::string(name) + "\"\n"),
                  *policy::timing_profile(name))
            << name;
    }
}

TEST(ConfigTest, TimingOverrides) {
    const Timing fast = *policy::timing_profile("fast");

    Timing timing = timing_of("[timing]\nprofile = \"fast\"\ninterval_ms = 20\n");
    EXPECT_EQ(timing.interval_ns, 20 * nanos_per_ms);
    EXPECT_EQ(timing.multiplier, fast.multiplier);

    timing = timing_of("[timing]\nprofile = \"fast\"\nmultiplier = 7\n");
    EXPECT_EQ(timing.interval_ns, fast.interval_ns);
    EXPECT_EQ(timing.multiplier, 7U);

    timing = timing_of("[timing]\ninterval_ms = 0.5\nmultiplier = 4\nup_count = 9\n");
    EXPECT_EQ(timing.interval_ns, 500 * nanos_per_us);
    EXPECT_EQ(timing.multiplier, 4U);
    EXPECT_EQ(timing.up_count, 9U);

    EXPECT_EQ(timing_of("[timing]\ninterval_ms = 0.1\nmultiplier = 1\n").interval_ns,
              100 * nanos_per_us);
    EXPECT_EQ(timing_of("[timing]\ninterval_ms = 60000\nmultiplier = 255\n").detection_ns(),
              60 * 255 * nanos_per_s);
    EXPECT_EQ(timing_of("[timing]\nup_count = 64\n").up_count, 64U);
}

TEST(ConfigTest, AdaptiveCeiling) {
    EXPECT_EQ(valid(base_config).adaptive_ceiling, 0U) << "off unless asked for";
    const std::string on =
        replaced(base_config, "profile = \"fast\"", "profile = \"fast\"\nadaptive_ceiling = 8");
    EXPECT_EQ(valid(on).adaptive_ceiling, 8U);
    const std::string_view from = "profile = \"fast\"";
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nadaptive_ceiling = 0",
                        "[timing] adaptive_ceiling must be in 1..255, got 0"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nadaptive_ceiling = 256", "got 256"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nadaptive_ceiling = true",
                        "[timing] adaptive_ceiling must be an integer, got boolean"));
}

TEST(ConfigTest, TimingRules) {
    const std::string_view from = "profile = \"fast\"";
    EXPECT_TRUE(rejects(from, "profile = \"turbo\"",
                        "[timing] profile must be \"safe\", \"fast\" or \"extreme\", got "
                        "\"turbo\""));
    EXPECT_TRUE(rejects(from, "profile = 1", "[timing] profile must be a string, got integer"));
    EXPECT_TRUE(
        rejects(from, "profile = \"fast\"\nintervall_ms = 5",
                "unknown key \"intervall_ms\" in [timing] (did you mean \"interval_ms\"?)"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\ninterval_ms = 0.05",
                        "[timing] interval_ms must be in 0.1..60000, got 0.05"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\ninterval_ms = 0", "got 0"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\ninterval_ms = -1.5", "got -1.5"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\ninterval_ms = 60001", "got 60001"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\ninterval_ms = nan", "got nan"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\ninterval_ms = inf", "got inf"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\ninterval_ms = \"10\"",
                        "[timing] interval_ms must be a number (integer or float), got string"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nmultiplier = 0",
                        "[timing] multiplier must be in 1..255, got 0"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nmultiplier = 256", "got 256"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nmultiplier = 2.5",
                        "[timing] multiplier must be an integer, got float 2.5"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nup_count = 0",
                        "[timing] up_count must be in 1..64, got 0"));
    EXPECT_TRUE(rejects(from, "profile = \"fast\"\nup_count = 65", "got 65"));

    // Without a profile, half a timing is refused: the other half would come from nowhere.
    const std::string half = replaced(base_config, from, "interval_ms = 5");
    EXPECT_TRUE(only_error(parse(half), line_with(half, "[timing]"),
                           "[timing] sets interval_ms without multiplier"));
    const std::string other_half = replaced(base_config, from, "multiplier = 5");
    EXPECT_TRUE(only_error(parse(other_half), line_with(other_half, "[timing]"),
                           "[timing] sets multiplier without interval_ms"));

    const std::string not_table =
        "timing = \"fast\"\n" + replaced(base_config, "[timing]\n" + std::string(from) + "\n", "");
    EXPECT_TRUE(only_error(parse(not_table), 1, "[timing] must be a table, got string \"fast\""));
}

// ---- [[network]] -------------------------------------------------------------------------------

TEST(ConfigTest, MulticastNetwork) {
    const std::string text = replaced(
        base_config, "name = \"net_a\"\n",
        "name = \"net_a\"\nmode = \"multicast\"\ngroup = \"228.1.2.3\"\nport = 5000\nttl = 4\n");
    const NetworkConfig network = valid(text).cluster.networks.at(0);
    EXPECT_EQ(network.mode, NetworkMode::multicast);
    EXPECT_EQ(network.group, *Ipv4::parse("228.1.2.3"));
    EXPECT_EQ(network.port, 5000);
    EXPECT_EQ(network.ttl, 4);

    const std::string no_group =
        replaced(base_config, "name = \"net_a\"\n", "name = \"net_a\"\nmode = \"multicast\"\n");
    EXPECT_TRUE(
        only_error(parse(no_group), 8, "[[network]] group is required with mode = \"multicast\""));
}

TEST(ConfigTest, NetworkRules) {
    const std::string_view from = "name = \"net_a\"";
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nmode = \"broadcast\"",
                        "[[network]] mode must be \"unicast\" or \"multicast\", got "
                        "\"broadcast\""));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\ngroup = \"228.1.2.3\"",
                        "[[network]] group is only valid with mode = \"multicast\""));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nmode = \"multicast\"\ngroup = \"198.18.0.1\"",
                        "[[network]] group \"198.18.0.1\" is not an IPv4 multicast address"));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nmode = \"multicast\"\ngroup = \"228.1.2\"",
                        "group \"228.1.2\" is not an IPv4 multicast address"));
    EXPECT_TRUE(
        rejects(from, "name = \"net_a\"\nport = 0", "[[network]] port must be in 1..65535"));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nport = 65536", "got 65536"));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nport = \"4098\"",
                        "[[network]] port must be an integer, got string \"4098\""));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nttl = 0", "[[network]] ttl must be in 1..255"));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nttl = 256", "got 256"));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nprot = 1",
                        "unknown key \"prot\" in [[network]] (did you mean \"port\"?)"));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nmultiplier = 0",
                        "[[network]] multiplier must be in 1..255"));
    EXPECT_TRUE(
        rejects(from, "name = \"net_a\"\nprofile = \"slow\"", "[[network]] profile must be"));
    // A network without a usable name also leaves the adapters that name it dangling.
    const ConfigResult number = parse(replaced(base_config, from, "name = 3"));
    EXPECT_TRUE(has_error(number, 9, "[[network]] name must be a string, got integer 3"));
    EXPECT_TRUE(has_error(number, 13, "adapter network \"net_a\" is not a [[network]] name"));

    // An empty name is refused, and then no adapter can refer to it either.
    const std::string empty = replaced(base_config, from, "name = \"\"");
    const ConfigResult empty_result = parse(empty);
    EXPECT_TRUE(has_error(empty_result, 9, "[[network]] name must not be empty"));
    EXPECT_TRUE(has_error(empty_result, 13, "adapter network \"net_a\" is not a [[network]] name"));

    const std::string unnamed = replaced(base_config, from, "port = 4100");
    EXPECT_TRUE(has_error(parse(unnamed), 8, "[[network]] name is required"));
}

TEST(ConfigTest, NetworkLinkState) {
    // By default the link poller's carrier/operstate reports count.
    EXPECT_EQ(valid(base_config).cluster.networks.at(0).link_state, LinkStateUse::watch);
    const std::string_view from = "name = \"net_a\"";
    const std::string watch =
        replaced(base_config, from, "name = \"net_a\"\nlink_state = \"watch\"");
    EXPECT_EQ(valid(watch).cluster.networks.at(0).link_state, LinkStateUse::watch);
    const std::string ignore =
        replaced(base_config, from, "name = \"net_a\"\nlink_state = \"ignore\"");
    EXPECT_EQ(valid(ignore).cluster.networks.at(0).link_state, LinkStateUse::ignore);

    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nlink_state = \"off\"",
                        "[[network]] link_state must be \"watch\" or \"ignore\", got \"off\""));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nlink_state = \"Ignore\"", "got \"Ignore\""));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nlink_state = false",
                        "[[network]] link_state must be a string, got boolean false"));
    EXPECT_TRUE(rejects(from, "name = \"net_a\"\nlinkstate = \"ignore\"",
                        "unknown key \"linkstate\" in [[network]] (did you mean \"link_state\"?)"));
    // Per network: a second network keeps the default.
    const std::string two = replaced(
        replaced(ignore, "[[node]]\nid = 1", "[[network]]\nname = \"net_b\"\n[[node]]\nid = 1"),
        "address = \"198.18.1.1\" }",
        "address = \"198.18.1.1\" }, { network = \"net_b\", ifname = \"veth3\", "
        "address = \"198.18.2.1\" }");
    const ConfigResult result = parse(two);
    ASSERT_TRUE(result.settings.has_value()) << listed(result);
    EXPECT_EQ(result.settings->cluster.networks.at(0).link_state, LinkStateUse::ignore);
    EXPECT_EQ(result.settings->cluster.networks.at(1).link_state, LinkStateUse::watch);
}

// What `hbd --check` prints per local adapter: which health sources (DESIGN §6) judge it.
TEST(ConfigTest, HealthSourcesFollowLinkStateAndNetmonTargets) {
    const std::string_view from = "name = \"net_a\"";
    NodeSettings watch = valid(base_config);
    const Topology watch_topology(watch.cluster);
    const std::vector<AdapterHealth> watched = plan_adapter_health(watch, watch_topology);
    ASSERT_EQ(watched.size(), 1U);
    EXPECT_TRUE(watched[0].link_state);
    EXPECT_EQ(watched[0].inbound, AdapterHealth::Inbound::if_operstate_unknown);
    EXPECT_EQ(describe(watched[0]),
              "veth1 on net_a: link state, inbound traffic if veth1 reports no carrier state "
              "(operstate UNKNOWN) when hbd starts");

    NodeSettings ignore =
        valid(replaced(base_config, from, "name = \"net_a\"\nlink_state = \"ignore\""));
    const Topology ignore_topology(ignore.cluster);
    const std::vector<AdapterHealth> ignored = plan_adapter_health(ignore, ignore_topology);
    ASSERT_EQ(ignored.size(), 1U);
    EXPECT_FALSE(ignored[0].link_state);
    EXPECT_EQ(ignored[0].inbound, AdapterHealth::Inbound::always);
    EXPECT_EQ(describe(ignored[0]), "veth1 on net_a: inbound traffic");

    // netmon targets replace rule 3, with or without link state.
    ignore.netmon_targets = {{*Ipv4::parse("198.18.1.9")}};
    const std::vector<AdapterHealth> probed = plan_adapter_health(ignore, ignore_topology);
    EXPECT_EQ(probed[0].inbound, AdapterHealth::Inbound::never);
    EXPECT_EQ(describe(probed[0]), "veth1 on net_a: netmon (1 target)");
    watch.netmon_targets = {{*Ipv4::parse("198.18.1.9"), *Ipv4::parse("198.18.1.10")}};
    EXPECT_EQ(describe(plan_adapter_health(watch, watch_topology)[0]),
              "veth1 on net_a: link state, netmon (2 targets)");
}

TEST(ConfigTest, NetworkListRules) {
    const std::string twice = replaced(base_config, "[[node]]\nid = 1",
                                       "[[network]]\nname = \"net_a\"\n[[node]]\nid = 1");
    EXPECT_TRUE(only_error(parse(twice), 11,
                           "[[network]] name \"net_a\" is listed twice (first at line 9)"));

    const std::string none = replaced(base_config, "[[network]]\nname = \"net_a\"\n", "");
    const ConfigResult none_result = parse(none);
    EXPECT_TRUE(has_error(none_result, 0, "no [[network]]: at least one is required"));
    EXPECT_TRUE(has_error(none_result, 11, "adapter network \"net_a\" is not a [[network]] name"));

    // [network] (one table) instead of [[network]] (an array of them).
    const std::string single =
        replaced(base_config, "[[network]]\nname = \"net_a\"\n", "[network]\nname = \"net_a\"\n");
    EXPECT_TRUE(has_error(parse(single), 8,
                          "network must be an array of tables (written [[network]]), got table"));

    EXPECT_TRUE(
        has_error(parse("network = []\n" + none), 1, "no [[network]]: at least one is required"));
    const std::string scalar = "network = 5\n" + none;
    EXPECT_TRUE(
        has_error(parse(scalar), 1,
                  "network must be an array of tables (written [[network]]), got integer 5"));
    const std::string items = "network = [ 5 ]\n" + none;
    EXPECT_TRUE(has_error(parse(items), 1, "each network must be a table, got integer 5"));
}

TEST(ConfigTest, PerNetworkTimingOverridesClusterTiming) {
    const std::string text = replaced(base_config, "[[node]]\nid = 1", R"([[network]]
name = "net_b"
interval_ms = 2.5
[[network]]
name = "net_c"
profile = "extreme"
up_count = 5
[[network]]
name = "net_d"
up_count = 4
[[node]]
id = 1)");
    const ClusterConfig cluster = valid(text).cluster;
    ASSERT_EQ(cluster.networks.size(), 4U);
    const Timing fast = *policy::timing_profile("fast");
    const Timing extreme = *policy::timing_profile("extreme");
    EXPECT_EQ(cluster.networks[0].timing, fast);
    // interval alone is fine on a network: the rest comes from [timing].
    EXPECT_EQ(cluster.networks[1].timing.interval_ns, 2500 * nanos_per_us);
    EXPECT_EQ(cluster.networks[1].timing.multiplier, fast.multiplier);
    EXPECT_EQ(cluster.networks[1].timing.up_count, fast.up_count);
    // A profile replaces the inherited timing; keys then override it.
    EXPECT_EQ(cluster.networks[2].timing.interval_ns, extreme.interval_ns);
    EXPECT_EQ(cluster.networks[2].timing.multiplier, extreme.multiplier);
    EXPECT_EQ(cluster.networks[2].timing.up_count, 5U);
    EXPECT_EQ(cluster.networks[3].timing.interval_ns, fast.interval_ns);
    EXPECT_EQ(cluster.networks[3].timing.up_count, 4U);

    // Networks keep config order, and adapters name them by that position.
    const std::string adapters = replaced(
        text,
        "adapters = [ { network = \"net_a\", ifname = \"veth2\", address = \"198.18.1.2\" } ]",
        "adapters = [ { network = \"net_d\", ifname = \"veth2\", address = \"198.18.1.2\" },\n"
        "  { network = \"net_b\", ifname = \"veth3\", address = \"198.18.2.2\" } ]");
    const ClusterConfig ordered = valid(adapters).cluster;
    EXPECT_EQ(ordered.networks[3].name, "net_d");
    ASSERT_EQ(ordered.nodes[1].adapters.size(), 2U);
    EXPECT_EQ(ordered.nodes[1].adapters[0].network, 3);
    EXPECT_EQ(ordered.nodes[1].adapters[1].network, 1);
}

TEST(ConfigTest, NetworkWithFewerThanTwoNodesWarns) {
    const std::string text = replaced(base_config, "[[node]]\nid = 1",
                                      "[[network]]\nname = \"net_b\"\n[[node]]\nid = 1");
    const ConfigResult result = parse(text);
    ASSERT_TRUE(result.settings.has_value()) << listed(result);
    ASSERT_EQ(result.warnings.size(), 2U) << listed(result);
    EXPECT_NE(result.warnings[1].find("[[network]] \"net_b\" has 0 node(s) on it"),
              std::string::npos)
        << listed(result);
}

// ---- [[node]] and adapters ---------------------------------------------------------------------

TEST(ConfigTest, DuplicateNodeIdNamesFirstLine) {
    // Padded so that the first "id = 2" sits on line 15, as in the message operators see.
    const std::string text = std::string(base_config) + R"([[node]]
id = 2
name = "gamma"
adapters = [ { network = "net_a", ifname = "veth3", address = "198.18.1.3" } ]
)";
    ASSERT_EQ(line_with(text, "id = 2"), 15U);
    EXPECT_TRUE(only_error(parse(text), 19, "[[node]] id 2 is listed twice (first at line 15)"));
}

TEST(ConfigTest, NodeRules) {
    EXPECT_TRUE(rejects("id = 2", "id = 0", "[[node]] id must be in 1..4294967295, got 0"));
    EXPECT_TRUE(rejects("id = 2", "id = 4294967296", "got 4294967296"));
    EXPECT_TRUE(rejects("id = 2", "id = \"2\"", "[[node]] id must be an integer, got string"));
    EXPECT_TRUE(rejects("name = \"beta\"", "name = \"alpha\"",
                        "[[node]] name \"alpha\" is listed twice (first at line 12)"));
    EXPECT_TRUE(rejects("name = \"beta\"", "name = \"\"", "[[node]] name must not be empty"));
    EXPECT_TRUE(rejects("name = \"beta\"", "name = \"beta\"\nrole = \"x\"",
                        "unknown key \"role\" in [[node]]"));

    const std::string big_id = replaced(replaced(base_config, "id = 2", "id = 4294967295"),
                                        "node = 1", "node = 4294967295");
    EXPECT_EQ(valid(big_id).cluster.local_node, 4294967295U);

    const std::string no_id = replaced(base_config, "id = 2\n", "");
    EXPECT_TRUE(has_error(parse(no_id), 14, "[[node]] id is required"));
    const std::string no_name = replaced(base_config, "name = \"beta\"\n", "");
    EXPECT_TRUE(only_error(parse(no_name), 14, "[[node]] name is required"));
    const std::string no_adapters = replaced(
        base_config,
        "adapters = [ { network = \"net_a\", ifname = \"veth2\", address = \"198.18.1.2\" } ]\n",
        "");
    EXPECT_TRUE(only_error(parse(no_adapters), 14, "[[node]] adapters is required"));
}

TEST(ConfigTest, AtLeastTwoNodes) {
    const std::string one = replaced(
        base_config,
        "[[node]]\nid = 2\nname = \"beta\"\n"
        "adapters = [ { network = \"net_a\", ifname = \"veth2\", address = \"198.18.1.2\" } ]\n",
        "");
    EXPECT_TRUE(
        only_error(parse(one), 10, "a cluster needs at least two [[node]] entries, found 1"));

    const std::string empty =
        "node = []\n" + std::string(base_config.substr(0, base_config.find("[[node]]")));
    EXPECT_TRUE(
        has_error(parse(empty), 1, "a cluster needs at least two [[node]] entries, found 0"));

    const std::string none = std::string(base_config.substr(0, base_config.find("[[node]]")));
    const ConfigResult result = parse(none);
    EXPECT_TRUE(has_error(result, 0, "found 0"));
    EXPECT_TRUE(has_error(result, 7, "[local] node 1 is not the id of a [[node]]"));
}

TEST(ConfigTest, AdapterRules) {
    const std::string_view adapter = R"(ifname = "veth2", address = "198.18.1.2" })";
    EXPECT_TRUE(rejects("network = \"net_a\", ifname = \"veth2\"",
                        "network = \"net_x\", ifname = \"veth2\"",
                        "adapter network \"net_x\" is not a [[network]] name"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2", address = "198.18.1.999" })",
                        "address \"198.18.1.999\" is not an IPv4 address"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2", address = "fe80::1" })",
                        "address \"fe80::1\" is not an IPv4 address"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2", address = "224.0.0.9" })",
                        "adapter address \"224.0.0.9\" is multicast"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2", address = "0.0.0.0" })",
                        "adapter address \"0.0.0.0\" is unspecified"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2", address = "198.18.1.1" })",
                        "adapter address \"198.18.1.1\" is listed twice (first at line 13)"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2", address = 3 })",
                        "adapter address must be a string, got integer 3"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "", address = "198.18.1.2" })",
                        "adapter ifname must not be empty"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "abcdefghijklmnop", address = "198.18.1.2" })",
                        "adapter ifname \"abcdefghijklmnop\" is longer than 15 characters"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "eth0/1", address = "198.18.1.2" })",
                        "adapter ifname \"eth0/1\" is not an interface name"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "eth 0", address = "198.18.1.2" })",
                        "is not an interface name"));
    EXPECT_TRUE(rejects(adapter,
                        R"(ifname = "veth2", address = "198.18.1.2", transport = "dpdk" })",
                        HB_HAVE_DPDK ? "adapter transport \"dpdk\" needs port"
                                     : "transport \"dpdk\" is not available in this build"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2", address = "198.18.1.2", transport = "tcp" })",
                        "adapter transport must be \"udp\" or \"dpdk\", got \"tcp\""));
    // A misspelt key is reported, and so is the required key it failed to set.
    const ConfigResult misspelt =
        parse(replaced(base_config, adapter, R"(ifname = "veth2", adress = "198.18.1.2" })"));
    EXPECT_TRUE(has_error(
        misspelt, 17, "unknown key \"adress\" in [[node]] adapters (did you mean \"address\"?)"));
    EXPECT_TRUE(has_error(misspelt, 17, "adapter address is required"));
    EXPECT_TRUE(rejects(adapter, R"(address = "198.18.1.2" })", "adapter ifname is required"));
    EXPECT_TRUE(rejects(adapter, R"(ifname = "veth2" })", "adapter address is required"));
    EXPECT_TRUE(rejects(R"({ network = "net_a", ifname = "veth2")", R"({ ifname = "veth2")",
                        "adapter network is required"));
    EXPECT_TRUE(rejects("adapters = [ { network = \"net_a\", ifname = \"veth2\"",
                        "adapters = [ 5, { network = \"net_a\", ifname = \"veth2\"",
                        "each of [[node]] adapters must be an inline table, got integer 5"));
    EXPECT_TRUE(rejects(
        "adapters = [ { network = \"net_a\", ifname = \"veth2\", address = \"198.18.1.2\" } ]",
        "adapters = \"veth2\"", "[[node]] adapters must be an array of inline tables, got string"));

    const std::string explicit_udp = replaced(
        base_config, adapter, R"(ifname = "veth2", address = "198.18.1.2", transport = "udp" })");
    EXPECT_EQ(valid(explicit_udp).cluster.nodes[1].adapters[0].transport, TransportKind::udp);
    const std::string longest =
        replaced(base_config, adapter, R"(ifname = "abcdefghijklmno", address = "198.18.1.2" })");
    EXPECT_EQ(valid(longest).cluster.nodes[1].adapters[0].ifname, "abcdefghijklmno");
}

std::string adapters_line(int count, int first_octet) {
    std::string line = "adapters = [";
    for (int i = 0; i < count; ++i) {
        line += std::string(i == 0 ? " " : ", ") + "{ network = \"net_a\", ifname = \"e" +
                std::to_string(i) + "\", address = \"198.18." + std::to_string(first_octet) + "." +
                std::to_string(i + 1) + "\" }";
    }
    return line + " ]";
}

TEST(ConfigTest, AdapterCountAndSharedNetworks) {
    const std::string_view second =
        "adapters = [ { network = \"net_a\", ifname = \"veth2\", address = \"198.18.1.2\" } ]";
    // Several adapters of one node on one network are allowed, up to max_adapters_per_node.
    const std::string full = replaced(base_config, second, adapters_line(32, 9));
    EXPECT_EQ(valid(full).cluster.nodes[1].adapters.size(), max_adapters_per_node);

    const std::string too_many = replaced(base_config, second, adapters_line(33, 9));
    EXPECT_TRUE(
        only_error(parse(too_many), 17, "[[node]] adapters must list 1..32 adapters, got 33"));
    const std::string empty = replaced(base_config, second, "adapters = []");
    EXPECT_TRUE(only_error(parse(empty), 17, "got 0"));
}

TEST(ConfigTest, NodesKeepConfigOrder) {
    std::string text(base_config);
    for (int id : {9, 4, 6}) {
        text += "[[node]]\nid = " + std::to_string(id) + "\nname = \"n" + std::to_string(id) +
                "\"\n" + adapters_line(1, id) + "\n";
    }
    const ClusterConfig cluster = valid(text).cluster;
    std::vector<NodeId> ids;
    for (const NodeConfig& node : cluster.nodes) {
        ids.push_back(node.id);
    }
    EXPECT_EQ(ids, (std::vector<NodeId>{1, 2, 9, 4, 6}));
    ASSERT_NE(cluster.find_node(6), nullptr);
    EXPECT_EQ(cluster.find_node(6)->name, "n6");
}

// ---- [local], [process], unknown sections ------------------------------------------------------

TEST(ConfigTest, LocalRules) {
    EXPECT_TRUE(rejects("node = 1", "node = 3", "[local] node 3 is not the id of a [[node]]"));
    EXPECT_TRUE(rejects("node = 1", "node = -1", "[local] node -1 is not the id of a [[node]]"));
    EXPECT_TRUE(rejects("node = 1", "node = \"alpha\"",
                        "[local] node must be an integer, got string \"alpha\""));
    EXPECT_TRUE(rejects("node = 1", "node = 1\nnodes = 2",
                        "unknown key \"nodes\" in [local] (did you mean \"node\"?)"));
    EXPECT_EQ(valid(replaced(base_config, "node = 1", "node = 2")).cluster.local_node, 2U);

    const std::string no_node = replaced(base_config, "[local]\nnode = 1\n", "[local]\n");
    EXPECT_TRUE(only_error(parse(no_node), 6, "[local] node is required"));
    const std::string no_local = replaced(base_config, "[local]\nnode = 1\n", "");
    EXPECT_TRUE(only_error(parse(no_local), 0, "[local] is missing"));
}

TEST(ConfigTest, ProcessSettings) {
    const std::string text = std::string(base_config) +
                             "[process]\nrealtime_priority = 0\nlock_memory = false\n"
                             "threads = \"threaded\"\n";
    const ProcessSettings process = valid(text).process;
    EXPECT_EQ(process.realtime_priority, 0);
    EXPECT_FALSE(process.lock_memory);
    EXPECT_EQ(process.threads, ProcessSettings::Threads::threaded);
    EXPECT_EQ(valid(std::string(base_config) + "[process]\nrealtime_priority = 99\n")
                  .process.realtime_priority,
              99);

    const auto process_error = [](std::string_view body, std::string_view message) {
        const std::string bad = std::string(base_config) + "[process]\n" + std::string(body) + "\n";
        return only_error(parse(bad), 19, message);
    };
    EXPECT_TRUE(process_error("realtime_priority = 100",
                              "[process] realtime_priority must be in 0..99, got 100"));
    EXPECT_TRUE(process_error("realtime_priority = -1", "got -1"));
    EXPECT_TRUE(process_error("lock_memory = \"yes\"",
                              "[process] lock_memory must be a boolean, got string \"yes\""));
    EXPECT_TRUE(
        process_error("threads = \"many\"",
                      "[process] threads must be \"single\" or \"threaded\", got \"many\""));
    EXPECT_TRUE(process_error("thread = \"single\"",
                              "unknown key \"thread\" in [process] (did you mean \"threads\"?)"));
}

TEST(ConfigTest, ControlSocketDefaultsPerClusterAndNode) {
    const NodeSettings settings = valid(base_config);
    EXPECT_TRUE(settings.control.socket.empty());
    EXPECT_EQ(control_socket(settings), fs::path("/run/hb/7-1.sock"));
    EXPECT_EQ(default_control_socket(123456789, 42), fs::path("/run/hb/123456789-42.sock"));
    // An empty [control] keeps the default.
    EXPECT_EQ(control_socket(valid(std::string(base_config) + "[control]\n")),
              fs::path("/run/hb/7-1.sock"));
}

TEST(ConfigTest, ControlSocketPathAndErrors) {
    EXPECT_EQ(
        valid(std::string(base_config) + "[control]\nsocket = \"/tmp/hb/a.sock\"\n").control.socket,
        fs::path("/tmp/hb/a.sock"));
    // Relative to the configuration's directory, as every path of the file.
    EXPECT_EQ(
        parse_config(std::string(base_config) + "[control]\nsocket = \"run/a.sock\"\n", "/etc/hb")
            .settings->control.socket,
        fs::path("/etc/hb/run/a.sock"));
    const auto control_error = [](std::string_view body, std::string_view message) {
        const std::string bad = std::string(base_config) + "[control]\n" + std::string(body) + "\n";
        return only_error(parse(bad), 19, message);
    };
    EXPECT_TRUE(control_error("socket = \"\"", "[control] socket must not be empty"));
    EXPECT_TRUE(control_error("socket = 5", "[control] socket must be a string, got integer 5"));
    EXPECT_TRUE(control_error("socket = \"/" + std::string(120, 'x') + "\"",
                              "a Unix socket path holds at most 107"));
    EXPECT_TRUE(control_error("socket = \"/run/hb/\"", "names a directory, not a socket"));
    EXPECT_TRUE(control_error("sockt = \"/x\"",
                              "unknown key \"sockt\" in [control] (did you mean \"socket\"?)"));
}

TEST(ConfigTest, MetricsListenAndErrors) {
    EXPECT_FALSE(valid(base_config).metrics.enabled);
    const MetricsSettings metrics =
        valid(std::string(base_config) + "[metrics]\nlisten = \"127.0.0.1:9464\"\n").metrics;
    EXPECT_TRUE(metrics.enabled);
    EXPECT_EQ(metrics.address.to_string(), "127.0.0.1");
    EXPECT_EQ(metrics.port, 9464);
    const auto metrics_error = [](std::string_view body, std::string_view message) {
        const std::string bad = std::string(base_config) + "[metrics]\n" + std::string(body) + "\n";
        return only_error(parse(bad), 19, message);
    };
    EXPECT_TRUE(metrics_error("listen = \"9464\"", "must be ADDRESS:PORT"));
    EXPECT_TRUE(
        metrics_error("listen = \"localhost:9464\"", "\"localhost\" is not an IPv4 address"));
    EXPECT_TRUE(metrics_error("listen = \"127.0.0.1:0\"", "the port must be 1..65535, got \"0\""));
    EXPECT_TRUE(metrics_error("listen = \"127.0.0.1:70000\"", "got \"70000\""));
    EXPECT_TRUE(metrics_error("listen = \"127.0.0.1:x1\"", "got \"x1\""));
    EXPECT_TRUE(metrics_error("listen = 9464", "[metrics] listen must be a string"));
    EXPECT_TRUE(has_error(parse(std::string(base_config) + "[metrics]\nport = 9464\n"), 19,
                          "unknown key \"port\" in [metrics]"));
    EXPECT_TRUE(only_error(parse(std::string(base_config) + "[metrics]\n"), 18,
                           "[metrics] listen is required"));
}

TEST(ConfigTest, UnknownSectionsAndTopLevelKeys) {
    EXPECT_TRUE(only_error(parse(std::string(base_config) + "[controls]\nsocket = \"/run/x\"\n"),
                           18, "unknown section [controls]"));
    EXPECT_TRUE(only_error(parse(std::string(base_config) + "[[nodes]]\nid = 3\n"), 18,
                           "unknown section [[nodes]]"));
    EXPECT_TRUE(only_error(parse("verbose = true\n" + std::string(base_config)), 1,
                           "unknown top-level key \"verbose\""));
    EXPECT_TRUE(only_error(parse(std::string(base_config) + "[\"odd name\"]\n"), 18,
                           "unknown section [\"odd name\"]"));
}

// ---- [dpdk] and DPDK adapters -------------------------------------------------------------------

// base_config with alpha's (the local node's) adapter on a DPDK port, and `dpdk` appended.
std::string with_dpdk_adapter(std::string_view dpdk,
                              std::string_view port = R"("net_af_packet0,iface=veth1")") {
    return replaced(base_config, R"(ifname = "veth1", address = "198.18.1.1" })",
                    R"(ifname = "veth1", address = "198.18.1.1", transport = "dpdk", port = )" +
                        std::string(port) + " }") +
           std::string(dpdk);
}

constexpr std::string_view eal_section =
    "[dpdk]\neal_args = [\"--no-huge\", \"-m\", \"64\", \"--file-prefix=hb1\"]\n";

TEST(ConfigTest, DpdkAdapterAndEalArguments) {
    const std::string text = with_dpdk_adapter(eal_section);
    if (!HB_HAVE_DPDK) {
        const ConfigResult result = parse(text);
        EXPECT_TRUE(has_error(result, line_with(text, "transport = \"dpdk\""),
                              "transport \"dpdk\" is not available in this build"));
        EXPECT_TRUE(has_error(result, line_with(text, "[dpdk]"),
                              "[dpdk] is not supported by this build: hb was built without "
                              "libdpdk"));
        return;
    }
    const NodeSettings settings = valid(text);
    EXPECT_TRUE(settings.dpdk.configured);
    EXPECT_EQ(settings.dpdk.eal_args,
              (std::vector<std::string>{"--no-huge", "-m", "64", "--file-prefix=hb1"}));
    const AdapterConfig& adapter = settings.cluster.nodes[0].adapters[0];
    EXPECT_EQ(adapter.transport, TransportKind::dpdk);
    EXPECT_EQ(adapter.port, "net_af_packet0,iface=veth1");
    EXPECT_TRUE(settings.cluster.nodes[1].adapters[0].port.empty());
    // Its health: the port's link, never the inbound-traffic check (kernel counters).
    const Topology topology(settings.cluster);
    const std::vector<AdapterHealth> plan = plan_adapter_health(settings, topology);
    ASSERT_EQ(plan.size(), 1U);
    EXPECT_EQ(plan[0].port, "net_af_packet0,iface=veth1");
    EXPECT_TRUE(plan[0].link_state);
    EXPECT_EQ(plan[0].inbound, AdapterHealth::Inbound::never);
    EXPECT_EQ(describe(plan[0]),
              "veth1 (DPDK port net_af_packet0,iface=veth1) on net_a: port link state");
    // With link_state = "ignore" nothing local judges it; said, not asserted away.
    const NodeSettings ignored =
        valid(replaced(text, "name = \"net_a\"\n", "name = \"net_a\"\nlink_state = \"ignore\"\n"));
    const Topology ignored_topology(ignored.cluster);
    const std::vector<AdapterHealth> ignored_plan = plan_adapter_health(ignored, ignored_topology);
    EXPECT_FALSE(ignored_plan[0].link_state);
    EXPECT_EQ(ignored_plan[0].inbound, AdapterHealth::Inbound::never);
    EXPECT_NE(describe(ignored_plan[0]).find("no local health source"), std::string::npos);
    // An empty eal_args is DPDK's defaults (hugepages, every PCI device): allowed.
    EXPECT_TRUE(valid(with_dpdk_adapter("[dpdk]\neal_args = []\n")).dpdk.eal_args.empty());
    // No [dpdk] and no DPDK adapter: nothing configured.
    EXPECT_FALSE(valid(base_config).dpdk.configured);
    // The mode: inline by default, lcore with or without a CPU for the polling threads.
    EXPECT_EQ(settings.dpdk.mode, DpdkSettings::Mode::inline_polling);
    EXPECT_EQ(settings.dpdk.lcore_cpu, -1);
    EXPECT_EQ(valid(with_dpdk_adapter(std::string(eal_section) + "mode = \"inline\"\n")).dpdk.mode,
              DpdkSettings::Mode::inline_polling);
    const NodeSettings lcore =
        valid(with_dpdk_adapter(std::string(eal_section) + "mode = \"lcore\"\n"));
    EXPECT_EQ(lcore.dpdk.mode, DpdkSettings::Mode::lcore);
    EXPECT_EQ(lcore.dpdk.lcore_cpu, -1);
    const NodeSettings pinned =
        valid(with_dpdk_adapter(std::string(eal_section) + "mode = \"lcore\"\nlcore_cpu = 1\n"));
    EXPECT_EQ(pinned.dpdk.mode, DpdkSettings::Mode::lcore);
    EXPECT_EQ(pinned.dpdk.lcore_cpu, 1);
    EXPECT_EQ(pinned.dpdk.lcore_priority, 0);
    // A real-time polling thread, below the engine's default priority 10.
    EXPECT_EQ(valid(with_dpdk_adapter(std::string(eal_section) +
                                      "mode = \"lcore\"\nlcore_priority = 5\n"))
                  .dpdk.lcore_priority,
              5);
}

TEST(ConfigTest, DpdkModeErrorsHaveTheirLines) {
    if (!HB_HAVE_DPDK) {
        GTEST_SKIP() << "built without libdpdk: DPDK settings are refused (tested above)";
    }
    const auto only = [](const std::string& text, std::string_view at, std::string_view message) {
        return only_error(parse(text), line_with(text, at), message);
    };
    struct Case {
        std::string_view extra;  // after eal_args in [dpdk]
        std::string_view at;
        std::string_view message;
    };
    const std::array<Case, 9> cases{{
        {"mode = \"poll\"\n",
         "mode = ", "[dpdk] mode must be \"inline\" or \"lcore\", got \"poll\""},
        {"lcore_cpu = 1\n", "lcore_cpu", "[dpdk] lcore_cpu needs mode = \"lcore\""},
        {"mode = \"inline\"\nlcore_cpu = 1\n", "lcore_cpu",
         "[dpdk] lcore_cpu needs mode = \"lcore\""},
        {"mode = \"lcore\"\nlcore_cpu = -1\n", "lcore_cpu",
         "[dpdk] lcore_cpu must be in 0..1023, got -1"},
        {"mode = \"lcore\"\nlcore_cpu = 1024\n", "lcore_cpu",
         "[dpdk] lcore_cpu must be in 0..1023, got 1024"},
        {"mode = \"lcore\"\nlcore_cpu = \"1\"\n", "lcore_cpu",
         "[dpdk] lcore_cpu must be an integer, got string \"1\""},
        {"lcore_priority = 5\n", "lcore_priority", "[dpdk] lcore_priority needs mode = \"lcore\""},
        {"mode = \"lcore\"\nlcore_priority = 10\n", "lcore_priority",
         "[dpdk] lcore_priority 10 must be below [process] realtime_priority (10): the engine "
         "thread must preempt a polling thread on its CPU"},
        {"mode = \"lcore\"\nlcore_priority = 99\n", "lcore_priority",
         "[dpdk] lcore_priority must be in 0..98, got 99"},
    }};
    const std::string eal(eal_section);
    for (const Case& c : cases) {
        const std::string text = with_dpdk_adapter(eal + std::string(c.extra));
        EXPECT_TRUE(only(text, c.at, c.message)) << c.extra;
    }
    const std::string text = with_dpdk_adapter(eal + "modes = \"lcore\"\n");
    EXPECT_TRUE(has_error(parse(text), line_with(text, "modes ="),
                          "unknown key \"modes\" in [dpdk] (did you mean \"mode\"?)"));
}

TEST(ConfigTest, DpdkErrorsHaveTheirLines) {
    if (!HB_HAVE_DPDK) {
        GTEST_SKIP() << "built without libdpdk: DPDK settings are refused (tested above)";
    }
    const auto only = [](const std::string& text, std::string_view at, std::string_view message) {
        return only_error(parse(text), line_with(text, at), message);
    };
    std::string text = with_dpdk_adapter("");
    EXPECT_TRUE(only(text, "transport = \"dpdk\"",
                     "adapter transport \"dpdk\" needs a [dpdk] section with eal_args"));
    text = with_dpdk_adapter("[dpdk]\n");
    EXPECT_TRUE(only(text, "[dpdk]", "[dpdk] eal_args is required"));
    text = with_dpdk_adapter("[dpdk]\neal_args = \"--no-huge\"\n");
    EXPECT_TRUE(only(text, "eal_args",
                     "[dpdk] eal_args must be an array of strings, got string \"--no-huge\""));
    text = with_dpdk_adapter("[dpdk]\neal_args = [\n  \"--no-huge\",\n  64,\n]\n");
    EXPECT_TRUE(only(text, "64", "each of [dpdk] eal_args must be a string, got integer 64"));
    text = with_dpdk_adapter("[dpdk]\neal_args = [\"--no-huge\", \"\"]\n");
    EXPECT_TRUE(only(text, "eal_args", "each of [dpdk] eal_args must not be empty"));
    text = with_dpdk_adapter("[dpdk]\neal_args = [\"-m\\t64\"]\n");
    EXPECT_TRUE(only(text, "eal_args", "holds control characters"));
    text = with_dpdk_adapter("[dpdk]\neal_arg = []\n");
    const ConfigResult misspelt = parse(text);
    EXPECT_TRUE(has_error(misspelt, line_with(text, "eal_arg ="),
                          "unknown key \"eal_arg\" in [dpdk] (did you mean \"eal_args\"?)"));
    EXPECT_TRUE(has_error(misspelt, line_with(text, "[dpdk]"), "[dpdk] eal_args is required"));
    text = with_dpdk_adapter("[dpdk]\neal_args = []\n[dpdk.extra]\n");
    EXPECT_FALSE(parse(text).settings.has_value()) << "a table inside [dpdk] is an unknown key";

    // The port.
    text = with_dpdk_adapter(eal_section, R"("")");
    EXPECT_TRUE(only(text, "port = \"\"", "adapter port must not be empty"));
    text = with_dpdk_adapter(eal_section, "5");
    EXPECT_TRUE(only(text, "port = 5", "adapter port must be a string, got integer 5"));
    text = with_dpdk_adapter(eal_section, R"("net_af_packet0, iface=veth1")");
    EXPECT_TRUE(only(text, "port = ", "is not a DPDK port name or devargs"));
    text = with_dpdk_adapter(eal_section, R"(",iface=veth1")");
    EXPECT_TRUE(only(text, "port = ", "is not a DPDK port name or devargs"));
    text = with_dpdk_adapter(eal_section, '"' + std::string(300, 'x') + '"');
    EXPECT_TRUE(only(text, "port = ", "is longer than 256 characters"));
    text = replaced(base_config, R"(ifname = "veth1", address = "198.18.1.1" })",
                    R"(ifname = "veth1", address = "198.18.1.1", transport = "dpdk" })") +
           std::string(eal_section);
    EXPECT_TRUE(only(text, "transport = \"dpdk\"", "adapter transport \"dpdk\" needs port"));
    text = replaced(base_config, R"(ifname = "veth1", address = "198.18.1.1" })",
                    R"(ifname = "veth1", address = "198.18.1.1", port = "0000:03:00.0" })");
    EXPECT_TRUE(only(text, "port = ", "adapter port is only valid with transport = \"dpdk\""));
    text = replaced(base_config, R"(ifname = "veth1", address = "198.18.1.1" })",
                    R"(ifname = "veth1", address = "198.18.1.1", transport = "udp", port = "x" })");
    EXPECT_TRUE(only(text, "port = ", "adapter port is only valid with transport = \"dpdk\""));

    // The inline runner only.
    text = with_dpdk_adapter(eal_section) + "[process]\nthreads = \"threaded\"\n";
    EXPECT_TRUE(only(text, "transport = \"dpdk\"", "needs [process] threads = \"single\""));
    // Every problem at once: a bad port does not hide the runner's.
    text = with_dpdk_adapter(eal_section, R"("a b")") + "[process]\nthreads = \"threaded\"\n";
    const ConfigResult both = parse(text);
    EXPECT_TRUE(has_error(both, line_with(text, "port = "), "is not a DPDK port name"));
    EXPECT_TRUE(has_error(both, line_with(text, "port = "), "needs [process] threads"));
    EXPECT_EQ(both.errors.size(), 2U) << listed(both);
}

TEST(ConfigTest, DpdkPortsAreOnePerAdapterAndOnlyTheLocalNodeNeedsDpdkSettings) {
    if (!HB_HAVE_DPDK) {
        GTEST_SKIP() << "built without libdpdk: DPDK settings are refused (tested above)";
    }
    // Two adapters of the local node on one port.
    std::string text = replaced(
        replaced(base_config, "[[node]]\nid = 1",
                 "[[network]]\nname = \"net_b\"\n[[node]]\nid = 1"),
        R"(adapters = [ { network = "net_a", ifname = "veth1", address = "198.18.1.1" } ])",
        "adapters = [\n"
        "  { network = \"net_a\", ifname = \"veth1\", address = \"198.18.1.1\", "
        "transport = \"dpdk\", port = \"0000:03:00.0\" },\n"
        "  { network = \"net_b\", ifname = \"veth3\", address = \"198.18.2.1\", "
        "transport = \"dpdk\", port = \"0000:03:00.0\" },\n]");
    text += eal_section;
    EXPECT_TRUE(only_error(parse(text), line_with(text, "198.18.2.1"),
                           "adapter port \"0000:03:00.0\" is used by another adapter of this node "
                           "(line " +
                               std::to_string(line_with(text, "198.18.1.1")) + ")"));
    // A peer's DPDK adapter needs its port (its own configuration says it), not our [dpdk].
    text = replaced(base_config, R"(ifname = "veth2", address = "198.18.1.2" })",
                    R"(ifname = "veth2", address = "198.18.1.2", transport = "dpdk", )"
                    R"(port = "net_af_packet0,iface=veth2" })");
    const ConfigResult peer = parse(text);
    EXPECT_TRUE(peer.errors.empty()) << listed(peer);
    // [dpdk] without a DPDK adapter here: valid, with a warning.
    const ConfigResult unused = parse(std::string(base_config) + std::string(eal_section));
    ASSERT_TRUE(unused.settings.has_value()) << listed(unused);
    EXPECT_TRUE(std::any_of(unused.warnings.begin(), unused.warnings.end(),
                            [](const std::string& warning) {
                                return warning.find("[dpdk] at line 18 is not used") !=
                                       std::string::npos;
                            }))
        << listed(unused);
}

// ---- several errors, syntax errors, garbage ----------------------------------------------------

TEST(ConfigTest, ReportsEveryErrorSortedByLine) {
    const std::string text = R"([cluster]
id = 0
[timing]
profile = "fast"
intervall_ms = 5
[local]
node = 5
[[network]]
name = "net_a"
port = 70000
[[node]]
id = 1
name = "alpha"
adapters = [ { network = "net_x", ifname = "veth1", address = "198.18.1.999" } ]
[[node]]
id = 1
name = "beta"
adapters = [ { network = "net_a", ifname = "veth2", address = "198.18.1.2", transport = "dpdk" } ]
[disk]
path = "/dev/loop0"
)";
    const ConfigResult result = parse(text);
    EXPECT_FALSE(result.settings.has_value());
    EXPECT_TRUE(has_error(result, 2, "[cluster] id must be in 1..9223372036854775807, got 0"));
    EXPECT_TRUE(has_error(result, 5, "unknown key \"intervall_ms\" in [timing]"));
    EXPECT_TRUE(has_error(result, 7, "[local] node 5 is not the id of a [[node]]"));
    EXPECT_TRUE(has_error(result, 10, "[[network]] port must be in 1..65535, got 70000"));
    EXPECT_TRUE(has_error(result, 14, "adapter network \"net_x\" is not a [[network]] name"));
    EXPECT_TRUE(has_error(result, 14, "address \"198.18.1.999\" is not an IPv4 address"));
    EXPECT_TRUE(has_error(result, 16, "[[node]] id 1 is listed twice (first at line 12)"));
    EXPECT_TRUE(has_error(result, 18,
                          HB_HAVE_DPDK ? "adapter transport \"dpdk\" needs port"
                                       : "transport \"dpdk\" is not available in this build"));
    EXPECT_TRUE(has_error(result, 1, "[cluster] key_file is required"));
    EXPECT_EQ(result.errors.size(), HB_HAVE_LIBURING ? 9U : 10U) << listed(result);
    for (std::size_t i = 1; i < result.errors.size(); ++i) {
        EXPECT_LE(result.errors[i - 1].line, result.errors[i].line) << listed(result);
    }
}

// ---- [events] and [deadman] ------------------------------------------------------------------

TEST(ConfigTest, EventsScriptDirIsResolvedAndDefaultsApply) {
    const TempDir dir;
    std::filesystem::create_directories(dir.path() / "etc" / "scripts");
    const std::string text =
        std::string(base_config) + "[events]\nscript_dir = \"scripts\"\nwarn_ms = 700\n";
    const ConfigResult result = load_config(dir.write("etc/hb.toml", text, owner_only));
    ASSERT_TRUE(result.settings.has_value()) << listed(result);
    const EventsSettings& events = result.settings->events;
    EXPECT_EQ(events.script_dir, dir.path() / "etc" / "scripts");
    EXPECT_EQ(events.timeout_ns, 30 * nanos_per_s);
    EXPECT_EQ(events.warn_ns, 700 * nanos_per_ms);
    EXPECT_EQ(events.max_running, 8U);
    // Without [events]: no scripts.
    EXPECT_TRUE(valid(base_config).events.script_dir.empty());
}

TEST(ConfigTest, EventsProblemsAreErrorsOnTheirLines) {
    const TempDir dir;
    dir.write("etc/not_a_dir", "", owner_only);
    const std::string head = std::string(base_config) + "[events]\n";
    const auto line = static_cast<std::uint32_t>(std::count(head.begin(), head.end(), '\n')) + 1;
    const auto load = [&](std::string_view body) {
        return load_config(dir.write("etc/hb.toml", head + std::string(body), owner_only));
    };
    EXPECT_TRUE(
        only_error(load("script_dir = \"missing\"\n"), line, "[events] script_dir \"missing\""));
    EXPECT_TRUE(only_error(load("script_dir = \"missing\"\n"), line,
                           "cannot be used: No such file or directory"));
    EXPECT_TRUE(only_error(load("script_dir = \"not_a_dir\"\n"), line, "is not a directory"));
    EXPECT_TRUE(only_error(load("timeout_ms = 5\n"), line - 1, "[events] script_dir is required"));
    std::filesystem::create_directories(dir.path() / "etc" / "s");
    EXPECT_TRUE(only_error(load("script_dir = \"s\"\ntimeout_ms = 0\n"), line + 1,
                           "[events] timeout_ms must be in 1..86400000, got 0"));
    EXPECT_TRUE(only_error(load("script_dir = \"s\"\nmax_running = 65\n"), line + 1,
                           "[events] max_running must be in 1..64"));
    EXPECT_TRUE(only_error(load("script_dir = \"s\"\nscript = 1\n"), line + 1,
                           "unknown key \"script\" in [events]"));
    const ConfigResult late = load("script_dir = \"s\"\ntimeout_ms = 100\nwarn_ms = 200\n");
    ASSERT_TRUE(late.settings.has_value()) << listed(late);
    EXPECT_TRUE(std::any_of(late.warnings.begin(), late.warnings.end(), [](const std::string& w) {
        return w.starts_with("[events] warn_ms is above timeout_ms");
    })) << listed(late);
}

TEST(ConfigTest, EventsScriptDirMustBeReadable) {
    if (geteuid() == 0) {
        GTEST_SKIP() << "root reads any directory: the permission check cannot fail";
    }
    const TempDir dir;
    std::filesystem::create_directories(dir.path() / "etc" / "locked");
    std::filesystem::permissions(dir.path() / "etc" / "locked", fs::perms::none);
    const std::string text = std::string(base_config) + "[events]\nscript_dir = \"locked\"\n";
    const ConfigResult result = load_config(dir.write("etc/hb.toml", text, owner_only));
    EXPECT_TRUE(has_error(result, line_with(text, "script_dir"), "cannot be read"));
}

TEST(ConfigTest, DeadmanSettingsAndProblems) {
    const NodeSettings on = valid(std::string(base_config) +
                                  "[deadman]\ntimeout_ms = 500\naction = \"halt\"\n"
                                  "test_hook = true\n");
    EXPECT_EQ(on.deadman.timeout_ns, 500 * nanos_per_ms);
    EXPECT_EQ(on.deadman.action, DeadmanSettings::Action::halt);
    EXPECT_TRUE(on.deadman.test_hook);
    EXPECT_EQ(valid(base_config).deadman.timeout_ns, 0);
    const std::string head = std::string(base_config) + "[deadman]\n";
    const auto line = static_cast<std::uint32_t>(std::count(head.begin(), head.end(), '\n')) + 1;
    EXPECT_TRUE(only_error(parse(head + "action = \"event\"\n"), line - 1,
                           "[deadman] timeout_ms is required"));
    EXPECT_TRUE(only_error(parse(head + "timeout_ms = 50\n"), line,
                           "[deadman] timeout_ms must be in 200..3600000, got 50"));
    EXPECT_TRUE(only_error(parse(head + "timeout_ms = 500\naction = \"reboot\"\n"), line + 1,
                           "[deadman] action must be \"event\" or \"halt\", got \"reboot\""));
    EXPECT_TRUE(only_error(parse(head + "timeout_ms = 500\ntest_hook = 1\n"), line + 1,
                           "[deadman] test_hook must be a boolean"));
}

// ---- reload plans ------------------------------------------------------------------------------

TEST(ReloadTest, TimingAndAdaptiveCeilingChangesAreApplied) {
    const NodeSettings running = valid(base_config);
    const NodeSettings next = valid(replaced(base_config, "profile = \"fast\"\n",
                                             "profile = \"safe\"\nadaptive_ceiling = 8\n"));
    const ReloadPlan plan = plan_reload(running, next);
    ASSERT_EQ(plan.timings.size(), 1U);
    EXPECT_EQ(plan.timings[0].first, 0);
    EXPECT_EQ(plan.timings[0].second, *policy::timing_profile("safe"));
    EXPECT_EQ(plan.adaptive_ceiling, 8U);
    EXPECT_TRUE(plan.needs_restart.empty());
    ASSERT_EQ(plan.applied.size(), 2U);
    EXPECT_EQ(plan.applied[0], "network net_a: timing 10 ms x 3 -> 100 ms x 5");
    EXPECT_EQ(plan.applied[1], "[timing] adaptive_ceiling 0 -> 8");
    EXPECT_TRUE(plan_reload(running, running).empty());
}

TEST(ReloadTest, OtherChangesNeedARestartAndAreNotApplied) {
    const NodeSettings running = valid(base_config);
    const auto plan_for = [&](std::string_view from, std::string_view to) {
        return plan_reload(running, valid(replaced(base_config, from, to)));
    };
    const auto only_restart = [](const ReloadPlan& plan, std::string_view what) {
        return plan.empty() && plan.needs_restart.size() == 1 &&
               plan.needs_restart[0] == std::string(what) + " changed: needs a restart";
    };
    EXPECT_TRUE(only_restart(plan_for("id = 7", "id = 8"), "[cluster] id"));
    EXPECT_TRUE(only_restart(plan_for("198.18.1.2", "198.18.1.3"), "[[node]] list or adapters"));
    EXPECT_TRUE(only_restart(plan_for("name = \"net_a\"\n", "name = \"net_a\"\nport = 4099\n"),
                             "[[network]] list or settings other than timing"));
    EXPECT_TRUE(only_restart(
        plan_for("node = 1\n", "node = 1\n[process]\nthreads = \"threaded\"\n"), "[process]"));
    // A topology change and a timing change in one file: the timing is applied all the same.
    const ReloadPlan both = plan_for("profile = \"fast\"\n[local]\nnode = 1\n",
                                     "profile = \"safe\"\n[local]\nnode = 2\n");
    EXPECT_EQ(both.timings.size(), 1U);
    ASSERT_EQ(both.needs_restart.size(), 1U);
    EXPECT_EQ(both.needs_restart[0], "[local] node changed: needs a restart");
}

TEST(ConfigTest, TomlSyntaxErrorHasItsLine) {
    const std::string text = replaced(base_config, "node = 1", "node = = 1");
    EXPECT_TRUE(only_error(parse(text), 7, "TOML syntax"));
    const std::string unterminated = replaced(base_config, "name = \"beta\"", "name = \"beta");
    EXPECT_TRUE(only_error(parse(unterminated), 16, "TOML syntax"));
}

// Anything at all yields a result with errors xor settings; nothing crashes or hangs.
void expect_rejected(std::string_view text, std::string_view what) {
    const ConfigResult result = parse(text);
    EXPECT_FALSE(result.settings.has_value()) << what;
    EXPECT_FALSE(result.errors.empty()) << what;
    for (const ConfigError& error : result.errors) {
        EXPECT_FALSE(error.message.empty()) << what;
        // Messages quote values cut short, so garbage never floods the terminal.
        EXPECT_LT(error.message.size(), 1000U) << what << ": " << error.message;
    }
}

TEST(ConfigTest, BinaryGarbageGivesErrors) {
    std::mt19937_64 random(seed);
    for (int round = 0; round < 200; ++round) {
        std::string bytes(static_cast<std::size_t>(random() % 4096), '\0');
        for (char& byte : bytes) {
            byte = static_cast<char>(random());
        }
        expect_rejected(bytes, "random bytes, round " + std::to_string(round));
    }
    // Random bytes rarely get past the first non-ASCII byte; TOML's own punctuation, digits and
    // letters reach deep into the TOML parser.
    constexpr std::string_view alphabet = " \t\n=[]{},.\"'#\\abefnrtxzT0129-+:_";
    for (int round = 0; round < 2000; ++round) {
        std::string text(static_cast<std::size_t>(random() % 256), ' ');
        for (char& c : text) {
            c = alphabet[random() % alphabet.size()];
        }
        expect_rejected(text, "random TOML punctuation, round " + std::to_string(round));
    }
    expect_rejected(std::string("[cluster]\nid = 7\0\n", 18), "NUL byte");
    expect_rejected("\xff\xfe[cluster]\n", "byte order mark of UTF-16");
    expect_rejected("", "empty text");
}

TEST(ConfigTest, TenThousandLinesGiveErrors) {
    std::string unknown_keys(base_config);
    for (int i = 0; i < 10000; ++i) {
        unknown_keys += "[extra" + std::to_string(i) + "]\n";
    }
    const ConfigResult result = parse(unknown_keys);
    EXPECT_FALSE(result.settings.has_value());
    EXPECT_EQ(result.errors.size(), 10000U);
    EXPECT_TRUE(has_error(result, 18, "unknown section [extra0]"));
    EXPECT_TRUE(has_error(result, 10017, "unknown section [extra9999]"));

    std::string junk;
    for (int i = 0; i < 10000; ++i) {
        junk += "x" + std::to_string(i) + " = " + std::to_string(i) + "\n";
    }
    expect_rejected(junk, "ten thousand top-level keys");
    expect_rejected(std::string(10000, '\n') + "==\n", "ten thousand empty lines, then junk");
}

TEST(ConfigTest, VeryLongLinesGiveErrors) {
    const std::string long_value(1 << 20, 'a');
    const std::string text =
        replaced(base_config, "name = \"beta\"", "name = \"beta\"\nnote = \"" + long_value + "\"");
    expect_rejected(text, "a 1 MiB string");
    EXPECT_TRUE(only_error(parse(text), 17, "unknown key \"note\" in [[node]]"));

    const std::string long_name =
        replaced(base_config, "name = \"net_a\"\n",
                 "name = \"net_a\"\n" + std::string(1 << 20, 'k') + " = 1\n");
    EXPECT_TRUE(only_error(parse(long_name), 10, "unknown key \"kkkk"));

    const std::string long_address =
        replaced(base_config, "\"198.18.1.2\"", "\"" + std::string(100000, '9') + "\"");
    EXPECT_TRUE(only_error(parse(long_address), 17, "is not an IPv4 address"));
    expect_rejected(std::string(1 << 20, '#') + "\n" + std::string(1 << 20, 'x'), "long junk");
}

TEST(ConfigTest, DeeplyNestedInputGivesErrors) {
    expect_rejected("x = " + std::string(100000, '[') + std::string(100000, ']') + "\n",
                    "deeply nested arrays");
    expect_rejected("x = " + std::string(200, '[') + std::string(200, ']') + "\n",
                    "nested arrays within the parser's depth limit");
    const ConfigResult too_deep = parse("x = " + std::string(300, '[') + std::string(300, ']'));
    EXPECT_TRUE(only_error(too_deep, 1, "TOML syntax"));
    std::string inline_tables = "x = ";
    for (int i = 0; i < 5000; ++i) {
        inline_tables += "{a=";
    }
    expect_rejected(inline_tables + "1" + std::string(5000, '}') + "\n", "nested inline tables");

    // Dotted keys and headers nest without the parser's own depth limit; they are bounded before
    // parsing, where a document this deep would otherwise overflow the stack.
    std::string dotted;
    for (int i = 0; i < 200000; ++i) {
        dotted += "a.";
    }
    const ConfigResult result = parse("[" + dotted + "b]\n" + dotted + "c = 1\n");
    EXPECT_TRUE(only_error(result, 0, "more than 16384 '.', '[' and '{' characters"));
    std::string header = "[cluster]\n";
    for (int i = 0; i < 2000; ++i) {
        header += "a.";
    }
    expect_rejected(header + "b = 1\n", "moderately deep dotted key within the bound");
}

TEST(ConfigTest, InputsThatBreakTomlPlusPlusPreconditionsGiveErrors) {
    // toml++ 3.3 asserts preconditions that these break; they must come back as syntax errors on
    // their line, in a build with assertions too, never as an abort.
    for (const std::string_view bad :
         {"[=]", "[[[1]]]", "[[=", "[", "[ #]", "[\t\x01]", "[[ \r", "x = 1979-05-27Ta7:32:00Z",
          "x = 1979-05-27T:07:32", "x = 1979-05-27t\"07:32:00\"", "x = 1979-05-27 1",
          "x = [1979-05-27 1]", "x = 1980-05-2_= 1", "x = [ }", "x = [\r\n}",
          "x = [ 1, # c\n\n }"}) {
        const std::string text = std::string(base_config) + std::string(bad) + "\n";
        // The error is on the line where the bad character is: the last line of `bad`.
        const auto line =
            18U + static_cast<std::uint32_t>(std::count(bad.begin(), bad.end(), '\n'));
        EXPECT_TRUE(only_error(parse(text), line, "TOML syntax")) << shown_bytes(bad);
    }
    EXPECT_TRUE(only_error(parse("\xEF\xBB\xBF[="), 1, "TOML syntax"));
    // Their well-formed neighbours reach the schema as usual.
    EXPECT_TRUE(only_error(parse(std::string(base_config) + "x = 1979-05-27T07:32:00Z\n"), 18,
                           "unknown key \"x\" in [[node]]"));
    EXPECT_TRUE(only_error(parse(std::string(base_config) + "x = 1979-05-27 07:32:00\n"), 18,
                           "unknown key \"x\" in [[node]]"));
    EXPECT_TRUE(
        only_error(parse(std::string(base_config) + "[ \"x\" ]\n"), 18, "unknown section [x]"));
}

TEST(ConfigTest, NonAsciiOnlyInsideStringsAndComments) {
    // Names and comments may hold any character.
    const std::string names = replaced(
        replaced(base_config, "name = \"beta\"", "name = \"b\xC3\xAAta \xD0\xA6\" # caf\xC3\xA9"),
        "name = \"alpha\"", "name = '''\xE3\x81\x81'''");
    const ClusterConfig cluster = valid(names).cluster;
    EXPECT_EQ(cluster.nodes[0].name, "\xE3\x81\x81");
    EXPECT_EQ(cluster.nodes[1].name, "b\xC3\xAAta \xD0\xA6");

    // Quoted keys may too, at a line start, after a dot and in inline tables.
    const std::string keys = std::string(base_config) +
                             "\"\xC3\xA9\" = 1\nk.\"\xC3\xA9\" = 2\n"
                             "t = { \"\xC3\xA9\" = 3, '\xC3\xBC' = 4 }\n";
    const ConfigResult unknown = parse(keys);
    EXPECT_TRUE(has_error(unknown, 18, "unknown key \"\xC3\xA9\" in [[node]]"));
    EXPECT_TRUE(has_error(unknown, 19, "unknown key \"k\" in [[node]]"));
    EXPECT_TRUE(has_error(unknown, 20, "unknown key \"t\" in [[node]]"));
    EXPECT_EQ(unknown.errors.size(), 3U) << listed(unknown);

    // Quoted segments of dotted keys, in tables, headers and arrays of tables.
    const std::string dotted =
        std::string(base_config) +
        "a.'\xC3\xA9'.\"\xC3\xBC\" = 1\n"
        "[[x . '\xC3\xA9']]\n"
        "[y.\"\xC3\xBC\"]\n"
        "z = { k.'\xC3\xA9' = 1, m . \"\xC3\xBC\" = [ { n.'\xC3\xA9' = 2 } ] }\n";
    const ConfigResult sections = parse(dotted);
    EXPECT_TRUE(has_error(sections, 18, "unknown key \"a\" in [[node]]"));
    EXPECT_TRUE(has_error(sections, 19, "unknown section [x]"));
    EXPECT_TRUE(has_error(sections, 20, "unknown section [y]"));
    EXPECT_EQ(sections.errors.size(), 3U) << listed(sections);

    // A multi-line string may end in quotes of its own; the scan stays in step after it.
    const std::string quotes =
        replaced(base_config, "name = \"beta\"", "name = \"\"\"b\"\"\"\"\" # \xC3\xA9");
    EXPECT_EQ(valid(quotes).cluster.nodes[1].name, "b\"\"");
    const std::string escaped =
        replaced(base_config, "name = \"beta\"", "name = \"\"\"b\\\"\"\"\" # \xC3\xA9");
    EXPECT_EQ(valid(escaped).cluster.nodes[1].name, "b\"");

    // Outside strings and comments a non-ASCII character is never TOML; toml++ 3.3 must not see
    // one there (nor right after a backslash in a multi-line string).
    for (const std::string_view bad :
         {"x = 1\xC3\xA9", "\xC2\xA7 = 1", "x = \"a\"\xD0\xA6", "x = [ 1, \xE3\x81\x81 ]",
          "x = 1979-05-27T07:12:0\xD0\xA6", "x = tru\xC3\xA9", "x = 1\xEF\xBC\x80",
          "x = 19\"ftran\xC3\x9B\"", "x = 0'''''\xEF\xBB\xBC", "[\xC3\xA9]",
          "x = 1979-05-2?'.'''.'?'.v''\xEF\xAF\xBF''", "x = 1.'\xC3\xA9'", "x = [ 1.'\xC3\xA9' ]",
          "x = { a = 1.\"\xC3\xA9\" }",
          // Found by config_fuzz: a '[' inside a malformed value opens nothing.
          "x = 9zzz[\"\\er\xD0\x93\"", "x = 9{\"\xD0\x93\""}) {
        const std::string text = std::string(base_config) + std::string(bad) + "\n";
        EXPECT_TRUE(only_error(parse(text), 18, "non-ASCII character outside a string"))
            << shown_bytes(bad);
    }
    for (const std::string_view bad : {"x = \"\"\"\\\n\xC2\xA7\"\"\"", "x = \"\"\"\\\xC2\xA7\"\"\"",
                                       "x = \"\"\"a\\  \n\n  \xE3\x81\x81\"\"\""}) {
        const std::string text = std::string(base_config) + std::string(bad) + "\n";
        const ConfigResult result = parse(text);
        ASSERT_EQ(result.errors.size(), 1U) << listed(result);
        EXPECT_NE(result.errors[0].message.find("right after a backslash in a multi-line string"),
                  std::string::npos)
            << listed(result);
    }
}

// ---- files and formatting ----------------------------------------------------------------------

TEST(ConfigTest, LoadConfigReportsUnreadableFiles) {
    const TempDir dir;
    const fs::path missing = dir.path() / "missing.toml";
    ConfigResult result = load_config(missing);
    EXPECT_TRUE(only_error(result, 0, missing.native()));
    EXPECT_TRUE(has_error(result, 0, "No such file or directory"));

    result = load_config(dir.path());
    EXPECT_TRUE(only_error(result, 0, "Is a directory"));
}

TEST(ConfigTest, LoadConfigReportsPermissionDenied) {
    if (geteuid() == 0) {
        GTEST_SKIP() << "runs as root, which reads files whatever their mode";
    }
    const TempDir dir;
    const fs::path locked = dir.write("locked.toml", base_config, fs::perms::none);
    EXPECT_TRUE(only_error(load_config(locked), 0, "Permission denied"));
}

TEST(ConfigTest, FormatErrors) {
    const std::vector<ConfigError> errors = {
        {0, "[cluster] is missing: it is required (with id)"},
        {14, "[[node]] id 2 is listed twice (first at line 9)"},
    };
    EXPECT_EQ(format_errors("/etc/hb/hb.toml", errors),
              "/etc/hb/hb.toml: [cluster] is missing: it is required (with id)\n"
              "/etc/hb/hb.toml:14: [[node]] id 2 is listed twice (first at line 9)\n");
    EXPECT_EQ(format_errors("hb.toml", {}), "");
}

}  // namespace
}  // namespace hb::node
