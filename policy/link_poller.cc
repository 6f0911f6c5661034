#include "policy/link_poller.hh"

#include <algorithm>

namespace hb::policy {

LinkPoller::LinkPoller(std::unique_ptr<LinkWatch> watch, std::unique_ptr<NeighbourFlush> neighbours,
                       Detector& detector, std::vector<std::vector<std::uint32_t>> locals_by_name,
                       std::vector<std::uint32_t> name_of_local, std::vector<bool> reported,
                       std::vector<std::vector<Ipv4>> peers_by_name)
    : watch_(std::move(watch)),
      detector_(detector),
      locals_by_name_(std::move(locals_by_name)),
      name_of_local_(std::move(name_of_local)),
      reported_(std::move(reported)),
      neighbours_(std::move(neighbours)),
      peers_by_name_(std::move(peers_by_name)) {}

std::variant<std::unique_ptr<LinkPoller>, std::string> LinkPoller::open(const Topology& topology,
                                                                        Detector& detector,
                                                                        Nanos now) {
    // One watch entry per interface; several adapters (networks) may share one.
    std::vector<std::string> names;
    std::vector<std::vector<std::uint32_t>> locals_by_name;
    std::vector<std::uint32_t> name_of_local;
    std::vector<bool> reported;
    std::vector<std::vector<Ipv4>> peers_by_name;
    const NodeConfig* local_node = topology.config().find_node(topology.local_node());
    for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
        const LocalAdapter& local = topology.local_adapters()[l];
        const std::string& ifname = local_node->adapters[local.adapter].ifname;
        // A DPDK port's link comes from the port (PortLinkPoller): its ifname may name no kernel
        // interface at all, or one the port bypasses.
        const bool kernel = local_node->adapters[local.adapter].transport == TransportKind::udp;
        const bool report =
            kernel && topology.config().networks[local.network].link_state == LinkStateUse::watch;
        auto found = std::find(names.begin(), names.end(), ifname);
        if (found == names.end()) {
            names.push_back(ifname);
            locals_by_name.emplace_back();
            peers_by_name.emplace_back();
            found = names.end() - 1;
        }
        const auto name = static_cast<std::uint32_t>(found - names.begin());
        if (report) {
            locals_by_name[name].push_back(l);
        }
        name_of_local.push_back(name);
        reported.push_back(report);
        for (PathIndex p = local.first_path; kernel && p < local.first_path + local.path_count;
             ++p) {
            peers_by_name[name].push_back(topology.paths()[p].peer_address);
        }
    }
    auto opened = LinkWatch::open(names);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return "link watch: " + *error;
    }
    auto neighbours = NeighbourFlush::open();
    if (auto* error = std::get_if<std::string>(&neighbours)) {
        return *error;
    }
    std::unique_ptr<LinkPoller> poller{
        new LinkPoller(std::move(std::get<std::unique_ptr<LinkWatch>>(opened)),
                       std::move(std::get<std::unique_ptr<NeighbourFlush>>(neighbours)), detector,
                       std::move(locals_by_name), std::move(name_of_local), std::move(reported),
                       std::move(peers_by_name))};
    for (std::uint32_t i = 0; i < poller->watch_->size(); ++i) {
        poller->report(i, poller->watch_->status(i).state, now);
    }
    return poller;
}

void LinkPoller::report(std::uint32_t name, LinkState state, Nanos now) noexcept {
    // Up means up; down, missing (the interface is gone) and unknown all mean the adapter
    // cannot carry beats.
    for (const std::uint32_t local : locals_by_name_[name]) {
        detector_.on_local_adapter(local, state == LinkState::up, evidence::link, now);
    }
}

bool LinkPoller::poll(Nanos now) noexcept {
    const std::size_t count = watch_->poll(changes_);
    for (std::size_t i = 0; i < count; ++i) {
        const LinkChange& change = changes_[i];
        if (change.new_state == LinkState::up && change.old_state != LinkState::up) {
            // Before the detector hears of it: the first beats after this go out resolving.
            neighbours_->forget(watch_->status(change.index).ifindex, peers_by_name_[change.index]);
        }
        report(change.index, change.new_state, now);
    }
    return count != 0;
}

}  // namespace hb::policy
