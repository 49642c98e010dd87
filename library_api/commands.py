"""``peerpipe library …`` and ``peerpipe admin grant|revoke`` commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from library_api.app import BASE_PATH, create_app
from library_api.database import create_engine, database_url, migrate, safe_url
from library_api.domain import AcquisitionType
from library_api.errors import LibraryError
from peerpipe.config import Config
from peerpipe.logs import fields
from peerpipe.service import run_event_loop, serve_forever
from peerpipe.tokens import Role, mint_token

ADMIN_CLIENT_ID = "admin-cli"
REQUEST_TIMEOUT = 10.0
log = logging.getLogger("library_api.commands")


class AdminCallFailed(Exception):
    """The library API could not be reached or refused the call; the message is one line."""


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    library = subparsers.add_parser("library", help="the library API (ownership, passkeys)")
    actions = library.add_subparsers(dest="library_command", metavar="COMMAND", required=True)
    serve = actions.add_parser("serve", help="serve the library API on library host/port")
    serve.set_defaults(handler=serve_library)
    upgrade = actions.add_parser("migrate", help="bring the library database to the newest schema")
    upgrade.set_defaults(handler=migrate_library)


def register_admin(admin_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grant = admin_subparsers.add_parser("grant", help="give a user a game (library API)")
    grant.add_argument("--user", required=True, help="user id")
    grant.add_argument("--game", required=True, help="game id")
    grant.add_argument(
        "--type",
        dest="acquisition_type",
        default=str(AcquisitionType.PURCHASE),
        choices=[str(kind) for kind in AcquisitionType],
        help="how the user acquired it (default: purchase)",
    )
    grant.set_defaults(handler=grant_game)
    revoke = admin_subparsers.add_parser("revoke", help="take a game back (refund; library API)")
    revoke.add_argument("--user", required=True, help="user id")
    revoke.add_argument("--game", required=True, help="game id")
    revoke.set_defaults(handler=revoke_game)


def serve_library(args: argparse.Namespace, config: Config) -> int:
    try:
        app = create_app(config)
        log.info(
            "library API starting",
            extra=fields(host=config.library.host, port=config.library.port),
        )
        run_event_loop(serve_forever(app, config.library.host, config.library.port))
    except LibraryError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot serve on {config.library.host}:{config.library.port}: {exc}")
    return 0


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def migrate_library(args: argparse.Namespace, config: Config) -> int:
    url = database_url(config)
    try:
        asyncio.run(_migrate(url))
    except LibraryError as exc:
        return _fail(str(exc))
    print(f"library database {safe_url(url)} is at the newest schema")
    return 0


def grant_game(args: argparse.Namespace, config: Config) -> int:
    body = {"user_id": args.user, "game_id": args.game, "acquisition_type": args.acquisition_type}
    try:
        _call_library(config, "POST", f"{BASE_PATH}/internal/ownership", body)
    except AdminCallFailed as exc:
        return _fail(str(exc))
    print(f"granted game {args.game} to user {args.user} ({args.acquisition_type})")
    return 0


def revoke_game(args: argparse.Namespace, config: Config) -> int:
    user, game = (urllib.parse.quote(part, safe="") for part in (args.user, args.game))
    try:
        _call_library(config, "DELETE", f"{BASE_PATH}/internal/ownership/{user}/{game}")
    except AdminCallFailed as exc:
        return _fail(str(exc))
    print(f"revoked game {args.game} from user {args.user}")
    return 0


def _call_library(
    config: Config, method: str, path: str, body: dict[str, Any] | None = None
) -> None:
    """Call the running library API as the admin CLI (a service token)."""
    if not config.platform_key:
        raise AdminCallFailed("the platform key is empty: cannot mint a service token")
    base = config.library.public_url.rstrip("/")
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {mint_token(config.platform_key, ADMIN_CLIENT_ID, Role.SERVICE)}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT):
            return
    except urllib.error.HTTPError as exc:
        raise AdminCallFailed(f"library API refused: {_problem_text(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AdminCallFailed(f"library API at {base} is unreachable ({reason})") from None


def _problem_text(error: urllib.error.HTTPError) -> str:
    try:
        problem = json.loads(error.read() or b"{}")
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = problem.get("detail") or problem.get("title") or error.reason
    return f"{error.code} {detail}"
