"""``peerpipe admin keys …`` and ``peerpipe admin trust …``: keys and the root of trust.

Passphrases come from ``PEERPIPE_KEY_PASSPHRASE`` when it is set (scripts, the demo), else
from an interactive prompt; they are never command-line arguments, which other users can see.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from signing.tuf_api import Key, Signer

if TYPE_CHECKING:  # argparse's subparser action is generic for type checkers only
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def register_admin(
    admin_subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``keys generate`` and ``trust init|add-publisher|remove-publisher|revoke-key|
    rotate-root|refresh|show`` under ``admin``."""
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
    _register_setup(trust_commands)
    _register_key_changes(trust_commands)
    _register_operations(trust_commands)


def _register_setup(trust_commands: Commands) -> None:
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


def _register_key_changes(trust_commands: Commands) -> None:
    remove = trust_commands.add_parser("remove-publisher", help="withdraw a publisher's games")
    remove.add_argument("name")
    _add_admin_keys(remove)
    remove.set_defaults(handler=remove_publisher)

    revoke = trust_commands.add_parser(
        "revoke-key", help="revoke a publisher or online key and re-sign what must be"
    )
    revoke.add_argument("keyid", help="key id, or a unique prefix of at least 8 characters")
    revoke.add_argument(
        "--new-key",
        type=Path,
        metavar="FILE",
        help="publisher's replacement: a private key re-signs its releases now, a .pub key "
        "waits for its next publish",
    )
    _add_admin_keys(revoke)
    revoke.set_defaults(handler=revoke_key)

    rotate = trust_commands.add_parser(
        "rotate-root", help="replace the admin (root and targets) keys"
    )
    rotate.add_argument("--old-key", type=Path, action="append", required=True, metavar="FILE")
    rotate.add_argument("--new-key", type=Path, action="append", required=True, metavar="FILE")
    rotate.add_argument("--threshold", type=int, default=None, metavar="N")
    _add_json(rotate)
    rotate.set_defaults(handler=rotate_root)


def _register_operations(trust_commands: Commands) -> None:
    renew = trust_commands.add_parser(
        "renew", help="re-sign root and targets, or publisher roles, before they expire"
    )
    renew.add_argument("--admin-key", type=Path, action="append", default=[], metavar="FILE")
    renew.add_argument("--publisher-key", type=Path, action="append", default=[], metavar="FILE")
    _add_json(renew)
    renew.set_defaults(handler=renew_roles)

    refresh = trust_commands.add_parser(
        "refresh", help="re-sign the timestamp (online key) if it expires soon"
    )
    refresh.add_argument("--margin-hours", type=float, default=2.0, metavar="H")
    _add_json(refresh)
    refresh.set_defaults(handler=refresh_trust)

    show = trust_commands.add_parser("show", help="roles, keys, thresholds, expiries, versions")
    _add_json(show)
    show.set_defaults(handler=show_trust)


def _add_admin_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-key", type=Path, action="append", required=True, metavar="FILE")
    _add_json(parser)


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def generate_keys(args: argparse.Namespace, config: Config) -> int:
    try:
        passphrase = _new_passphrase(args.no_passphrase, config)
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
        signers = [_signer(path, config) for path in args.root_key]
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
        admins = [_signer(path, config) for path in args.admin_key]
        TrustRepository(config.trust_dir).add_publisher(args.name, key, games, admins)
    except (TrustError, OSError, EOFError) as error:
        return _fail("trust add-publisher", error)
    result = {"publisher": args.name, "keyid": key.keyid, "games": games}
    _report(args, result, f"publisher {args.name} may now sign {', '.join(games)}")
    return 0


def remove_publisher(args: argparse.Namespace, config: Config) -> int:
    try:
        admins = [_signer(path, config) for path in args.admin_key]
        games = TrustRepository(config.trust_dir).remove_publisher(args.name, admins)
    except (TrustError, OSError, EOFError) as error:
        return _fail("trust remove-publisher", error)
    result = {"publisher": args.name, "games": games}
    _report(args, result, f"publisher {args.name} removed; {', '.join(games)} now unpublished")
    return 0


