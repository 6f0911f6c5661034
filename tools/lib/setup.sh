# Shared by tools/demo and tools/test: installs hb's build and test dependencies from Debian's
# archive when they are missing, then configures and builds into ./build. Sourced, not run.

hb_packages=(
    meson ninja-build pkg-config gcc g++ python3
    libsodium-dev libboost-dev libfmt-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
    libgtest-dev libgmock-dev libbenchmark-dev liburing-dev libdpdk-dev libmnl-dev libcap-ng-dev
    libsystemd-dev
    iproute2 ethtool
    # CI's fuzz targets (libFuzzer) are built with clang; its runtimes (libFuzzer, ASan, UBSan)
    # come in libclang-rt-14-dev. GCC's own sanitizer runtimes come with g++.
    clang libclang-rt-14-dev
)

hb_log() { printf '== %s\n' "$*" >&2; }

hb_install_packages() {
    local missing=()
    local package
    for package in "${hb_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$package")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        hb_log "missing packages: ${missing[*]} (run as root, or install them first)"
        return 1
    fi
    hb_log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures build/ (with any extra meson options given, also applied to an existing build/) and
# builds it.
hb_build() {
    local options=(--buildtype=debugoptimized "$@")
    # CI builds treat warnings as errors; a developer's build only shows them.
    [[ ${CI:-} == true ]] && options+=(-Dwerror=true)
    if [[ ! -f build/build.ninja ]]; then
        hb_log "configuring build/"
        meson setup build "${options[@]}" >/dev/null
    elif (($# > 0)); then
        # --reconfigure, not meson configure: it also knows options newer than build/.
        meson setup --reconfigure build "$@" >/dev/null
    fi
    hb_log "building"
    ninja -C build >/dev/null
}

# hb_setup [MESON_OPTION...]: packages, then build/; says how long each took.
hb_setup() {
    local started=$SECONDS
    hb_install_packages
    hb_log "packages: $((SECONDS - started)) s"
    started=$SECONDS
    hb_build "$@"
    hb_log "build/: $((SECONDS - started)) s"
}
