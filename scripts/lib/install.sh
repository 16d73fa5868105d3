# Shared by the scripts: installing a program with the system's package
# manager (apt-get as root or through passwordless sudo, else Homebrew).

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

# system_install APT_PACKAGE BREW_PACKAGE WHAT: installs the package, or
# exits naming WHAT and how to install it by hand.
system_install() {
    local apt_package=$1 brew_package=$2 what=$3
    if apt_install "$apt_package"; then
        :
    elif command -v brew >/dev/null; then
        brew install "$brew_package"
    else
        echo "Cannot install $what here: install it (apt-get install $apt_package, brew install $brew_package)." >&2
        exit 1
    fi
}