def revoke_key(args: argparse.Namespace, config: Config) -> int:
    try:
        admins = [_signer(path, config) for path in args.admin_key]
        new_key, new_signer = _replacement(args.new_key, config)
        revocation = TrustRepository(config.trust_dir).revoke_key(
            args.keyid, admins, new_key=new_key, new_signer=new_signer
        )
    except (TrustError, OSError, EOFError) as error:
        return _fail("trust revoke-key", error)
    result = asdict(revocation)
    replaced = revocation.replacement_keyid
    _report(
        args,
        result,
        f"key {revocation.keyid} revoked from {', '.join(revocation.removed_from)}"
        + (f"; replaced by {replaced}" if replaced else "")
        + f"; re-signed {', '.join(revocation.resigned)}",
    )
    return 0


def _replacement(path: Path | None, config: Config) -> tuple[Key | None, Signer | None]:
    """A publisher's new key: a private key file (re-sign now) or a public one."""
    if path is None:
        return None, None
    try:
        is_private = b"PRIVATE KEY" in path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    if is_private:
        signer = _signer(path, config)
        return signer.public_key, signer
    return load_public_key(path), None


def rotate_root(args: argparse.Namespace, config: Config) -> int:
    try:
        if args.threshold is not None and args.threshold < 1:
            raise TrustError(f"--threshold {args.threshold} must be at least 1")
        old = [_signer(path, config) for path in args.old_key]
        new = [_signer(path, config) for path in args.new_key]
        rotation = TrustRepository(config.trust_dir).rotate_root(old, new, args.threshold)
    except (TrustError, OSError, EOFError) as error:
        return _fail("trust rotate-root", error)
    _report(
        args,
        asdict(rotation),
        f"root v{rotation.version}: {rotation.threshold}-of-{len(rotation.keyids)} new keys; "
        f"{len(rotation.retired_keyids)} old key(s) revoked",
    )
    return 0


def renew_roles(args: argparse.Namespace, config: Config) -> int:
    try:
        if not args.admin_key and not args.publisher_key:
            raise TrustError("give --admin-key (root and targets) or --publisher-key, or both")
        admins = [_signer(path, config) for path in args.admin_key]
        publishers = [_signer(path, config) for path in args.publisher_key]
        renewal = TrustRepository(config.trust_dir).renew(admins, publishers)
    except (TrustError, OSError, EOFError) as error:
        return _fail("trust renew", error)
    renewed = ", ".join(f"{role} v{version}" for role, version in renewal.versions.items())
    _report(args, {"renewed": renewal.versions}, f"renewed {renewed}")
    return 0


def refresh_trust(args: argparse.Namespace, config: Config) -> int:
    """What the metadata service does periodically, for cron or an operator."""
    repository = TrustRepository(config.trust_dir)
    try:
        if not 0 < args.margin_hours <= 24 * 7:
            raise TrustError(f"--margin-hours {args.margin_hours} must be above 0, at most 168")
        repository.store.require_initialised()
        refreshed = repository.refresh_if_expiring(timedelta(hours=args.margin_hours))
        expires = repository.store.load_timestamp().signed.expires.isoformat()
    except (TrustError, OSError) as error:
        return _fail("trust refresh", error)
    result = {"refreshed": refreshed, "timestamp_expires": expires}
    verb = "re-signed" if refreshed else "still fresh"
    _report(args, result, f"timestamp {verb}; expires {expires}")
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
        version = f"v{publisher.version} expires {publisher.expires}" if publisher.version else ""
        print(
            f"  publisher {publisher.name}: games {', '.join(publisher.games)}; "
            f"latest {latest or 'none'}; {publisher.threshold}-of-{len(publisher.keyids)} keys "
            f"{version}".rstrip()
        )
    for key in summary.keys:
        print(f"  key {key.keyid}  {', '.join(key.roles)}")
    for keyid in summary.revoked_keyids:
        print(f"  key {keyid}  REVOKED")
    return 0


def _signer(path: Path, config: Config) -> Signer:
    passphrase = _existing_passphrase(path, config) if is_encrypted_key_file(path) else None
    return load_signer(path, passphrase)


def _existing_passphrase(path: Path, config: Config) -> bytes:
    value = config.key_passphrase
    if value is None:
        value = getpass.getpass(f"Passphrase for {path}: ")
    return value.encode("utf-8")


def _new_passphrase(unencrypted: bool, config: Config) -> bytes | None:
    if unencrypted:
        return None
    value = config.key_passphrase
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
