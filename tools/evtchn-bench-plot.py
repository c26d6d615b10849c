#!/usr/bin/env python3
"""Runs the event-channel dispatch benchmark (evtchn/benches/dispatch.rs, on the hypervisor
model) and writes docs/evtchn-dispatch.svg (per-event cost against bound ports, per ABI) and
the table into docs/evtchn-bench.md. Standard library only.

    python3 tools/evtchn-bench-plot.py
"""
import math
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLS = ["random: upcall", "random: raise+upcall", "hot 64: upcall", "hot 64: raise+upcall"]
COLOURS = {"2-level": "#d62728", "FIFO": "#1f77b4", "3-level": "#2ca02c"}


def run_bench():
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", "evtchn", "--bench", "dispatch"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    rows, table = [], []
    for line in out.splitlines():
        if line.startswith("|") or line.startswith("Event dispatch"):
            table.append(line)
        m = re.match(r"\|\s*(2-level|FIFO|3-level)\s*\|\s*(\d+)\s*\|(.*)", line)
        if not m:
            continue
        abi, ports, rest = m.group(1), int(m.group(2)), m.group(3)
        cells = [c.strip() for c in rest.split("|")]
        if "ENOSPC" in rest:
            cap = re.search(r"ENOSPC \((\d+) ports max\)", rest)
            rows.append((abi, ports, int(cap.group(1)) if cap else None))
        else:
            rows.append((abi, ports, [float(c.split()[0]) for c in cells[:4]]))
    return rows, "\n".join(table)


def svg(rows, col):
    w, h, l, r, t, b = 720, 420, 70, 150, 40, 60
    xs = sorted({p for _, p, _ in rows})
    ymax = max(v[col] for _, _, v in rows if isinstance(v, list)) * 1.15
    x = lambda p: l + (math.log10(p) - math.log10(xs[0])) / (math.log10(xs[-1]) - math.log10(xs[0])) * (w - l - r)
    y = lambda v: h - b - v / ymax * (h - t - b)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{w/2}" y="20" text-anchor="middle" font-size="14">Event dispatch cost on the model: {COLS[col]} (ns per event)</text>',
         f'<line x1="{l}" y1="{h-b}" x2="{w-r}" y2="{h-b}" stroke="black"/>',
         f'<line x1="{l}" y1="{t}" x2="{l}" y2="{h-b}" stroke="black"/>',
         f'<text x="{(l+w-r)/2}" y="{h-15}" text-anchor="middle">bound ports (log scale)</text>']
    for p in xs:
        o.append(f'<line x1="{x(p):.1f}" y1="{h-b}" x2="{x(p):.1f}" y2="{h-b+5}" stroke="black"/>')
        o.append(f'<text x="{x(p):.1f}" y="{h-b+18}" text-anchor="middle">{p:,}</text>')
    for i in range(6):
        v = ymax * i / 5
        o.append(f'<line x1="{l-5}" y1="{y(v):.1f}" x2="{w-r}" y2="{y(v):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{l-8}" y="{y(v)+4:.1f}" text-anchor="end">{v:.0f}</text>')
    for k, (abi, colour) in enumerate(COLOURS.items()):
        pts = [(p, v[col]) for a, p, v in rows if a == abi and isinstance(v, list)]
        o.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            colour, " ".join(f"{x(p):.1f},{y(v):.1f}" for p, v in pts)))
        for p, v in pts:
            o.append(f'<circle cx="{x(p):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
        walls = [(p, v) for a, p, v in rows if a == abi and isinstance(v, int)]
        if walls:
            wx = x(walls[0][0])
            o.append(f'<line x1="{wx:.1f}" y1="{t}" x2="{wx:.1f}" y2="{h-b}" stroke="{colour}" stroke-dasharray="4,4"/>')
            o.append(f'<text x="{wx-4:.1f}" y="{t+60+20*k}" fill="{colour}" text-anchor="end">{abi}: ENOSPC past {walls[0][1]:,} ports</text>')
        o.append(f'<rect x="{w-r+15}" y="{t+20*k}" width="12" height="12" fill="{colour}"/>')
        o.append(f'<text x="{w-r+32}" y="{t+20*k+10}">{abi}</text>')
    o.append("</svg>")
    return "\n".join(o)


def main():
    rows, table = run_bench()
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "evtchn-dispatch-hot.svg").write_text(svg(rows, 3))
    (docs / "evtchn-dispatch-random.svg").write_text(svg(rows, 1))
    md = docs / "evtchn-bench.md"
    text = md.read_text() if md.exists() else ""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    block = f"{start}\n```\n{table}\n```\n{end}"
    text = re.sub(re.escape(start) + ".*" + re.escape(end), block, text, flags=re.S) if start in text else text + "\n" + block + "\n"
    md.write_text(text)
    print(table)
    print(f"wrote {docs/'evtchn-dispatch-hot.svg'}, {docs/'evtchn-dispatch-random.svg'}, {md}")


if __name__ == "__main__":
    main()
