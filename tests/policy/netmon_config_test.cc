// Tests of the netmon.cf reader: every format rule with its warning (by line and message), CAA and
// RSCT modes, garbage that must never crash, file loading, and resolution to local adapters.
#include "policy/netmon_config.hh"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hb::policy {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t seed = 0x6e65'746d'6f6e'0001;  // fixed: failures replay

Ipv4 ip(std::string_view text) {
    const std::optional<Ipv4> address = Ipv4::parse(text);
    EXPECT_TRUE(address.has_value()) << text;
    return address.value_or(Ipv4{});
}

std::string all_warnings(const std::vector<NetmonWarning>& warnings) {
    std::string out;
    for (const NetmonWarning& warning : warnings) {
        out += "  " + to_string(warning) + "\n";
    }
    return out;
}

// Passes when some warning is on `line` and contains `text`.
::testing::AssertionResult has_warning(const std::vector<NetmonWarning>& warnings,
                                       std::uint32_t line, std::string_view text) {
    for (const NetmonWarning& warning : warnings) {
        if (warning.line == line && warning.message.find(text) != std::string::npos) {
            return ::testing::AssertionSuccess();
        }
    }
    return ::testing::AssertionFailure()
           << "no warning on line " << line << " containing \"" << text << "\"; warnings:\n"
           << all_warnings(warnings);
}

// The invariants every parse result keeps, whatever the input.
void expect_invariants(const NetmonFile& file) {
    std::map<std::string, std::set<std::uint32_t>> per_owner;
    std::uint32_t previous_line = 0;
    for (const NetmonEntry& entry : file.entries) {
        EXPECT_FALSE(entry.owner.empty());
        EXPECT_GE(entry.line, 1U);
        EXPECT_GT(entry.line, previous_line);  // one entry per line, in file order
        previous_line = entry.line;
        EXPECT_FALSE(entry.target.is_unspecified());
        EXPECT_FALSE(entry.target.is_multicast());
        EXPECT_TRUE(per_owner[entry.owner].insert(entry.target.value).second)
            << "duplicate " << entry.owner << " " << entry.target.to_string();
    }
    for (const auto& [owner, targets] : per_owner) {
        EXPECT_LE(targets.size(), netmon_max_targets_per_owner) << owner;
    }
    EXPECT_LE(file.warnings.size(), netmon_max_warnings + 2);
    for (const NetmonWarning& warning : file.warnings) {
        EXPECT_FALSE(warning.message.empty());
        for (const char c : warning.message) {
            EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "unprintable byte in: " << warning.message;
        }
    }
}

NetmonEntry entry(std::string owner, std::string_view target, std::uint32_t line) {
    return {std::move(owner), ip(target), line};
}

// "!REQD <owner> 198.18.<b>.<c>" for the i-th distinct target (i < 65536), from the benchmarking
// range so that it never equals a test adapter's own address.
std::string reqd_line(std::string_view owner, std::uint32_t i) {
    return "!REQD " + std::string(owner) + " 198.18." + std::to_string((i >> 8) & 0xff) + "." +
           std::to_string(i & 0xff) + "\n";
}

// --- The format ---------------------------------------------------------------------------

TEST(NetmonParse, SeedExampleTwoTargetsForOneInterface) {
    // The seed's example: en2 is up only if it can ping either target.
    const NetmonFile file =
        parse_netmon("!REQD en2 100.12.7.9\n!REQD en2 100.12.7.10\n", NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "100.12.7.9", 1),
                                                      entry("en2", "100.12.7.10", 2)}));
    EXPECT_TRUE(file.warnings.empty()) << all_warnings(file.warnings);
}

TEST(NetmonParse, OwnerIsInterfaceAddressOrAll) {
    const NetmonFile file = parse_netmon(
        "!REQD en2 192.0.2.1\n!REQD 10.0.0.2 192.0.2.2\n!REQD !ALL 192.0.2.3\n"
        "!REQD\teth0.100\t192.0.2.4\n",
        NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{
                                entry("en2", "192.0.2.1", 1), entry("10.0.0.2", "192.0.2.2", 2),
                                entry("!ALL", "192.0.2.3", 3), entry("eth0.100", "192.0.2.4", 4)}));
    EXPECT_TRUE(file.warnings.empty()) << all_warnings(file.warnings);
}

