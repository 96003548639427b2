#!/usr/bin/env bash
# Checks the Prometheus rules' syntax and runs their unit tests with promtool:
# config/prometheus/rules.yml against config/prometheus/rules_test.yml.
# Needs only the promtool binary; no Prometheus server is started.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found. On Debian/Ubuntu it ships in the 'prometheus' package:" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus" >&2
  echo "(only the promtool binary is used; the prometheus service need not run)" >&2
  exit 1
fi

promtool check rules config/prometheus/rules.yml
promtool test rules config/prometheus/rules_test.yml
