# Shared by the scripts: where cargo puts what it builds.

# The folder cargo builds into: CARGO_TARGET_DIR, else build.target-dir of a
# .cargo/config.toml, else target/ in the workspace (cargo metadata knows which).
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
