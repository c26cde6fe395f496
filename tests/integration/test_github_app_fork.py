"""A worker learns the bot's login once, before RQ forks a process per job, and shares no socket with them."""

from __future__ import annotations

import os
from pathlib import Path

from bot.core.redact import Redactor
from bot.github.client import GitHubApp
from standins.github import FakeGitHub, generate_app_key
from standins.server import ServerThread


def test_jobs_forked_after_learning_the_login_do_not_ask_again(tmp_path: Path) -> None:
    fake = FakeGitHub(tmp_path / "gh")
    with ServerThread(fake.app) as server:
        fake.bind(server.url)
        private, public = generate_app_key()
        fake.add_app(7, public, slug="smith")
        fake.add_installation(9, "acme")
        app = GitHubApp(7, private, fake.api_url, Redactor(), spacing=(0.0, 0.0))
        assert app.learn_bot_login() == "smith[bot]"
        for _ in range(2):  # two jobs, one after the other, as one RQ worker runs them
            pid = os.fork()
            if pid == 0:  # pragma: no cover (the child)
                ok = app.bot_login() == "smith[bot]" and bool(app.installation_token(9))
                os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        fake.close()
    assert [x.path for x in fake.exchanges if x.path == "/app"] == ["/app"]
    assert len([x for x in fake.exchanges if x.path.endswith("/access_tokens")]) == 2
