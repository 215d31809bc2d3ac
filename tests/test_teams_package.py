"""``frontdoor teams package``: the zip a Teams admin uploads is one Teams accepts.

The manifest in it validates against Microsoft's own schema for its version (vendored
from the npm package ``@microsoft/app-manifest``, see tests/data/README.md), carries the
council's ids, and sits with both icons at the zip's root.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from bot.cli import main
from bot.handlers.teams import package
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "3f2a9c1e-7b4d-4e8a-9c6f-1d2e3f4a5b6c"  # a made-up Entra app id
HOST = "frontdoor.example.gov.uk"
COMMANDS = {"consult", "refer", "caf", "caflog"}


def _schema_errors(manifest: dict) -> list[str]:
    schema = json.loads((DATA / "teams-manifest-1.22.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}"
            for e in sorted(validator.iter_errors(manifest), key=lambda e: list(e.path))]


def _package(tmp_path: Path, *extra: str) -> zipfile.ZipFile:
    out = tmp_path / "out" / "frontdoor.zip"
    assert main(["teams", "package", "--out", str(out), "--host", HOST, *extra]) == 0
    return zipfile.ZipFile(out)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test sees only the app id it sets (no .env of the checkout, no shell's)."""
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    monkeypatch.chdir(tmp_path)


def test_package_validates_against_microsofts_schema(tmp_path: Path) -> None:
    with _package(tmp_path, "--app-id", APP_ID) as z:
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]
        m = json.loads(z.read("manifest.json"))
    assert _schema_errors(m) == []
    assert m["manifestVersion"] == "1.22"
    assert m["$schema"].endswith("/teams/v1.22/MicrosoftTeams.schema.json")
    assert m["id"] == APP_ID and m["bots"][0]["botId"] == APP_ID
    assert m["validDomains"] == [HOST]
    assert m["developer"]["websiteUrl"] == f"https://{HOST}/"
    assert "${{" not in json.dumps(m)


def test_app_id_comes_from_the_environment(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID.upper())
    with _package(tmp_path, "--privacy-url", "https://council.example.gov.uk/privacy") as z:
        m = json.loads(z.read("manifest.json"))
    assert m["id"] == APP_ID and m["bots"][0]["botId"] == APP_ID
    assert m["developer"]["privacyUrl"] == "https://council.example.gov.uk/privacy"
    assert _schema_errors(m) == []


def test_bot_commands_in_the_personal_chat_and_the_team() -> None:
    bot = package.manifest(APP_ID, HOST, version="1.2.3")["bots"][0]
    assert set(bot["scopes"]) == {"personal", "team"}
    by_scope = {scope: {c["title"] for c in cl["commands"]}
                for cl in bot["commandLists"] for scope in cl["scopes"]}
    assert by_scope == {"personal": COMMANDS | {"home"}, "team": COMMANDS}  # My queue: 1:1


def test_the_schema_catches_a_broken_manifest() -> None:
    good = package.manifest(APP_ID, HOST, version="1.2.3")
    assert _schema_errors(good) == []
    broken = json.loads(json.dumps(good))
    broken.pop("developer")  # required
    assert any("'developer' is a required property" in e for e in _schema_errors(broken))
    broken = json.loads(json.dumps(good))
    broken["bots"][0]["scopes"].append("everywhere")
    assert _schema_errors(broken)


def test_icons_are_the_sizes_and_colours_teams_wants(tmp_path: Path) -> None:
    with _package(tmp_path, "--app-id", APP_ID) as z:
        colour = Image.open(io.BytesIO(z.read("color.png")))
        outline = Image.open(io.BytesIO(z.read("outline.png")))
    assert (colour.format, colour.size) == ("PNG", (192, 192))
    assert (outline.format, outline.size) == ("PNG", (32, 32))
    # The outline icon: white on transparent and nothing else (Teams tints it).
    pixels = set(outline.convert("RGBA").get_flattened_data())
    assert pixels == {(255, 255, 255, 255), (0, 0, 0, 0)}


def test_committed_icons_are_what_the_script_draws() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_teams_icons",
                                                  ROOT / "tools" / "make_teams_icons.py")
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for name, draw in (("color.png", tool.colour_icon), ("outline.png", tool.outline_icon)):
        committed = Image.open(package.APP_PACKAGE / name).convert("RGBA")
        assert committed.tobytes() == draw().tobytes(), f"{name}: run tools/make_teams_icons.py"


def test_same_values_give_the_same_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild a day later is byte for byte the same: no clock in the zip."""
    now = 1_800_000_000.0
    monkeypatch.setattr(time, "time", lambda: now)
    a = package.write_package(tmp_path / "a.zip", APP_ID, HOST, version="1.2.3")
    now += 86_400
    b = package.write_package(tmp_path / "b.zip", APP_ID, HOST, version="1.2.3")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(("args", "words"), [
    ([], "no Microsoft app id: pass --app-id or set MICROSOFT_APP_ID"),
    (["--app-id", "front-door-bot"], "must be a GUID"),
    (["--app-id", APP_ID, "--host", f"https://{HOST}/api/messages"], "no https://"),
    (["--app-id", APP_ID, "--privacy-url", "http://council.example/privacy"],
     "--privacy-url must be an https:// address"),
])
def test_bad_values_are_refused_in_plain_words(tmp_path: Path, capsys: pytest.CaptureFixture,
                                               args: list[str], words: str) -> None:
    out = tmp_path / "frontdoor.zip"
    argv = ["teams", "package", "--out", str(out), "--host", HOST, *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "nothing was written" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no zip, and no half-written temporary file


def test_a_version_teams_would_refuse_is_refused_here() -> None:
    with pytest.raises(package.PackageError, match="three numbers such as 1.4.0"):
        package.manifest(APP_ID, HOST, version="1.4.0.dev2")
    assert package.manifest(APP_ID, HOST, version="1.4.0")["version"] == "1.4.0"
