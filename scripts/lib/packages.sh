# Shared by the scripts: installing the system's packages where this user may.

# apt_install PACKAGE...: installs with apt-get, as root or through a sudo
# that needs no password; fails (installing nothing) where neither is there.
apt_install() {
    command -v apt-get >/dev/null || return 1
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null && sudo -n true 2>/dev/null || return 1
        sudo="sudo -n"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