TEST(NetmonParse, ReqdCountsOnlyAtColumnZero) {
    for (const NetmonMode mode : {NetmonMode::caa, NetmonMode::rsct}) {
        const NetmonFile file = parse_netmon(
            "  !REQD en2 192.0.2.1\n\t!REQD en2 192.0.2.2\n!REQD en2 192.0.2.3\n", mode);
        EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.3", 3)}));
        EXPECT_TRUE(has_warning(file.warnings, 1, "!REQD must start at column 0"));
        EXPECT_TRUE(has_warning(file.warnings, 2, "!REQD must start at column 0"));
        EXPECT_EQ(file.warnings.size(), 2U) << all_warnings(file.warnings);
    }
}

TEST(NetmonParse, KeywordGluedToOwnerIsRejected) {
    const NetmonFile file =
        parse_netmon("!REQDen2 192.0.2.1\n!reqd en2 192.0.2.1\n", NetmonMode::caa);
    EXPECT_TRUE(file.entries.empty());
    EXPECT_TRUE(has_warning(file.warnings, 1, "unknown keyword \"!REQDen2\""));
    // Lower case is not the keyword: in CAA mode it is just a line without !REQD.
    EXPECT_TRUE(has_warning(file.warnings, 0, "1 lines without !REQD ignored (CAA mode)"));
}

TEST(NetmonParse, CommentsAndBlankLines) {
    const NetmonFile file = parse_netmon(
        "# targets outside the VIO server\n"
        "\n"
        "   \t  \n"
        "!REQD en2 192.0.2.1 # the router's neighbour\n"
        "#!REQD en2 192.0.2.2\n"
        "!REQD en2 192.0.2.3#glued comment\n"
        "    # indented comment\n",
        NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 4),
                                                      entry("en2", "192.0.2.3", 6)}));
    EXPECT_TRUE(file.warnings.empty()) << all_warnings(file.warnings);
}

TEST(NetmonParse, HostNameTargetIsNotResolved) {
    const NetmonFile file =
        parse_netmon("!REQD en2 gateway.example.com\n!REQD en2 192.0.2.1\n", NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 2)}));
    EXPECT_TRUE(has_warning(file.warnings, 1,
                            "target \"gateway.example.com\" is a host name; host names are not "
                            "resolved"));
}

TEST(NetmonParse, BadAndUnusableTargets) {
    const NetmonFile file = parse_netmon(
        "!REQD en2 192.0.2\n"
        "!REQD en2 192.0.2.256\n"
        "!REQD en2 0.0.0.0\n"
        "!REQD en2 127.0.0.1\n"
        "!REQD en2 224.0.0.1\n"
        "!REQD en2 255.255.255.255\n"
        "!REQD en2 ::1\n",
        NetmonMode::caa);
    EXPECT_TRUE(file.entries.empty());
    EXPECT_TRUE(has_warning(file.warnings, 1, "target \"192.0.2\" is not an IPv4 address"));
    EXPECT_TRUE(has_warning(file.warnings, 2, "target \"192.0.2.256\" is not an IPv4 address"));
    EXPECT_TRUE(has_warning(file.warnings, 3, "unspecified address"));
    EXPECT_TRUE(has_warning(file.warnings, 4, "loopback"));
    EXPECT_TRUE(has_warning(file.warnings, 5, "multicast"));
    EXPECT_TRUE(has_warning(file.warnings, 6, "broadcast"));
    EXPECT_TRUE(has_warning(file.warnings, 7, "target \"::1\" is not an IPv4 address"));
}

TEST(NetmonParse, BadOwners) {
    const NetmonFile file = parse_netmon(
        "!REQD !FOO 192.0.2.1\n"
        "!REQD 10.0.0.300 192.0.2.1\n"
        "!REQD averyveryverylongname0 192.0.2.1\n"
        "!REQD en/2 192.0.2.1\n"
        "!REQD en:2 192.0.2.1\n",
        NetmonMode::caa);
    EXPECT_TRUE(file.entries.empty());
    EXPECT_TRUE(has_warning(file.warnings, 1, "owner \"!FOO\" is not an interface name"));
    EXPECT_TRUE(has_warning(file.warnings, 2, "owner \"10.0.0.300\" is not a valid IPv4"));
    EXPECT_TRUE(has_warning(file.warnings, 3, "owner \"averyveryverylongname0\" is not"));
    EXPECT_TRUE(has_warning(file.warnings, 4, "owner \"en/2\" is not"));
    EXPECT_TRUE(has_warning(file.warnings, 5, "owner \"en:2\" is not"));
}

