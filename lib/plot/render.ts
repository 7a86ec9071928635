/** SVG → PNG with sharp (librsvg), and image grids laid out with sharp. */
import sharp from "sharp";

/** Rasterises an SVG document to PNG bytes, one pixel per SVG unit at the default density (deterministic for the same sharp and fonts). */
export async function svgToPng(svg: string, density = 72): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density })
    .png({ compressionLevel: 9, adaptiveFiltering: false, palette: true, colours: 128, dither: 0 })
    .toBuffer();
}

export interface GridImage {
  /** RGB (3 channels) or grey (1 channel) pixels, row-major, 0..255 */
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Float values in [-1, 1] (HWC) to 0..255 bytes, clipped and rounded. */
export function toBytes(x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((x[i] + 1) * 127.5)));
  return out;
}

function escXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Lays images out in a grid with optional row labels (left) and column labels (top),
 * each image scaled by `scale` with nearest-neighbour so pixels stay visible. PNG, or JPEG with `format`.
 */
export async function imageGrid(
  rows: GridImage[][],
  opts: {
    rowLabels?: string[];
    colLabels?: string[];
    scale?: number;
    gap?: number;
    title?: string;
    format?: "png" | "jpeg";
  } = {},
): Promise<Buffer> {
  const scale = opts.scale ?? 2;
  const gap = opts.gap ?? 4;
  const cw = Math.max(...rows.flat().map((im) => im.width)) * scale;
  const ch = Math.max(...rows.flat().map((im) => im.height)) * scale;
  const ncol = Math.max(...rows.map((r) => r.length));
  const left = opts.rowLabels ? 8 + 7 * Math.max(...opts.rowLabels.map((s) => s.length)) : 0;
  const titleH = opts.title ? 24 : 0;
  const top = titleH + (opts.colLabels ? 20 : 0);
  const W = left + ncol * (cw + gap) + gap;
  const H = top + rows.length * (ch + gap) + gap;
  const labels: string[] = [];
  if (opts.title)
    labels.push(
      `<text x="${W / 2}" y="17" text-anchor="middle" font-size="14" font-weight="bold">${escXml(opts.title)}</text>`,
    );
  opts.colLabels?.forEach((s, j) =>
    labels.push(
      `<text x="${left + gap + j * (cw + gap) + cw / 2}" y="${titleH + 14}" text-anchor="middle" font-size="12">${escXml(s)}</text>`,
    ),
  );
  opts.rowLabels?.forEach((s, i) =>
    labels.push(
      `<text x="${left - 4}" y="${top + gap + i * (ch + gap) + ch / 2 + 4}" text-anchor="end" font-size="12">${escXml(s)}</text>`,
    ),
  );
  const bg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif"><rect width="${W}" height="${H}" fill="white"/>${labels.join("")}</svg>`;
  const tiles = await Promise.all(
    rows.flatMap((r, i) =>
      r.map(async (im, j) => ({
        input: await sharp(Buffer.from(im.pixels.buffer, im.pixels.byteOffset, im.pixels.byteLength), {
          raw: { width: im.width, height: im.height, channels: im.channels },
        })
          .resize(im.width * scale, im.height * scale, { kernel: "nearest" })
          .png()
          .toBuffer(),
        left: left + gap + j * (cw + gap),
        top: top + gap + i * (ch + gap),
      })),
    ),
  );
  const out = sharp(Buffer.from(bg)).composite(tiles);
  // JPEG keeps grids of noisy images small (noise does not compress losslessly)
  return opts.format === "jpeg"
    ? out.jpeg({ quality: 80 }).toBuffer()
    : out.png({ compressionLevel: 9, adaptiveFiltering: false }).toBuffer();
}
