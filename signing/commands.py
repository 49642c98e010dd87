"""``peerpipe admin keys …`` and ``peerpipe admin trust …``: keys and the root of trust.

Passphrases come from ``PEERPIPE_KEY_PASSPHRASE`` when it is set (scripts, the demo), else
from an interactive prompt; they are never command-line arguments, which other users can see.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from peerpipe.config import Config
from signing.errors import KeyFileError, TrustError
from signing.keys import (
    generate_key,
    is_encrypted_key_file,
    load_public_key,
    load_signer,
    public_key_path,
    save_private_key,
)
from signing.repository import TrustRepository
from signing.repository_summary import describe_repository
from signing.tuf_api import Signer

PASSPHRASE_VARIABLE = "PEERPIPE_KEY_PASSPHRASE"


def register_admin(
    admin_subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``keys generate`` and ``trust init|add-publisher|show`` under ``admin``."""
    keys = admin_subparsers.add_parser("keys", help="Ed25519 signing keys")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    generate = key_commands.add_parser("generate", help="create a key pair (FILE and FILE.pub)")
    generate.add_argument("--out", type=Path, required=True, metavar="FILE")
    generate.add_argument(
        "--no-passphrase", action="store_true", help="store the private key unencrypted"
    )
    _add_json(generate)
    generate.set_defaults(handler=generate_keys)

    trust = admin_subparsers.add_parser("trust", help="the TUF root of trust (config.trust_dir)")
    trust_commands = trust.add_subparsers(dest="trust_command", metavar="COMMAND", required=True)
    init = trust_commands.add_parser("init", help="create the trust repository")
    init.add_argument("--root-key", type=Path, action="append", required=True, metavar="FILE")
    init.add_argument("--threshold", type=int, default=1, metavar="N")
    _add_json(init)
    init.set_defaults(handler=init_trust)

    add = trust_commands.add_parser("add-publisher", help="delegate games to a publisher key")
    add.add_argument("name")
    add.add_argument("--key", type=Path, required=True, metavar="PUBFILE")
    add.add_argument("--games", required=True, metavar="G1,G2")
    add.add_argument("--admin-key", type=Path, action="append", required=True, metavar="FILE")
    _add_json(add)
    add.set_defaults(handler=add_publisher)

    show = trust_commands.add_parser("show", help="roles, versions, expiries and publishers")
    _add_json(show)
    show.set_defaults(handler=show_trust)


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def generate_keys(args: argparse.Namespace, config: Config) -> int:
    try:
        passphrase = _new_passphrase(args.no_passphrase)
        key = generate_key()
        save_private_key(key, args.out, passphrase)
        keyid = load_public_key(public_key_path(args.out)).keyid
    except (TrustError, OSError, EOFError) as error:
        return _fail("keys generate", error)
    result = {
        "private_key": str(args.out),
        "public_key": str(public_key_path(args.out)),
        "keyid": keyid,
        "encrypted": passphrase is not None,
    }
    _report(args, result, f"wrote {args.out} and {public_key_path(args.out)} (keyid {keyid})")
    return 0


def init_trust(args: argparse.Namespace, config: Config) -> int:
    repository = TrustRepository(config.trust_dir)
    try:
        if repository.is_initialised():
            raise TrustError(f"trust repository {config.trust_dir} is already initialised")
        signers = [_signer(path) for path in args.root_key]
        repository.init(signers, threshold=args.threshold)
    except (TrustError, OSError, EOFError) as error:
        return _fail("trust init", error)
    root_file = config.trust_dir / "metadata" / "1.root.json"
    result = {
        "trust_dir": str(config.trust_dir),
        "root_file": str(root_file),
        "root_keyids": [signer.public_key.keyid for signer in signers],
        "threshold": args.threshold,
    }
    _report(args, result, f"initialised {config.trust_dir}; pin {root_file} in agents")
    return 0


def add_publisher(args: argparse.Namespace, config: Config) -> int:
    games = [game.strip() for game in args.games.split(",") if game.strip()]
    try:
        if not games:
            raise TrustError(f"--games {args.games!r} names no game")
        key = load_public_key(args.key)
        admins = [_signer(path) for path in args.admin_key]
        TrustRepository(config.trust_dir).add_publisher(args.name, key, games, admins)
    except (TrustError, OSError, EOFError) as error:
        return _fail("trust add-publisher", error)
    result = {"publisher": args.name, "keyid": key.keyid, "games": games}
    _report(args, result, f"publisher {args.name} may now sign {', '.join(games)}")
    return 0


def show_trust(args: argparse.Namespace, config: Config) -> int:
    try:
        summary = describe_repository(config.trust_dir)
    except (TrustError, OSError) as error:
        return _fail("trust show", error)
    if args.json:
        print(json.dumps(asdict(summary), sort_keys=True))
        return 0
    print(f"trust repository {summary.path}")
    for role in summary.roles:
        print(
            f"  {role.name:<10} v{role.version:<4} expires {role.expires}  "
            f"{role.threshold}-of-{len(role.keyids)} keys"
        )
    for publisher in summary.publishers:
        latest = ", ".join(f"{game}@{release}" for game, release in publisher.latest.items())
        print(
            f"  publisher {publisher.name}: games {', '.join(publisher.games)}; "
            f"latest {latest or 'none'}"
        )
    return 0


def _signer(path: Path) -> Signer:
    passphrase = _existing_passphrase(path) if is_encrypted_key_file(path) else None
    return load_signer(path, passphrase)


def _existing_passphrase(path: Path) -> bytes:
    value = os.environ.get(PASSPHRASE_VARIABLE)
    if value is None:
        value = getpass.getpass(f"Passphrase for {path}: ")
    return value.encode("utf-8")


def _new_passphrase(unencrypted: bool) -> bytes | None:
    if unencrypted:
        return None
    value = os.environ.get(PASSPHRASE_VARIABLE)
    if value is None:
        value = getpass.getpass("Passphrase for the new key: ")
        if getpass.getpass("Repeat the passphrase: ") != value:
            raise KeyFileError("the passphrases do not match")
    if not value:
        raise KeyFileError("empty passphrase; use --no-passphrase for an unencrypted key")
    return value.encode("utf-8")


def _report(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    print(json.dumps(result, sort_keys=True) if args.json else text)


def _fail(command: str, error: BaseException) -> int:
    message = str(error) or type(error).__name__
    if isinstance(error, EOFError):
        message = "no passphrase given (set PEERPIPE_KEY_PASSPHRASE or run interactively)"
    elif isinstance(error, OSError) and error.strerror:
        message = f"{error.filename or ''}: {error.strerror}".lstrip(": ")
    print(f"peerpipe admin {command}: {message}", file=sys.stderr)
    return 2
