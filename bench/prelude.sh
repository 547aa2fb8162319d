# Sourced by the bench/*.sh scripts: installs wrk when missing (the Debian package) and
# builds the release binary the harnesses drive.
if ! command -v wrk >/dev/null; then
    echo "bench: installing wrk (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi
cargo build --release --quiet