TEST(NetmonParse, MissingFields) {
    const NetmonFile file =
        parse_netmon("!REQD en2\n!REQD\n!REQD # comment only\n", NetmonMode::caa);
    EXPECT_TRUE(file.entries.empty());
    EXPECT_TRUE(has_warning(file.warnings, 1, "!REQD \"en2\" has no target; ignored"));
    EXPECT_TRUE(has_warning(file.warnings, 2, "!REQD needs an owner and a target"));
    EXPECT_TRUE(has_warning(file.warnings, 3, "!REQD needs an owner and a target"));
}

TEST(NetmonParse, ExtraFieldsAreWarnedAndTheEntryKept) {
    const NetmonFile file = parse_netmon("!REQD en2 192.0.2.1 192.0.2.2 x\n", NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 1)}));
    EXPECT_TRUE(has_warning(file.warnings, 1,
                            "2 extra fields after the target ignored, first \"192.0.2.2\""));
}

TEST(NetmonParse, DuplicatePairIsKeptOnce) {
    const NetmonFile file = parse_netmon(
        "!REQD en2 192.0.2.1\n!REQD en3 192.0.2.1\n!REQD en2 192.0.2.1\n", NetmonMode::caa);
    // The same target under another owner is not a duplicate.
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 1),
                                                      entry("en3", "192.0.2.1", 2)}));
    EXPECT_TRUE(has_warning(file.warnings, 3,
                            "duplicate of line 1 (owner en2, target 192.0.2.1); ignored"));
    EXPECT_EQ(file.warnings.size(), 1U) << all_warnings(file.warnings);
}

TEST(NetmonParse, AtMost32TargetsPerOwner) {
    // Seven comment lines, 32 targets on lines 8..39; line 40 is the 33rd.
    std::string text;
    for (int i = 0; i < 7; ++i) {
        text += "# header\n";
    }
    for (std::uint32_t i = 0; i < 32; ++i) {
        text += reqd_line("en2", i);
    }
    text += reqd_line("en2", 32);
    text += reqd_line("en2", 0);   // line 41: a duplicate, reported as such
    text += reqd_line("en3", 40);  // line 42: another owner has its own 32
    const NetmonFile file = parse_netmon(text, NetmonMode::caa);
    ASSERT_EQ(file.entries.size(), 33U);
    EXPECT_EQ(file.entries[31].line, 39U);
    EXPECT_EQ(file.entries[32], entry("en3", "198.18.0.40", 42));
    ASSERT_EQ(file.warnings.size(), 2U) << all_warnings(file.warnings);
    EXPECT_EQ(to_string(file.warnings[0]),
              "line 40: more than 32 !REQD targets for owner en2; ignored");
    EXPECT_TRUE(has_warning(file.warnings, 41, "duplicate of line 8"));
}

TEST(NetmonParse, AddressOwnersAreCanonical) {
    // Owners are compared as text: a leading-zero spelling is not an IPv4 address at all.
    const NetmonFile file =
        parse_netmon("!REQD 10.0.0.2 192.0.2.1\n!REQD 010.0.0.2 192.0.2.2\n", NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("10.0.0.2", "192.0.2.1", 1)}));
    EXPECT_TRUE(has_warning(file.warnings, 2, "owner \"010.0.0.2\" is not a valid IPv4"));
}

// --- Modes --------------------------------------------------------------------------------

constexpr std::string_view mixed_file =
    "# traditional lines first\n"
    "192.0.2.10\n"
    "192.0.2.11\n"
    "!REQD en2 192.0.2.1\n"
    "192.0.2.12\n";

TEST(NetmonModes, CaaIgnoresTraditionalLinesWithOneSummary) {
    const NetmonFile file = parse_netmon(mixed_file, NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 4)}));
    ASSERT_EQ(file.warnings.size(), 1U) << all_warnings(file.warnings);
    EXPECT_EQ(to_string(file.warnings[0]), "3 lines without !REQD ignored (CAA mode)");
}

TEST(NetmonModes, RsctTakesPlainLinesAsTargetsForEveryAdapter) {
    const NetmonFile file = parse_netmon(mixed_file, NetmonMode::rsct);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{
                                entry("!ALL", "192.0.2.10", 2), entry("!ALL", "192.0.2.11", 3),
                                entry("en2", "192.0.2.1", 4), entry("!ALL", "192.0.2.12", 5)}));
    EXPECT_TRUE(file.warnings.empty()) << all_warnings(file.warnings);
}

