# Shared by the scripts: installing a program with the system's package
# manager (apt-get as root or through passwordless sudo, else Homebrew).

# system_install APT_PACKAGE BREW_PACKAGE WHAT: installs the package, or
# exits naming WHAT and how to install it by hand.
system_install() {
    local apt_package=$1 brew_package=$2 what=$3 sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        fi
    fi
    if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 || -n "$sudo" ]]; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$apt_package" >/dev/null
    elif command -v brew >/dev/null; then
        brew install "$brew_package"
    else
        echo "Cannot install $what here: install it (apt-get install $apt_package, brew install $brew_package)." >&2
        exit 1
    fi
}
