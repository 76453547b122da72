#!/usr/bin/env bash
# install-engine.sh NAME VERSION DIR
# Puts release VERSION of NAME (terraform, tofu or terragrunt) in DIR, checked against the
# release's own SHA256SUMS. A binary of that version already on PATH (a self-hosted runner's)
# is linked instead of downloaded.
set -euo pipefail
name=$1
version=${2#v}
dir=$3
mkdir -p "$dir"

if found=$(command -v "$name" 2>/dev/null); then
  case "$name" in
    terragrunt) have=$("$found" --version 2>/dev/null | sed -n 1p || true) ;;
    *) have=$("$found" version 2>/dev/null | sed -n 1p || true) ;;
  esac
  if [[ "$have" =~ v${version//./\\.}([^0-9.]|$) ]]; then
    echo "$name $version: using $found"
    ln -sf "$found" "$dir/$name"
    exit 0
  fi
fi

case "${RUNNER_OS:-Linux}" in
  Linux) os=linux ;;
  macOS) os=darwin ;;
  *) echo "::error title=infra-pipeline::$name: unsupported runner OS ${RUNNER_OS}" >&2; exit 1 ;;
esac
case "${RUNNER_ARCH:-X64}" in
  X64) arch=amd64 ;;
  ARM64) arch=arm64 ;;
  *) echo "::error title=infra-pipeline::$name: unsupported runner arch ${RUNNER_ARCH}" >&2; exit 1 ;;
esac
case "$name" in
  terraform)
    base="https://releases.hashicorp.com/terraform/$version"
    asset="terraform_${version}_${os}_${arch}.zip"
    sums="terraform_${version}_SHA256SUMS" ;;
  tofu)
    base="https://github.com/opentofu/opentofu/releases/download/v$version"
    asset="tofu_${version}_${os}_${arch}.zip"
    sums="tofu_${version}_SHA256SUMS" ;;
  terragrunt)
    base="https://github.com/gruntwork-io/terragrunt/releases/download/v$version"
    asset="terragrunt_${os}_${arch}"
    sums="SHA256SUMS" ;;
  *) echo "::error title=infra-pipeline::unknown engine $name" >&2; exit 1 ;;
esac
# A mirror laid out as MIRROR/NAME/VERSION/FILE (air-gapped runners; the tests use one).
if [[ -n "${INFRA_RELEASES_MIRROR:-}" ]]; then
  base="${INFRA_RELEASES_MIRROR%/}/$name/$version"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/$asset" "$base/$asset"
curl -fsSL --retry 3 -o "$tmp/SUMS" "$base/$sums"
if ! grep -q " $asset\$" "$tmp/SUMS"; then
  echo "::error title=infra-pipeline::$name $version: $asset is not listed in $sums" >&2
  exit 1
fi
if command -v sha256sum >/dev/null; then check=(sha256sum -c -); else check=(shasum -a 256 -c -); fi
if ! (cd "$tmp" && grep " $asset\$" SUMS | "${check[@]}" >/dev/null); then
  echo "::error title=infra-pipeline::$name $version: $asset does not match its SHA256SUMS" >&2
  exit 1
fi
if [[ "$asset" == *.zip ]]; then
  unzip -o -q "$tmp/$asset" "$name" -d "$dir"
  chmod 0755 "$dir/$name"
else
  install -m 0755 "$tmp/$asset" "$dir/$name"
fi
echo "$name $version: installed from $base/$asset (sha256 verified)"
