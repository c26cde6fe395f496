"""`bot.core.treefiles` never leaves the work tree: no symlink is followed, final or on the way, and
only regular files are read or written.

Each test builds a tree next to a `secret` folder outside it, makes the tree point at the secret in
some way, and checks that no byte of the secret comes back and nothing outside the tree changes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.core import treefiles

SECRET = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A folder outside the tree holding a key, like the worker's."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "key.pem").write_text(SECRET)
    return folder


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    return root


def outside_untouched(secret: Path) -> None:
    assert sorted(p.name for p in secret.iterdir()) == ["key.pem"]
    assert (secret / "key.pem").read_text() == SECRET


def test_a_regular_file_is_read(tree: Path) -> None:
    assert treefiles.read_text(tree, "src/app.py") == "print('hi')\n"
    assert treefiles.read_bytes(tree, "./src//app.py") == b"print('hi')\n"
    assert treefiles.kind(tree, "src/app.py") == "file" and treefiles.kind(tree, "src") == "folder"


def test_a_symlink_as_the_file_is_not_followed(tree: Path, secret: Path) -> None:
    (tree / "AGENTS.md").symlink_to(secret / "key.pem")
    with pytest.raises(treefiles.LinkInPath, match=r"AGENTS\.md is a symlink"):
        treefiles.read_bytes(tree, "AGENTS.md")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.read_head(tree, "AGENTS.md", 10)
    assert treefiles.kind(tree, "AGENTS.md") == "link"


def test_a_relative_symlink_inside_the_tree_is_not_followed_either(tree: Path) -> None:
    (tree / "alias.py").symlink_to("src/app.py")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.read_bytes(tree, "alias.py")


def test_a_symlinked_folder_in_the_middle_is_not_followed(tree: Path, secret: Path) -> None:
    (tree / "docs").mkdir()
    (tree / "docs" / "deep").symlink_to(secret)
    with pytest.raises(treefiles.LinkInPath, match="docs/deep is a symlink"):
        treefiles.read_bytes(tree, "docs/deep/key.pem")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.list_folder(tree, "docs/deep")
    assert treefiles.kind(tree, "docs/deep/key.pem") == "link"


@pytest.mark.parametrize("rel", ["../secrets/key.pem", "src/../../secrets/key.pem", "..", "/etc/passwd",
                                 "", ".", "src/\0app.py"])
def test_paths_that_are_not_plain_relative_ones_are_refused(tree: Path, secret: Path, rel: str) -> None:
    with pytest.raises(treefiles.OutsideTree):
        treefiles.read_bytes(tree, rel)
    with pytest.raises(treefiles.OutsideTree):
        treefiles.create_file(tree, rel, b"x")


def test_an_absolute_path_to_the_secret_is_refused_even_when_it_exists(tree: Path, secret: Path) -> None:
    with pytest.raises(treefiles.OutsideTree, match="absolute"):
        treefiles.read_bytes(tree, str(secret / "key.pem"))


@pytest.mark.parametrize("name", ["notes\u202etxt.md", "AGENTS\u200b.md", "a\u00a0b.py", "x\u2028y", "bell\x07",
                                  "\ufeffconf.py"])
def test_hard_to_see_names_are_refused_with_the_character_named(tree: Path, name: str) -> None:
    with pytest.raises(treefiles.HiddenName, match=r"U\+[0-9A-F]{4}"):
        treefiles.read_bytes(tree, f"src/{name}")
    with pytest.raises(treefiles.HiddenName):
        treefiles.create_file(tree, f"src/{name}", b"x")
    assert sorted(os.listdir(tree / "src")) == ["app.py"]


@pytest.mark.parametrize("lookalike", ["\uff0e\uff0e/secrets/key.pem", "src\u2215..\u2215..\u2215secrets",
                                       "src\uff0fapp.py"])
def test_lookalike_dots_and_slashes_are_only_names_in_the_tree(tree: Path, secret: Path, lookalike: str) -> None:
    """Fullwidth full stops and division or fullwidth slashes separate nothing: they stay one name."""
    with pytest.raises(treefiles.Missing):
        treefiles.read_bytes(tree, lookalike)
    treefiles.create_file(tree, lookalike + ".new", b"x")
    assert (tree / (lookalike + ".new")).resolve().is_relative_to(tree.resolve())
    outside_untouched(secret)


def test_accented_names_are_ordinary(tree: Path) -> None:
    treefiles.create_file(tree, "src/café_naïve.py", b"x = 1\n")
    assert treefiles.read_text(tree, "src/café_naïve.py") == "x = 1\n"


def test_a_fifo_is_refused_without_blocking(tree: Path) -> None:
    os.mkfifo(tree / "report.xml")  # opening it for reading would wait for a writer forever
    with pytest.raises(treefiles.NotRegularFile, match="FIFO"):
        treefiles.read_bytes(tree, "report.xml")
    assert treefiles.kind(tree, "report.xml") == "other"


def test_a_device_is_refused(tree: Path) -> None:
    os.mknod(tree / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: endless bytes
    with pytest.raises(treefiles.NotRegularFile, match="character device"):
        treefiles.read_bytes(tree, "zero")


def test_a_folder_is_not_a_file(tree: Path) -> None:
    with pytest.raises(treefiles.NotRegularFile, match="folder"):
        treefiles.read_bytes(tree, "src")


def test_a_file_on_the_way_is_reported_as_missing(tree: Path) -> None:
    with pytest.raises(treefiles.Missing, match=r"src/app\.py is a file, not a folder"):
        treefiles.read_bytes(tree, "src/app.py/x")


def test_the_size_is_bounded(tree: Path) -> None:
    (tree / "big.txt").write_bytes(b"a" * 1001)
    with pytest.raises(treefiles.TooLarge, match="larger than 1000 bytes"):
        treefiles.read_bytes(tree, "big.txt", limit=1000)
    assert treefiles.read_bytes(tree, "big.txt", limit=1001) == b"a" * 1001
    assert treefiles.read_head(tree, "big.txt", 10) == b"a" * 10


def test_the_root_itself_may_be_reached_through_a_link(tmp_path: Path, tree: Path) -> None:
    """The worker chose the root; only what is below it belongs to the repository."""
    (tmp_path / "alias").symlink_to(tree)
    assert treefiles.read_text(tmp_path / "alias", "src/app.py") == "print('hi')\n"


def test_listing_shows_links_as_links(tree: Path, secret: Path) -> None:
    (tree / "docs").symlink_to(secret)
    os.mkfifo(tree / "pipe")
    assert treefiles.list_folder(tree, "") == [("docs", "link"), ("pipe", "other"), ("src", "folder")]


def test_no_write_goes_through_a_linked_folder(tree: Path, secret: Path) -> None:
    (tree / "docs").symlink_to(secret)
    with pytest.raises(treefiles.LinkInPath, match="docs is a symlink"):
        treefiles.create_file(tree, "docs/x.md", b"planted")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.create_file(tree, "docs/new/x.md", b"planted")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.overwrite_file(tree, "docs/key.pem", b"overwritten")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.remove_file(tree, "docs/key.pem")
    outside_untouched(secret)


def test_no_write_goes_through_a_linked_file(tree: Path, secret: Path) -> None:
    (tree / "key.pem").symlink_to(secret / "key.pem")
    (tree / "dangling.py").symlink_to(secret / "new.py")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.overwrite_file(tree, "key.pem", b"overwritten")
    with pytest.raises(treefiles.LinkInPath):
        treefiles.remove_file(tree, "key.pem")
    with pytest.raises(treefiles.Exists, match="a symlink"):
        treefiles.create_file(tree, "dangling.py", b"planted")  # O_EXCL | O_NOFOLLOW: not created at the target
    outside_untouched(secret)
    assert (tree / "key.pem").is_symlink()


def test_create_makes_folders_and_removes_them_again_when_it_fails(tree: Path, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    treefiles.create_file(tree, "pkg/sub/mod.py", b"x = 1\n")
    assert (tree / "pkg/sub/mod.py").read_bytes() == b"x = 1\n"

    def disk_full(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(treefiles, "_write_all", disk_full)
    with pytest.raises(OSError, match="No space"):
        treefiles.create_file(tree, "new1/new2/x.py", b"x")
    assert not (tree / "new1").exists()
    assert sorted(os.listdir(tree)) == ["pkg", "src"]


def test_overwrite_keeps_the_mode_without_special_bits(tree: Path) -> None:
    script = tree / "run.sh"
    script.write_text("echo 1\n")
    script.chmod(0o4755)
    treefiles.overwrite_file(tree, "run.sh", b"echo 2\n")
    assert script.read_text() == "echo 2\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert sorted(os.listdir(tree)) == ["run.sh", "src"]  # no temporary file left


def test_a_folder_swapped_for_a_link_between_two_reads_is_caught(tree: Path, secret: Path) -> None:
    """What a test run can do between two tool calls: replace a tracked folder by a link."""
    assert treefiles.read_text(tree, "src/app.py") == "print('hi')\n"
    (tree / "src" / "app.py").unlink()
    (tree / "src").rmdir()
    (tree / "src").symlink_to(secret)
    (secret / "app.py").write_text(SECRET)
    with pytest.raises(treefiles.LinkInPath, match="src is a symlink"):
        treefiles.read_text(tree, "src/app.py")
