// Source-level unrolling of WGSL loops with a constant trip count.
//
// llvmpipe (lavapipe) keeps a private array in registers or at fixed stack slots only where
// every index is a constant; an index that depends on a loop variable becomes a per-lane
// scalar loop, about as slow as a storage load (bench/RESULTS.md, "What a load costs"). NIR
// unrolls small loops itself but gives up on large bodies, such as the attention backward
// kernels' loops over several rows per lane. Expanding those loops in the source makes every
// index a constant whatever NIR decides; the price is compile time (bigger code for LLVM).
//
// A loop is expanded when it reads exactly `for (var i = 0u; i < BOUND; i++) {`, BOUND is an
// integer expression over literals and the module's `const` declarations, its trip count is at
// most `maxTrip`, and its body has no break or continue. Each copy of the body keeps its own
// braces (so its `let`s stay scoped) with the loop variable replaced by the literal `Nu`.

const LOOP = /for \(var (\w+) = 0u; \1 < ([^;{}]+); \1\+\+\) \{/g;

/** Values of the module's integer `const` declarations that evaluate to constants. */
function moduleConstants(src: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of src.matchAll(/\bconst (\w+)\s*(?::\s*[iu]32)?\s*=\s*([^;]+);/g)) {
    const v = evaluate(m[2], out);
    if (v !== null) out.set(m[1], v);
  }
  return out;
}

/** An integer expression of literals, known constants, + - * / and parentheses; null otherwise. */
function evaluate(expr: string, consts: Map<string, number>): number | null {
  let unknown = false;
  const js = expr
    .replace(/\b(\d+)[iu]?\b/g, '$1')
    .replace(/[A-Za-z_]\w*/g, (id) => {
      const v = consts.get(id);
      if (v === undefined) unknown = true;
      return String(v ?? 0);
    });
  if (unknown || !/^[\d\s+*\-/()]+$/.test(js)) return null;
  const v = Function(`"use strict"; return (${js});`)() as number;
  return Number.isInteger(v) && v >= 0 ? v : null;
}

function closingBrace(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) return i;
  }
  throw new Error('unroll: unbalanced braces in shader source');
}

interface Loop { start: number; open: number; close: number; variable: string; trips: number }

function expandable(src: string, m: RegExpMatchArray, consts: Map<string, number>, maxTrip: number): Loop | null {
  const trips = evaluate(m[2], consts);
  if (trips === null || trips > maxTrip) return null;
  const start = m.index!;
  const open = start + m[0].length - 1;
  const close = closingBrace(src, open);
  if (/\b(break|continue)\b/.test(src.slice(open + 1, close))) return null;
  return { start, open, close, variable: m[1], trips };
}

/**
 * Expands every expandable loop in `src`, innermost first. `constSource` is where the module's
 * constants are declared (the whole module when `src` is one function of it).
 */
export function unrollLoops(src: string, maxTrip = 64, constSource = src): string {
  const consts = moduleConstants(constSource);
  for (;;) {
    let target: Loop | null = null;
    for (const m of src.matchAll(LOOP)) {
      const loop = expandable(src, m, consts, maxTrip);
      if (!loop) continue;
      const body = src.slice(loop.open + 1, loop.close);
      const nested = [...body.matchAll(LOOP)].some((n) => expandable(body, n, consts, maxTrip) !== null);
      if (!nested) { target = loop; break; }
    }
    if (!target) return src;
    const body = src.slice(target.open + 1, target.close);
    const variable = new RegExp(`\\b${target.variable}\\b`, 'g');
    const copies = Array.from({ length: target.trips }, (_, i) => `{${body.replace(variable, `${i}u`)}}`);
    src = src.slice(0, target.start) + copies.join('\n') + src.slice(target.close + 1);
  }
}

/** Expands the loops of function `fn` only (an entry point), leaving the rest of the module as is. */
export function unrollFunction(src: string, fn: string, maxTrip = 64): string {
  const at = src.search(new RegExp(`\\bfn ${fn}\\s*\\(`));
  if (at < 0) throw new Error(`unroll: the shader has no function ${fn}`);
  const close = closingBrace(src, src.indexOf('{', at));
  return src.slice(0, at) + unrollLoops(src.slice(at, close + 1), maxTrip, src) + src.slice(close + 1);
}
