# Shared by the scripts: finding and installing Chromium and its WebDriver
# for the studio's browser tests (crates/mv-admin/tests/studio_browser.rs),
# which look in the same places: MV_CHROMIUM / MV_CHROMEDRIVER, then PATH.

source "$(dirname "${BASH_SOURCE[0]}")/install.sh"

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
    if ! apt_install chromium chromium-driver; then
        echo "Cannot install Chromium here (apt-get install chromium chromium-driver, or set MV_CHROMIUM and MV_CHROMEDRIVER); the browser tests will be skipped, and fail under CI=true." >&2
        return 0
    fi
    chromium_found || echo "Chromium was installed but chromium or chromedriver is still not found; set MV_CHROMIUM and MV_CHROMEDRIVER." >&2
}
