"""Draw the Teams app icons in bot/handlers/teams/appPackage/ (color.png, outline.png).

Run by hand when the design changes: `python tools/make_teams_icons.py`; the PNGs are
committed and `frontdoor teams package` zips them as they are. Pillow is there already
(matplotlib needs it); nothing imports this at run time.

Teams asks for a 192x192 full-colour icon and a 32x32 outline icon that is white on a
transparent background (no other colour): an open front door, in the manifest's accent
colour for the colour icon.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "bot" / "handlers" / "teams" / "appPackage"
ACCENT = (0x1D, 0x4E, 0x89, 255)  # the manifest's accentColor and Slack's background_color
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def _door(draw: ImageDraw.ImageDraw, size: int, fill: tuple[int, int, int, int],
          line: int) -> None:
    """A door frame, the door ajar inside it and its handle, scaled to ``size``."""
    u = size / 32  # drawn on a 32-unit grid so both sizes have the same shape
    frame = (9 * u, 4 * u, 23 * u, 28 * u)
    draw.rectangle(frame, outline=fill, width=line)
    # The door, swung open towards the viewer: a quadrilateral hinged on the left post.
    draw.polygon([(9 * u, 4 * u), (18 * u, 6.5 * u), (18 * u, 29.5 * u), (9 * u, 28 * u)],
                 fill=fill)
    draw.line([(3 * u, 28 * u), (29 * u, 28 * u)], fill=fill, width=line)  # the threshold


def colour_icon() -> Image.Image:
    """192x192: a white door on the accent colour, filling the square (Teams rounds it)."""
    img = Image.new("RGBA", (192, 192), ACCENT)
    _door(ImageDraw.Draw(img), 192, WHITE, line=10)
    handle = (15 * 6, 16 * 6, 16.5 * 6, 17.5 * 6)
    ImageDraw.Draw(img).ellipse(handle, fill=ACCENT)
    return img


def outline_icon() -> Image.Image:
    """32x32: white on transparent, every pixel either fully white or fully clear.

    Drawn without anti-aliasing (Pillow's primitives do not blend), so no grey edge
    pixels creep in: Teams shows the outline icon on coloured bars and wants pure white.
    """
    img = Image.new("RGBA", (32, 32), CLEAR)
    _door(ImageDraw.Draw(img), 32, WHITE, line=2)
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # No metadata chunks (no time stamp): running the script again gives the same bytes.
    colour_icon().save(OUT / "color.png", optimize=True)
    outline_icon().save(OUT / "outline.png", optimize=True)
    print(f"wrote {OUT / 'color.png'} and {OUT / 'outline.png'}")


if __name__ == "__main__":
    main()
