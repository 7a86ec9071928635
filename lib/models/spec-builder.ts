/**
 * Builds a component's parameter list from its config alone (no tensors): one call per torch
 * module, named as diffusers / transformers name them, shaped in tfjs layout.
 */
import { ParamSpec } from "./params";

export class SpecBuilder {
  readonly specs: ParamSpec[] = [];
  private readonly names = new Set<string>();

  private add(name: string, shape: number[], layout: ParamSpec["layout"]): void {
    if (this.names.has(name)) throw new Error(`duplicate parameter name "${name}" (a bug in the spec builder)`);
    this.names.add(name);
    this.specs.push({ name, shape, layout });
  }

  /** torch `nn.Linear(inF, outF, bias)`: weight [in, out] in tfjs layout. */
  linear(prefix: string, inF: number, outF: number, bias = true): void {
    this.add(`${prefix}.weight`, [inF, outF], "linear");
    if (bias) this.add(`${prefix}.bias`, [outF], "same");
  }

  /** torch `nn.Conv2d(inC, outC, k)`: weight [k, k, in, out] in tfjs layout. */
  conv(prefix: string, inC: number, outC: number, k: number): void {
    this.add(`${prefix}.weight`, [k, k, inC, outC], "conv2d");
    this.add(`${prefix}.bias`, [outC], "same");
  }

  /** torch `nn.GroupNorm` / `nn.LayerNorm` with affine parameters. */
  norm(prefix: string, channels: number): void {
    this.add(`${prefix}.weight`, [channels], "same");
    this.add(`${prefix}.bias`, [channels], "same");
  }

  /** A bare torch `nn.Parameter` (e.g. a learned positional embedding), identical in both layouts. */
  parameter(name: string, shape: number[]): void {
    this.add(name, shape, "same");
  }

  /** torch `nn.Embedding(n, dim)`: weight [n, dim], identical in both layouts. */
  embedding(prefix: string, n: number, dim: number): void {
    this.add(`${prefix}.weight`, [n, dim], "same");
  }
}
