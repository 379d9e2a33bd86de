#!/bin/sh
# Run by `npm test` (pretest): the Redis tests start real redis-server processes.
# Installs Debian's redis-server package when it is missing (CI machines).
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
echo "redis-server is missing: installing Debian's redis-server package for the Redis tests" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
if $SUDO apt-get update && $SUDO apt-get install -y redis-server; then
  exit 0
fi
echo "Could not install redis-server (apt-get failed). Install it (apt-get install redis-server) and run npm test again." >&2
exit 1
