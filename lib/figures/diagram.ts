/** Box-and-arrow diagrams as SVG, laid out on a grid by hand: no browser, no Graphviz. */
import { svgToPng } from "../plot/render";

export interface Box {
  id: string;
  /** first line bold, the rest small */
  lines: string[];
  col: number;
  row: number;
  fill?: string;
}

export interface Arrow {
  from: string;
  to: string;
  label?: string;
  dashed?: boolean;
}

export interface Diagram {
  title?: string;
  boxes: Box[];
  arrows: Arrow[];
  /** cell size */
  cellW?: number;
  cellH?: number;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function diagramSvg(d: Diagram): string {
  const cw = d.cellW ?? 230;
  const ch = d.cellH ?? 110;
  const bw = cw - 64;
  const bh = ch - 34;
  const top = d.title ? 36 : 10;
  const cols = Math.max(...d.boxes.map((b) => b.col)) + 1;
  const rows = Math.max(...d.boxes.map((b) => b.row)) + 1;
  const W = cols * cw + 20;
  const H = rows * ch + top + 10;
  const pos = new Map(d.boxes.map((b) => [b.id, { x: 10 + b.col * cw + 32, y: top + b.row * ch + 12 }]));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif">`,
  );
  out.push(
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  if (d.title)
    out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(d.title)}</text>`);
  for (const a of d.arrows) {
    const p = pos.get(a.from);
    const q = pos.get(a.to);
    if (!p || !q) throw new Error(`diagram arrow ${a.from} → ${a.to}: unknown box`);
    // leave from the side facing the target
    const [cx1, cy1, cx2, cy2] = [p.x + bw / 2, p.y + bh / 2, q.x + bw / 2, q.y + bh / 2];
    const dx = cx2 - cx1;
    const dy = cy2 - cy1;
    let x1: number, y1: number, x2: number, y2: number;
    if (Math.abs(dx) * bh >= Math.abs(dy) * bw) {
      x1 = dx > 0 ? p.x + bw : p.x;
      x2 = dx > 0 ? q.x : q.x + bw;
      y1 = cy1;
      y2 = cy2;
    } else {
      y1 = dy > 0 ? p.y + bh : p.y;
      y2 = dy > 0 ? q.y : q.y + bh;
      x1 = cx1;
      x2 = cx2;
    }
    out.push(
      `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#444" stroke-width="1.6" marker-end="url(#arrow)"${a.dashed ? ' stroke-dasharray="5 4"' : ""}/>`,
    );
    if (a.label)
      out.push(
        `<text x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 5}" text-anchor="middle" font-size="10" fill="#333">${esc(a.label)}</text>`,
      );
  }
  for (const b of d.boxes) {
    const p = pos.get(b.id)!;
    out.push(
      `<rect x="${p.x}" y="${p.y}" width="${bw}" height="${bh}" rx="8" fill="${b.fill ?? "#eef3fb"}" stroke="#345" stroke-width="1.2"/>`,
    );
    b.lines.forEach((l, i) => {
      const y = p.y + 20 + i * 15;
      out.push(
        `<text x="${p.x + bw / 2}" y="${y}" text-anchor="middle" font-size="${i === 0 ? 13 : 10.5}"${i === 0 ? ' font-weight="bold"' : ""}>${esc(l)}</text>`,
      );
    });
  }
  out.push("</svg>");
  return out.join("\n");
}

export async function diagramPng(d: Diagram): Promise<Buffer> {
  return svgToPng(diagramSvg(d));
}
