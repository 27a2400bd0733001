"""QR rendering: segno, inline SVG, always a normal (never Micro) QR code."""
import segno


def qr_svg(data: str, scale: int = 6, title: str = "二维码") -> str:
    qr = segno.make(data, micro=False, error="m")
    svg = qr.svg_inline(scale=scale, border=4, dark="#000", light="#fff", title=title, omitsize=True)
    return svg.replace("<svg ", '<svg role="img" class="qr" ', 1)
