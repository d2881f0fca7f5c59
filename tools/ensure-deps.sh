#!/bin/sh
# Install the Debian packages named as arguments that are missing.
# As root it runs apt-get; otherwise it prints the command and fails.
missing=""
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "offramp: missing Debian packages:$missing" >&2
    echo "offramp: install them with: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "offramp: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
