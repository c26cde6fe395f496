"""`issuesmith setup`: register the GitHub App from `app.yml` through GitHub's app-manifest flow and save its settings.

Serves a page on this machine with a button that posts the manifest to GitHub's "new GitHub
App" page; GitHub creates the app and sends the browser back here with a one-time code, which
is exchanged for the app's id, private key and webhook secret. The key goes to a file of its
own and the settings into `.env` (both mode 0600; other lines of `.env` are kept). Secrets are
never printed. Works with GitHub Enterprise Server: `--github-url https://HOST`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.cli.appsetup.exchange import NewApp, convert, save
from bot.cli.appsetup.manifest import PUBLIC_WEB, api_url_for, load_manifest, new_app_url
from bot.cli.appsetup.server import CALLBACK, Flow, SetupServer, new_state

DEFAULT_PORT = 3000
KEY_FILE = "issuesmith.private-key.pem"


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="issuesmith setup", description=__doc__.splitlines()[0])
    parser.add_argument("--webhook-url", required=True,
                        help="where GitHub will send webhooks: https://YOUR-HOST/webhook")
    parser.add_argument("--github-url", default=PUBLIC_WEB,
                        help="GitHub's web address (default https://github.com; Enterprise Server: https://HOST)")
    parser.add_argument("--api-url", default=None,
                        help="GitHub's REST API (default: https://api.github.com for github.com, "
                             "else GITHUB_URL/api/v3)")
    parser.add_argument("--org", default=None, help="register the app for this organization instead of your account")
    parser.add_argument("--name", default=None, help="the app's name (default: app.yml's; names are unique on GitHub)")
    parser.add_argument("--manifest", type=Path, default=Path("app.yml"), help="the manifest (default app.yml)")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="settings file to update (default .env)")
    parser.add_argument("--key-file", type=Path, default=None,
                        help=f"where to write the private key (default {KEY_FILE} next to the env file)")
    parser.add_argument("--host", default="127.0.0.1", help="address of the local page (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port of the local page (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--no-browser", action="store_true", help="print the local page's address, do not open it")
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (default: wait)")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None,
         open_browser: Callable[[str], object] = webbrowser.open) -> int:
    """Run the registration; 0 once the app is registered and saved, 1 on a setup error or timeout."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    api_url = (args.api_url or api_url_for(args.github_url)).rstrip("/")
    key_file = args.key_file or args.env_file.resolve().parent / KEY_FILE

    def finish(code: str) -> NewApp:
        app = convert(api_url, code)
        save(app, api_url, args.env_file, key_file)
        return app

    state = new_state()
    flow = Flow(new_app_url(args.github_url, state, args.org), {}, state, finish)
    try:
        server = SetupServer((args.host, args.port), flow)
    except OSError as exc:
        print(f"issuesmith setup: cannot listen on {args.host}:{args.port}: {exc.strerror}; try --port", file=out)
        return 1
    local = f"http://{args.host}:{server.server_address[1]}"
    try:
        flow.manifest = load_manifest(args.manifest, webhook_url=args.webhook_url,
                                      redirect_url=f"{local}{CALLBACK}", name=args.name)
    except (OSError, ValueError) as exc:
        server.server_close()
        print(f"issuesmith setup: cannot read the manifest {args.manifest}: {exc}", file=out)
        return 1
    serving = threading.Thread(target=server.serve_forever, name="issuesmith-setup", daemon=True)
    serving.start()
    print(f"Open {local}/ to register the GitHub App on {args.github_url.rstrip('/')}"
          f"{' for ' + args.org if args.org else ''}.", file=out, flush=True)
    if not args.no_browser:
        open_browser(f"{local}/")
    try:
        finished = server.done.wait(args.timeout)
    except KeyboardInterrupt:
        finished = False
    server.shutdown()
    server.server_close()
    app = flow.result
    if not finished or app is None:
        print("issuesmith setup: no app was registered; nothing was written.", file=out)
        return 1
    print(f"Registered the GitHub App {app.slug} (id {app.id}).\n"
          f"Wrote the private key to {key_file} and the settings to {args.env_file} (both mode 0600).\n"
          f"Now install it: {app.install_url}", file=out)
    return 0