TEST(NetmonModes, RsctPlainLineProblems) {
    const NetmonFile file = parse_netmon(
        "  192.0.2.10   # indented is fine for plain lines\n"
        "gateway1\n"
        "192.0.2.11 192.0.2.12\n"
        "!IBQPORT ib0\n"
        "!REQD !ALL 192.0.2.10\n"
        "not/an/address\n",
        NetmonMode::rsct);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("!ALL", "192.0.2.10", 1),
                                                      entry("!ALL", "192.0.2.11", 3)}));
    EXPECT_TRUE(has_warning(file.warnings, 2, "target \"gateway1\" is a host name"));
    EXPECT_TRUE(has_warning(file.warnings, 3, "1 extra fields after the address ignored"));
    EXPECT_TRUE(has_warning(file.warnings, 4, "unsupported directive \"!IBQPORT\""));
    // Plain lines and "!REQD !ALL" lines share one owner.
    EXPECT_TRUE(has_warning(file.warnings, 5, "duplicate of line 1 (owner !ALL"));
    EXPECT_TRUE(has_warning(file.warnings, 6, "target \"not/an/address\" is not an IPv4"));
}

TEST(NetmonModes, RsctPlainLinesShareTheCapOfAll) {
    std::string text;
    for (std::uint32_t i = 0; i < 30; ++i) {
        text += reqd_line("!ALL", i);
    }
    text += "192.0.2.1\n192.0.2.2\n192.0.2.3\n";  // lines 31..33
    const NetmonFile file = parse_netmon(text, NetmonMode::rsct);
    EXPECT_EQ(file.entries.size(), 32U);
    ASSERT_EQ(file.warnings.size(), 1U) << all_warnings(file.warnings);
    EXPECT_TRUE(has_warning(file.warnings, 33, "more than 32 targets for owner !ALL; ignored"));
}

// --- Bad input ----------------------------------------------------------------------------

TEST(NetmonGarbage, CrlfLineEndingsAreAccepted) {
    const NetmonFile lf =
        parse_netmon("# c\n!REQD en2 192.0.2.1\n\n!REQD en2 192.0.2.2", NetmonMode::caa);
    const NetmonFile crlf =
        parse_netmon("# c\r\n!REQD en2 192.0.2.1\r\n\r\n!REQD en2 192.0.2.2\r\n", NetmonMode::caa);
    EXPECT_EQ(crlf.entries, lf.entries);
    EXPECT_EQ(crlf.entries.size(), 2U);
    EXPECT_TRUE(crlf.warnings.empty()) << all_warnings(crlf.warnings);
}

TEST(NetmonGarbage, NulByteLineIsSkipped) {
    using namespace std::string_literals;
    const std::string text = "!REQD en2 192.0.2.1\n!REQD en2\0 192.0.2.2\n!REQD en2 192.0.2.3\n"s;
    const NetmonFile file = parse_netmon(text, NetmonMode::caa);
    EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 1),
                                                      entry("en2", "192.0.2.3", 3)}));
    EXPECT_TRUE(has_warning(file.warnings, 2, "NUL byte"));
    expect_invariants(file);
}

TEST(NetmonGarbage, OverlongLineIsSkipped) {
    std::string text = "!REQD en2 192.0.2.1\n!REQD en2 192.0.2.2 #";
    text.append(100'000, 'x');
    text += "\n!REQD en2 192.0.2.3\n";
    for (const NetmonMode mode : {NetmonMode::caa, NetmonMode::rsct}) {
        const NetmonFile file = parse_netmon(text, mode);
        EXPECT_EQ(file.entries, (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 1),
                                                          entry("en2", "192.0.2.3", 3)}));
        EXPECT_TRUE(has_warning(file.warnings, 2, "line longer than 4096 bytes; ignored"));
        EXPECT_EQ(file.warnings.size(), 1U) << all_warnings(file.warnings);
    }
}

TEST(NetmonGarbage, LineOfExactlyTheLimitIsRead) {
    std::string line = "!REQD en2 192.0.2.1 #";
    line.append(netmon_max_line_bytes - line.size(), 'x');
    const NetmonFile file = parse_netmon(line + "\r\n", NetmonMode::caa);
    EXPECT_EQ(file.entries.size(), 1U);
    EXPECT_TRUE(file.warnings.empty()) << all_warnings(file.warnings);
}

