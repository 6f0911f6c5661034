#include "hb/model.hh"

#include <arpa/inet.h>

#include "hb/assert.hh"

namespace hb {

std::optional<Ipv4> Ipv4::parse(std::string_view text) noexcept {
    // inet_pton wants a terminated string and accepts only dotted quads, which is what we want.
    char buffer[INET_ADDRSTRLEN] = {};
    if (text.empty() || text.size() >= sizeof buffer) {
        return std::nullopt;
    }
    text.copy(buffer, text.size());
    in_addr parsed{};
    if (inet_pton(AF_INET, buffer, &parsed) != 1) {
        return std::nullopt;
    }
    return Ipv4{ntohl(parsed.s_addr)};
}

std::string Ipv4::to_string() const {
    char buffer[INET_ADDRSTRLEN] = {};
    in_addr address{htonl(value)};
    inet_ntop(AF_INET, &address, buffer, sizeof buffer);
    return buffer;
}

const MacKey& KeySet::signing() const noexcept {
    HB_ASSERT(count != 0);
    return keys[0];
}

bool KeySet::add(const MacKey& key) noexcept {
    if (count == keys.size()) {
        return false;
    }
    keys[count++] = key;
    return true;
}

const NodeConfig* ClusterConfig::find_node(NodeId id) const noexcept {
    for (const NodeConfig& node : nodes) {
        if (node.id == id) {
            return &node;
        }
    }
    return nullptr;
}

}  // namespace hb
