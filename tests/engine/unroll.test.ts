// Source unrolling of WGSL loops (engine/unroll.ts): what is expanded and what is left alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unrollFunction, unrollLoops } from '../../engine/unroll.js';

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

test('a loop over a module constant becomes one scoped copy per trip', () => {
  const src = 'const R: u32 = 2u;\nfn f() { for (var r = 0u; r < R; r++) { let x = r * 8u; a[x + r] = 1.0; } }';
  assert.is(squash(unrollLoops(src)), squash('const R: u32 = 2u;\nfn f() { { let x = 0u * 8u; a[x + 0u] = 1.0; }\n{ let x = 1u * 8u; a[x + 1u] = 1.0; } }'));
});

test('nested loops expand innermost first, bounds may be constant expressions', () => {
  const src = 'const HD: u32 = 8u;\nconst HD4: u32 = HD / 4u;\nfn f() { for (var r = 0u; r < 1u * 2u; r++) { for (var d = 0u; d < HD4; d++) { s[r * HD4 + d] += q[d]; } } }';
  const out = unrollLoops(src);
  assert.not.match(out, /for \(/);
  for (const idx of ['0u * HD4 + 0u', '0u * HD4 + 1u', '1u * HD4 + 0u', '1u * HD4 + 1u']) assert.ok(out.includes(`s[${idx}] += q[${idx.slice(-2)}]`), idx);
});

test('loops with a runtime bound, with break or continue, or too many trips stay loops', () => {
  const runtime = 'fn f() { for (var i = 0u; i < p.n; i++) { a[i] = 0.0; } }';
  assert.is(unrollLoops(runtime), runtime);
  const early = 'const R = 4u;\nfn f() { for (var r = 0u; r < R; r++) { if (a[r] > 0.0) { continue; } a[r] = 1.0; } }';
  assert.is(unrollLoops(early), early);
  const long = 'fn f() { for (var i = 0u; i < 1000u; i++) { a[i] = 0.0; } }';
  assert.is(unrollLoops(long, 64), long);
  // The rolled outer loop still gets its expandable inner loop unrolled.
  const mixed = 'const R = 2u;\nfn f() { for (var i = 0u; i < p.n; i++) { for (var r = 0u; r < R; r++) { a[i * R + r] = 0.0; } } }';
  assert.ok(unrollLoops(mixed).includes('for (var i = 0u; i < p.n; i++)'));
  assert.ok(unrollLoops(mixed).includes('a[i * R + 1u] = 0.0;'));
});

test('only whole-word uses of the loop variable are replaced', () => {
  const src = 'fn f() { for (var r = 0u; r < 2u; r++) { rr[r] = r2 + r; } }';
  assert.is(squash(unrollLoops(src)), squash('fn f() { { rr[0u] = r2 + 0u; }\n{ rr[1u] = r2 + 1u; } }'));
});

test('unrollFunction touches one entry point and reads constants from the whole module', () => {
  const src = 'const R = 2u;\nfn a() { for (var r = 0u; r < R; r++) { x[r] = 0.0; } }\nfn b() { for (var r = 0u; r < R; r++) { y[r] = 0.0; } }';
  const out = unrollFunction(src, 'b');
  assert.ok(out.includes('fn a() { for (var r = 0u; r < R; r++) { x[r] = 0.0; } }'));
  assert.ok(out.includes('y[0u] = 0.0;') && out.includes('y[1u] = 0.0;'));
  assert.throws(() => unrollFunction(src, 'c'), /no function c/);
});

test.run();
