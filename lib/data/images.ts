/**
 * Reading images for training: PNG, JPEG or WebP files → uint8 RGB, or float32 NHWC in [-1, 1] (the
 * range Stable Diffusion's VAE expects, diffusers `train_dreambooth.py`: Normalize([0.5], [0.5])).
 *
 * Bad input is never silently turned into a wrong result. A file that cannot be read or decoded, a
 * format we do not take, or (in strict mode, the default) an image that is not `size`×`size` is an
 * `ImageError` naming the file and the fix. With `resize: true` (`--resize` in the CLI), an image of any
 * size is center-cropped to a square and resized to `size` (sharp `fit: "cover"`, lanczos3), which is
 * what the diffusers DreamBooth script does (Resize then CenterCrop).
 * Always: EXIF orientation is applied, alpha is flattened onto white, any colour space becomes sRGB.
 */
import fs from "fs";
import path from "path";
import sharp from "sharp";

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageError";
  }
}

/** Extensions that are read. */
export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp"] as const;
/** Extensions of images we do not take: an error (convert them), not silently skipped. */
export const OTHER_IMAGE_EXTENSIONS = [".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".svg", ".ppm", ".jxl"] as const;
const FORMATS = new Set(["png", "jpeg", "webp"]);

export interface ReadImageOptions {
  /** false (default): the image must already be size×size; true: center-crop to square, then resize */
  resize?: boolean;
}

/** Reads one image as uint8 RGB, row-major HWC, size×size. */
export async function readImageRgb(file: string, size: number, opts: ReadImageOptions = {}): Promise<Uint8Array> {
  checkSize(size);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ImageError(`cannot read ${file} (${code}); fix: check that the path exists, is a file, and is readable`);
  }
  if (buf.length === 0) throw new ImageError(`${file} is empty (0 bytes); fix: replace it with a PNG or JPEG image, or remove it`);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(buf).metadata();
  } catch (e) {
    throw new ImageError(`${file} is not a readable image (${(e as Error).message}); fix: replace it with a PNG or JPEG image, or remove it`);
  }
  if (!meta.format || !FORMATS.has(meta.format)) {
    throw new ImageError(`${file} is ${meta.format ?? "an unknown format"}, not PNG, JPEG or WebP; fix: convert it to PNG`);
  }
  // EXIF orientations 5–8 swap width and height once applied
  const swap = (meta.orientation ?? 1) >= 5;
  const w = swap ? meta.height : meta.width;
  const h = swap ? meta.width : meta.height;
  if (!opts.resize && (w !== size || h !== size)) {
    const what = w !== h ? `${w}×${h}, not square` : `${w}×${h}, expected ${size}×${size}`;
    throw new ImageError(`${file} is ${what}; fix: crop/resize it to ${size}×${size}, or pass resize (--resize) to center-crop to a square and resize`);
  }
  let img = sharp(buf).rotate();
  if (opts.resize) img = img.resize(size, size, { fit: "cover", position: "centre", kernel: "lanczos3" });
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await img.flatten({ background: "#ffffff" }).toColourspace("srgb").removeAlpha().raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageError(`${file} could not be decoded (${(e as Error).message}); fix: re-save it as a PNG or JPEG`);
  }
  const { data, info } = out;
  if (info.width !== size || info.height !== size || info.channels !== 3 || data.length !== size * size * 3) {
    throw new ImageError(`${file} decoded to ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3; fix: re-save it as an 8-bit RGB PNG`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** uint8 [0, 255] → float32 [-1, 1] (x / 127.5 − 1), into `out` at `offset` if given. */
export function toSigned(rgb: Uint8Array, out = new Float32Array(rgb.length), offset = 0): Float32Array {
  for (let i = 0; i < rgb.length; i++) out[offset + i] = rgb[i] / 127.5 - 1;
  return out;
}

/** float32 [-1, 1] → uint8 (clipped, rounded): the inverse of `toSigned`, for saving samples. */
export function toUint8(x: Float32Array | number[]): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((x[i] + 1) * 127.5)));
  return out;
}

export interface ImageFolder {
  /** float32 NHWC in [-1, 1] */
  data: Float32Array;
  shape: [number, number, number, number];
  /** the images read, in order (sorted by name) */
  files: string[];
  /** entries that are not images and were not read (sidecar files such as metadata.json, folders) */
  skipped: string[];
}

/**
 * `loadImageFolder(dir, size)`: every PNG/JPEG/WebP file in `dir` (not recursive, sorted by name, hidden
 * files ignored) as float32 NHWC in [-1, 1]. Other image formats and unreadable or wrongly sized images
 * are errors, all listed at once; non-image files are skipped and listed in `skipped`.
 */
export async function loadImageFolder(dir: string, size: number, opts: ReadImageOptions = {}): Promise<ImageFolder> {
  checkSize(size);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "is not a folder" : `cannot be read (${code})`;
    throw new ImageError(`image folder ${dir} ${why}; fix: pass a folder of PNG or JPEG images (e.g. data/instance)`);
  }
  const names = entries.filter((e) => !e.name.startsWith(".")).map((e) => e.name).sort();
  const files: string[] = [];
  const skipped: string[] = [];
  const errors: string[] = [];
  for (const name of names) {
    const p = path.join(dir, name);
    const ext = path.extname(name).toLowerCase();
    if ((IMAGE_EXTENSIONS as readonly string[]).includes(ext)) files.push(p);
    else if ((OTHER_IMAGE_EXTENSIONS as readonly string[]).includes(ext)) errors.push(`${p} is a ${ext.slice(1).toUpperCase()} file; fix: convert it to PNG`);
    else skipped.push(p);
  }
  if (files.length === 0 && errors.length === 0) {
    throw new ImageError(`image folder ${dir} has no PNG, JPEG or WebP images${skipped.length ? ` (only: ${skipped.map((s) => path.basename(s)).join(", ")})` : ""}; fix: put the images in it`);
  }
  const n = files.length;
  const data = new Float32Array(n * size * size * 3);
  for (let i = 0; i < n; i++) {
    try {
      toSigned(await readImageRgb(files[i], size, opts), data, i * size * size * 3);
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      errors.push(e.message);
    }
  }
  if (errors.length) {
    const shown = errors.slice(0, 10).join("\n  ");
    throw new ImageError(`image folder ${dir}: ${errors.length} bad file(s):\n  ${shown}${errors.length > 10 ? `\n  … and ${errors.length - 10} more` : ""}`);
  }
  return { data, shape: [n, size, size, 3], files, skipped };
}

function checkSize(size: number) {
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new ImageError(`image size must be an integer in [1, 4096] (got ${size})`);
}
