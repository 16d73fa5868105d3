# Shared by the scripts: finding and installing Chromium and its WebDriver
# for the studio's browser tests (crates/mv-admin/tests/studio_browser.rs),
# which look in the same places: MV_CHROMIUM / MV_CHROMEDRIVER, then PATH.

chromium_found() {
    local browser=${MV_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
    local driver=${MV_CHROMEDRIVER:-$(command -v chromedriver || true)}
    [[ -n "$browser" && -x "$browser" && -n "$driver" && -x "$driver" ]]
}

ensure_chromium_installed() {
    if chromium_found; then
        return
    fi
    echo "Chromium and chromedriver are missing (the studio's browser tests need them); installing them." >&2
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        fi
    fi
    if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 || -n "$sudo" ]]; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "Cannot install Chromium here (apt-get install chromium chromium-driver, or set MV_CHROMIUM and MV_CHROMEDRIVER); the browser tests will be skipped, and fail under CI=true." >&2
        return 0
    fi
    chromium_found || echo "Chromium was installed but chromium or chromedriver is still not found; set MV_CHROMIUM and MV_CHROMEDRIVER." >&2
}
