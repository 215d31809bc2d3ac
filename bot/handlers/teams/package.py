"""``frontdoor teams package``: the Teams app package a council's Teams admin uploads.

The package is a zip of ``manifest.json`` and the two icons, all at the zip's root (Teams
refuses a package whose files sit in a folder). ``appPackage/manifest.json`` is the
template: its ``${{NAME}}`` placeholders are filled in here with the council's values, the
Microsoft app id of its Entra app registration (the Teams app id and the bot id are the
same id) and the public host of its messaging endpoint, so one committed template serves
every council.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

APP_PACKAGE = Path(__file__).with_name("appPackage")
ICONS = ("color.png", "outline.png")
DEFAULT_OUT = "frontdoor-teams.zip"
DISTRIBUTION = "frontdoor-bot"  # the app's version in Teams follows the bot's release

GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# A DNS host name (no scheme, path or port): what validDomains and the URLs need.
HOST = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                  r"[A-Za-z]{2,63}$")
PLACEHOLDER = re.compile(r"\$\{\{([A-Z_]+)\}\}")
# The manifest's version is MAJOR.MINOR.PATCH (Microsoft's manifest reference; the schema's
# own "semver" pattern is three numbers): a release such as 1.4.0.dev2 is refused here,
# not at upload in the admin centre.
SEMVER = re.compile(r"^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)$")
# A fixed time for every zip entry, so the same inputs give the same bytes (a package can
# be compared with the one uploaded; a rebuild is not a change).
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(ValueError):
    """The values given cannot make a package; ``problems`` says each in plain words."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def template() -> dict[str, Any]:
    """The committed manifest, placeholders and all."""
    return json.loads((APP_PACKAGE / "manifest.json").read_text(encoding="utf-8"))


def app_version() -> str:
    """The installed bot's version (Teams wants a higher version for every update)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise PackageError([f"the {DISTRIBUTION} distribution is not installed, so the "
                            "app has no version: install it (pip install .) first"]) from None


def manifest(app_id: str, host: str, privacy_url: str | None = None,
             version: str | None = None) -> dict[str, Any]:
    """The manifest for one council: the template with its values filled in.

    ``app_id``: the Microsoft app id (MICROSOFT_APP_ID) of the council's Entra app
    registration; ``host``: the public host name of the bot, as in its messaging
    endpoint ``https://HOST/api/messages``; ``privacy_url``: the council's privacy
    notice for the service (default: the host's home page).
    """
    problems = []
    app_id = app_id.strip()
    host = host.strip().lower()
    if not app_id:
        problems.append("no Microsoft app id: pass --app-id or set MICROSOFT_APP_ID (the "
                        "Application (client) ID of the Entra app registration)")
    elif not GUID.match(app_id):
        problems.append(f"the Microsoft app id must be a GUID such as "
                        f"00000000-0000-0000-0000-000000000000, not {app_id!r}")
    if not HOST.match(host):
        problems.append(f"--host takes the bot's public host name only, such as "
                        f"frontdoor.example.gov.uk (no https://, path or port), not {host!r}")
    privacy = privacy_url.strip() if privacy_url else f"https://{host}/"
    if not privacy.lower().startswith("https://"):
        problems.append(f"--privacy-url must be an https:// address, not {privacy!r}")
    version = version or app_version()
    if not SEMVER.match(version):
        problems.append(f"the app version must be three numbers such as 1.4.0 (MAJOR.MINOR."
                        f"PATCH, as Teams asks), and this release is {version!r}")
    if problems:
        raise PackageError(problems)
    values = {"MICROSOFT_APP_ID": app_id.lower(), "HOST": host, "PRIVACY_URL": privacy,
              "VERSION": version}
    return _fill(copy.deepcopy(template()), values)


def _fill(node: Any, values: dict[str, str]) -> Any:
    """Replace every ``${{NAME}}`` in the strings of ``node``; an unknown name is a bug."""
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in values:
                raise KeyError(f"manifest.json names a placeholder nothing fills: {m.group(0)}")
            return values[m.group(1)]
        return PLACEHOLDER.sub(sub, node)
    return node


def write_package(out: Path, app_id: str, host: str, privacy_url: str | None = None,
                  version: str | None = None) -> Path:
    """Write the zip to ``out``: whole or not at all (a half-written zip never appears)."""
    text = json.dumps(manifest(app_id, host, privacy_url, version), indent=2,
                      ensure_ascii=False) + "\n"
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
            _add(z, "manifest.json", text.encode("utf-8"))
            for icon in ICONS:
                _add(z, icon, (APP_PACKAGE / icon).read_bytes())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, data)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``teams package``'s options (the command line's parser calls this)."""
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"where to write the zip (default: {DEFAULT_OUT})")
    p.add_argument("--app-id", help="the Microsoft app id of the Entra app registration "
                   "(default: MICROSOFT_APP_ID)")
    p.add_argument("--host", required=True, help="the bot's public host name, as in its "
                   "messaging endpoint https://HOST/api/messages")
    p.add_argument("--privacy-url", help="the council's privacy notice for the service "
                   "(default: https://HOST/)")


def run(args: argparse.Namespace) -> int:
    """The command: write the zip, or say in plain words what is wrong (exit 2)."""
    from bot.config import load_env_file

    load_env_file()  # MICROSOFT_APP_ID may be set in .env, as the server reads it
    app_id = args.app_id if args.app_id is not None else os.environ.get("MICROSOFT_APP_ID", "")
    try:
        out = write_package(Path(args.out), app_id, args.host, args.privacy_url)
    except PackageError as exc:
        for line in exc.problems:
            print(f"frontdoor teams package: {line}", file=sys.stderr)
        print("frontdoor teams package: nothing was written.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"frontdoor teams package: cannot write {args.out} ({exc.strerror}); "
              "nothing was written.", file=sys.stderr)
        return 1
    print(f"wrote {out}: upload it in the Teams admin centre (Teams apps > Manage apps > "
          "Upload new app)")
    return 0