TEST(NetmonGarbage, InvalidUtf8IsEscapedInWarnings) {
    const NetmonFile file = parse_netmon(
        "# caf\xc3\xa9 \xff\xfe comment is fine\n!REQD en\xff 192.0.2.1\n!REQD en2 \xc0\xaf\n",
        NetmonMode::caa);
    EXPECT_TRUE(file.entries.empty());
    EXPECT_TRUE(has_warning(file.warnings, 2, "owner \"en\\xff\" is not an interface name"));
    EXPECT_TRUE(has_warning(file.warnings, 3, "target \"\\xc0\\xaf\" is not an IPv4 address"));
    expect_invariants(file);
}

TEST(NetmonGarbage, TenThousandLinesAreCappedPerOwnerAndInWarnings) {
    // 100 owners, 100 distinct targets each: 32 kept per owner, 68 warned per owner.
    std::string text;
    for (std::uint32_t i = 0; i < 10'000; ++i) {
        text += reqd_line("en" + std::to_string(i % 100), i);
    }
    const NetmonFile file = parse_netmon(text, NetmonMode::caa);
    EXPECT_EQ(file.entries.size(), 3'200U);
    EXPECT_EQ(file.entries.back().line, 3'200U);
    ASSERT_EQ(file.warnings.size(), netmon_max_warnings + 1);
    EXPECT_TRUE(has_warning(file.warnings, 3'201, "more than 32 !REQD targets for owner en0"));
    EXPECT_EQ(to_string(file.warnings.back()), "6700 further warnings not shown");
    expect_invariants(file);
}

TEST(NetmonGarbage, RandomBytesNeverBreakTheInvariants) {
    std::mt19937_64 random(seed);
    for (int round = 0; round < 2'000; ++round) {
        std::string text(random() % 3'000, '\0');
        for (char& c : text) {
            c = static_cast<char>(random());
        }
        for (const NetmonMode mode : {NetmonMode::caa, NetmonMode::rsct}) {
            SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
            expect_invariants(parse_netmon(text, mode));
        }
    }
}

TEST(NetmonGarbage, RandomEditsOfAValidFileNeverBreakTheInvariants) {
    // Random bytes rarely form a !REQD line; edits of a real one reach the deeper checks.
    const std::string valid =
        "!REQD en2 192.0.2.1\n!REQD 10.0.0.2 192.0.2.2 # c\n!REQD !ALL 192.0.2.3\n192.0.2.4\n";
    constexpr std::string_view alphabet = "!REQDALLen0123456789. \t\r\n#\0\xff";
    std::mt19937_64 random(seed + 1);
    for (int round = 0; round < 5'000; ++round) {
        std::string text = valid;
        const int edits = 1 + static_cast<int>(random() % 8);
        for (int i = 0; i < edits; ++i) {
            const std::size_t at = random() % (text.size() + 1);
            const char c = alphabet[random() % alphabet.size()];
            switch (random() % 3) {
                case 0:
                    text.insert(at, 1, c);
                    break;
                case 1:
                    if (at < text.size()) {
                        text.erase(at, 1);
                    }
                    break;
                default:
                    if (at < text.size()) {
                        text[at] = c;
                    }
                    break;
            }
        }
        for (const NetmonMode mode : {NetmonMode::caa, NetmonMode::rsct}) {
            SCOPED_TRACE("seed " + std::to_string(seed + 1) + " round " + std::to_string(round));
            expect_invariants(parse_netmon(text, mode));
        }
    }
}

TEST(NetmonGarbage, TextLargerThanOneMebibyteIsRefused) {
    std::string text;
    while (text.size() <= netmon_max_file_bytes) {
        text += "!REQD en2 192.0.2.1\n";
    }
    const NetmonFile file = parse_netmon(text, NetmonMode::caa);
    EXPECT_TRUE(file.entries.empty());
    ASSERT_EQ(file.warnings.size(), 1U);
    EXPECT_TRUE(has_warning(file.warnings, 0, "file larger than 1048576 bytes; nothing read"));
}

TEST(NetmonWarningText, LineZeroHasNoPrefix) {
    EXPECT_EQ(to_string(NetmonWarning{0, "whole file"}), "whole file");
    EXPECT_EQ(to_string(NetmonWarning{7, "this line"}), "line 7: this line");
}

// --- Loading a file -----------------------------------------------------------------------

class NetmonLoad : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "netmon_test.XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        directory_ = pattern;
    }
    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(directory_, ignored);
    }
    fs::path write(std::string_view name, std::string_view text) {
        const fs::path file = directory_ / name;
        std::ofstream out(file, std::ios::binary);
        out << text;
        return file;
    }
    fs::path directory_;
};

TEST_F(NetmonLoad, ReadsAFile) {
    const fs::path file = write("netmon.cf", "!REQD en2 192.0.2.1\r\n192.0.2.9\r\n");
    auto caa = load_netmon(file, NetmonMode::caa);
    ASSERT_TRUE(std::holds_alternative<NetmonFile>(caa)) << std::get<std::string>(caa);
    EXPECT_EQ(std::get<NetmonFile>(caa).entries,
              (std::vector<NetmonEntry>{entry("en2", "192.0.2.1", 1)}));
    auto rsct = load_netmon(file, NetmonMode::rsct);
    ASSERT_TRUE(std::holds_alternative<NetmonFile>(rsct));
    EXPECT_EQ(std::get<NetmonFile>(rsct).entries.size(), 2U);
}

TEST_F(NetmonLoad, EmptyFileHasNoEntries) {
    auto result = load_netmon(write("netmon.cf", ""), NetmonMode::caa);
    ASSERT_TRUE(std::holds_alternative<NetmonFile>(result));
    EXPECT_TRUE(std::get<NetmonFile>(result).entries.empty());
    EXPECT_TRUE(std::get<NetmonFile>(result).warnings.empty());
}

TEST_F(NetmonLoad, MissingFileIsAnError) {
    auto result = load_netmon(directory_ / "absent.cf", NetmonMode::caa);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("absent.cf: cannot open: No such file"),
              std::string::npos)
        << std::get<std::string>(result);
}

TEST_F(NetmonLoad, DirectoryIsAnError) {
    auto result = load_netmon(directory_, NetmonMode::caa);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("not a regular file"), std::string::npos)
        << std::get<std::string>(result);
}

