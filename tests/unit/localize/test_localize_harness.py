"""The context benchmark end to end on a tiny built-in instance set, and the sdist materializer."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[3] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()


def commit_files(root: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def patch_of(path: str) -> str:
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"


def make_fixture(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repos" / "acme__shop"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    first = commit_files(repo, {
        "shop/cart.py": "class Cart:\n    def total_price(self):\n        return 0\n",
        "shop/payment.py": "def charge(card, amount):\n    return amount\n",
        "shop/shipping.py": "def ship_order(order, address):\n    return address\n",
        "tests/test_cart.py": "from shop.cart import Cart\n\ndef test_total():\n    assert Cart().total_price() == 0\n",
    }, "one")
    second = commit_files(repo, {"shop/refund.py": "def refund_payment(payment):\n    return payment\n"}, "two")
    fake = "f" * 40
    git(repo, "tag", f"swebench/{fake}", second)  # what bench/materialize.py writes
    instances = [
        {"instance_id": "acme__shop-1", "repo": "acme/shop", "base_commit": first,
         "problem_statement": "Cart total is 0\n`Cart.total_price()` returns 0 with items", "patch": patch_of(
             "shop/cart.py")},
        {"instance_id": "acme__shop-2", "repo": "acme/shop", "base_commit": fake,
         "problem_statement": "refund_payment ignores the payment\nCalling `refund_payment(p)` returns p.",
         "patch": patch_of("shop/refund.py") + patch_of("shop/payment.py")},
        {"instance_id": "acme__other-1", "repo": "acme/other", "base_commit": first,
         "problem_statement": "x", "patch": patch_of("a.py")},
    ]
    data = tmp_path / "instances.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in instances))
    return data, tmp_path / "repos"


def test_harness_end_to_end(tmp_path: Path) -> None:
    localize = load("localize")
    data, repos = make_fixture(tmp_path)
    out = tmp_path / "out" / "result"
    args = ["--instances", str(data), "--repos", str(repos), "--out", str(out),
            "--scratch", str(tmp_path / "scratch"), "--cache-dir", str(tmp_path / "cache")]
    assert localize.main(args) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    summary, rows = report["summary"], {r["instance_id"]: r for r in report["instances"]}
    assert summary["instances"] == 3 and summary["ran"] == 2
    assert summary["not_run"] == {"acme__other-1": "repository not found"}
    assert rows["acme__shop-1"]["ranks"] == {"shop/cart.py": 1}
    assert rows["acme__shop-2"]["ranks"]["shop/refund.py"] == 1  # resolved through the swebench/ tag
    assert rows["acme__shop-2"]["in_context"]["12000"]["shop/refund.py"] is True
    assert summary["hit@1"] == 0.5 and summary["hit@10"] == 1.0  # shop-2 needs both files in the top k
    assert summary["recall_in_context@4000"] == 1.0
    assert summary["repositories"]["acme/shop"]["tree_files"] == 5
    assert "| acme__other-1 | not run: repository not found |" in out.with_suffix(".md").read_text()
    assert localize.main([*args, "--repo", "acme/other"]) == 1  # nothing could run
    assert localize.main([*args, "--limit", "1"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["summary"]["instances"] == 1


def test_gold_files_of_a_patch() -> None:
    localize = load("localize")
    patch = patch_of("a/x.py") + "diff --git a/new.py b/new.py\nnew file mode 100644\n" + patch_of("a/x.py")
    assert localize.gold_files(patch) == ["a/x.py", "new.py"]


def make_sdist(path: Path, top: str, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_materializer_commits_releases_without_packaging_metadata(tmp_path: Path) -> None:
    materialize = load("materialize")
    assert materialize.series_requirement("shop", "0.6") == "shop==0.6.*"
    assert materialize.series_requirement("shop", "1.2.3") == "shop==1.2.3"
    assert materialize.pypi_name("pvlib/pvlib-python") == "pvlib" and materialize.pypi_name("a/b") == "b"
    old = make_sdist(tmp_path / "shop-0.6.1.tar.gz", "shop-0.6.1", {
        "PKG-INFO": "x", "src/shop.egg-info/SOURCES.txt": "x", "src/shop/cart.py": "A = 1\n",
        "src/shop/gone.py": "B = 1\n"})
    new = make_sdist(tmp_path / "shop-0.7.0.tar.gz", "shop-0.7.0", {"src/shop/cart.py": "A = 2\n"})
    assert materialize.release_version(old) == "0.6.1"
    repo = tmp_path / "repos" / "acme__shop"
    first = materialize.commit_release(repo, materialize.Release("shop", "0.6.1", old))
    second = materialize.commit_release(repo, materialize.Release("shop", "0.7.0", new))
    assert git(repo, "ls-tree", "-r", "--name-only", first).split() == ["src/shop/cart.py", "src/shop/gone.py"]
    assert git(repo, "ls-tree", "-r", "--name-only", second).split() == ["src/shop/cart.py"]
    assert git(repo, "rev-parse", f"{second}~1") == first
    assert materialize.commit_release(repo, materialize.Release("shop", "0.6.1", old)) == first  # idempotent
