/**
 * Whether this code runs inside a tslab Jupyter kernel, and its display channel: at the bottom of the
 * library's layers, so the backend can write its notice where a notebook shows it as output.
 */

export type MimeBundle = Record<string, unknown>;

type WriteDisplay = (content: { data: MimeBundle; metadata: object; transient: object }, update: boolean) => void;

/** tslab's display channel for the cell now running, when this code runs inside a tslab kernel. */
export function tslabWriter(): WriteDisplay | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const jupyter = require("tslab/dist/jupyter") as { lastWriteDisplayData?: WriteDisplay | null };
    return jupyter.lastWriteDisplayData ?? undefined;
  } catch {
    return undefined;
  }
}

/** True inside a notebook (a tslab kernel that has started executing cells). */
export function inNotebook(): boolean {
  return tslabWriter() !== undefined;
}

/** Sends a display bundle to the notebook; false (and nothing sent) outside a kernel. */
export function display(bundle: MimeBundle, metadata: object = {}): boolean {
  const write = tslabWriter();
  write?.({ data: bundle, metadata, transient: {} }, false);
  return write !== undefined;
}
