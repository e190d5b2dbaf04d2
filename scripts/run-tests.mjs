// Runs every compiled test file (dist/tests/**/*.test.js) in its own Node process, so a
// native crash in one file is counted as a failure instead of ending the whole run.
// Files named *.stress.test.js run three times in a row (each run must pass).
// Prints uvu's per-file output, then the closing line CI reads: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testRoot = join(root, 'dist', 'tests');
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

let passed = 0, failed = 0, skippedByAdapter = 0;
const failures = [];
const files = walk(testRoot).sort().filter((f) => !filter || filter.test(f));
for (const file of files) {
  const runs = file.endsWith('.stress.test.js') ? 3 : 1;
  for (let run = 1; run <= runs; run++) {
    const name = relative(testRoot, file) + (runs > 1 ? ` (run ${run}/${runs})` : '');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--expose-gc', '--enable-source-maps', file], {
      cwd: root, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, maxBuffer: 64 << 20,
    });
    const out = (r.stdout || '') + (r.stderr || '');
    const total = +(out.match(/Total:\s+(\d+)/)?.[1] ?? NaN);
    const ok = +(out.match(/Passed:\s+(\d+)/)?.[1] ?? NaN);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (Number.isNaN(total) || Number.isNaN(ok)) {
      failed += 1;
      failures.push(`${name}: exited with ${r.status ?? r.signal} before finishing`);
      console.log(`✘ ${name} (${secs}s) crashed or printed no summary:\n${out.slice(-4000)}`);
      continue;
    }
    const skipped = +(out.match(/Skipped:\s+(\d+)/)?.[1] ?? 0);
    const bad = total - ok - skipped + (r.status !== 0 && total === ok + skipped ? 1 : 0);
    // Tests that found the adapter without a feature they check (tests/helpers.ts skipWithout)
    // ran nothing: counted as skipped, not passed.
    const adapterSkips = Math.min(ok, (out.match(/SKIPPED \(adapter\): /g) ?? []).length);
    passed += ok - adapterSkips; failed += bad; skippedByAdapter += adapterSkips;
    if (bad > 0) { failures.push(name); console.log(`✘ ${name} (${secs}s)\n${out.slice(-8000)}`); }
    else console.log(`✔ ${name}: ${ok - adapterSkips} passed${adapterSkips ? `, ${adapterSkips} skipped on this adapter` : ''} (${secs}s)`);
  }
}
if (failures.length) console.log('\nFailed:\n  ' + failures.join('\n  '));
if (skippedByAdapter) console.log(`(${skippedByAdapter} test${skippedByAdapter === 1 ? '' : 's'} skipped: this adapter lacks a feature they check)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