TEST_F(NetmonLoad, UnreadableFileIsAnError) {
    if (geteuid() == 0) {
        GTEST_SKIP() << "root reads files whatever their mode";
    }
    const fs::path file = write("netmon.cf", "!REQD en2 192.0.2.1\n");
    fs::permissions(file, fs::perms::none);
    auto result = load_netmon(file, NetmonMode::caa);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("cannot open: Permission denied"),
              std::string::npos)
        << std::get<std::string>(result);
}

TEST_F(NetmonLoad, FileLargerThanOneMebibyteIsRefused) {
    std::string text(netmon_max_file_bytes + 1, '#');
    auto result = load_netmon(write("big.cf", text), NetmonMode::caa);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("larger than 1048576 bytes; refused"),
              std::string::npos)
        << std::get<std::string>(result);
    text.pop_back();
    auto at_limit = load_netmon(write("limit.cf", text), NetmonMode::caa);
    EXPECT_TRUE(std::holds_alternative<NetmonFile>(at_limit));
}

// --- Resolution to local adapters ---------------------------------------------------------

const std::vector<AdapterConfig> two_adapters = {
    {.network = 0, .ifname = "en2", .address = Ipv4{0x0a00'0002}},  // 10.0.0.2
    {.network = 1, .ifname = "en3", .address = Ipv4{0x0a00'0102}},  // 10.0.1.2
};

TEST(NetmonResolve, OwnersMatchByNameAddressOrAll) {
    const NetmonFile file = parse_netmon(
        "!REQD en2 192.0.2.1\n!REQD 10.0.1.2 192.0.2.2\n!REQD !ALL 192.0.2.3\n", NetmonMode::caa);
    std::vector<NetmonWarning> warnings;
    const auto targets = targets_per_adapter(file, two_adapters, warnings);
    ASSERT_EQ(targets.size(), 2U);
    EXPECT_EQ(targets[0], (std::vector<Ipv4>{ip("192.0.2.1"), ip("192.0.2.3")}));
    EXPECT_EQ(targets[1], (std::vector<Ipv4>{ip("192.0.2.2"), ip("192.0.2.3")}));
    EXPECT_TRUE(warnings.empty()) << all_warnings(warnings);
}

TEST(NetmonResolve, UnresolvableOwnerIsWarnedOnceAtItsFirstLine) {
    const NetmonFile file = parse_netmon(
        "!REQD en2 192.0.2.1\n!REQD en9 192.0.2.2\n!REQD en9 192.0.2.3\n!REQD 10.9.9.9 192.0.2.4\n",
        NetmonMode::caa);
    std::vector<NetmonWarning> warnings{{0, "already there"}};
    const auto targets = targets_per_adapter(file, two_adapters, warnings);
    EXPECT_EQ(targets[0], (std::vector<Ipv4>{ip("192.0.2.1")}));
    EXPECT_TRUE(targets[1].empty());
    ASSERT_EQ(warnings.size(), 3U) << all_warnings(warnings);  // appended, not replaced
    EXPECT_TRUE(has_warning(warnings, 2, "unresolvable owner en9"));
    EXPECT_TRUE(has_warning(warnings, 4, "unresolvable owner 10.9.9.9"));
}

TEST(NetmonResolve, AllWithNoLocalAdaptersIsUnresolvable) {
    const NetmonFile file = parse_netmon("!REQD !ALL 192.0.2.1\n", NetmonMode::caa);
    std::vector<NetmonWarning> warnings;
    EXPECT_TRUE(targets_per_adapter(file, {}, warnings).empty());
    EXPECT_TRUE(has_warning(warnings, 1, "unresolvable owner !ALL"));
}

TEST(NetmonResolve, SameTargetThroughTwoOwnersIsListedOnce) {
    const NetmonFile file = parse_netmon(
        "!REQD en2 192.0.2.1\n!REQD 10.0.0.2 192.0.2.1\n!REQD !ALL 192.0.2.1\n", NetmonMode::caa);
    std::vector<NetmonWarning> warnings;
    const auto targets = targets_per_adapter(file, two_adapters, warnings);
    EXPECT_EQ(targets[0], (std::vector<Ipv4>{ip("192.0.2.1")}));
    EXPECT_EQ(targets[1], (std::vector<Ipv4>{ip("192.0.2.1")}));
    EXPECT_TRUE(warnings.empty()) << all_warnings(warnings);
}

TEST(NetmonResolve, OwnTargetIsDropped) {
    // Pinging one of this node's own addresses always answers: it would hide an adapter failure.
    const NetmonFile file =
        parse_netmon("!REQD en2 10.0.1.2\n!REQD en2 192.0.2.1\n", NetmonMode::caa);
    std::vector<NetmonWarning> warnings;
    const auto targets = targets_per_adapter(file, two_adapters, warnings);
    EXPECT_EQ(targets[0], (std::vector<Ipv4>{ip("192.0.2.1")}));
    EXPECT_TRUE(has_warning(warnings, 1,
                            "target 10.0.1.2 is this node's own address (adapter "
                            "en3 (10.0.1.2))"));
}

TEST(NetmonResolve, CapPerAdapterKeepsSpecificOwnersBeforeAll) {
    // 20 targets for !ALL first in the file, then 20 for en2 by name: en2 keeps its own 20 and
    // the first 12 of !ALL; en3 keeps the 20 of !ALL.
    std::string text;
    for (std::uint32_t i = 0; i < 20; ++i) {
        text += reqd_line("!ALL", i);
    }
    for (std::uint32_t i = 100; i < 120; ++i) {
        text += reqd_line("en2", i);
    }
    const NetmonFile file = parse_netmon(text, NetmonMode::caa);
    ASSERT_EQ(file.entries.size(), 40U);
    std::vector<NetmonWarning> warnings;
    const auto targets = targets_per_adapter(file, two_adapters, warnings);
    ASSERT_EQ(targets[0].size(), 32U);
    EXPECT_EQ(targets[0].front(), file.entries[20].target);  // en2's own first
    EXPECT_EQ(targets[0].back(), file.entries[11].target);   // then !ALL up to the cap
    EXPECT_EQ(targets[1].size(), 20U);
    ASSERT_EQ(warnings.size(), 1U) << all_warnings(warnings);
    EXPECT_TRUE(has_warning(warnings, 13,
                            "adapter en2 (10.0.0.2) has more than 32 targets; 8 ignored, the "
                            "first from this line"));
}

}  // namespace
}  // namespace hb::policy
