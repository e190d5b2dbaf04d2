// Helpers for the reliability tests: run the real `ivt` CLI in child processes, temporary
// folders removed at exit, and the checks every user-facing failure must pass.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../../..', import.meta.url).pathname; // dist/tests/reliability -> repo root
export const IVT = join(ROOT, 'dist', 'cli', 'ivt.js');

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

export function tempDir(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `ivt-${label}-`));
  made.push(d);
  return d;
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const xdg = process.env.XDG_RUNTIME_DIR ?? '/tmp/xdg';
  mkdirSync(xdg, { recursive: true });
  return { ...process.env, XDG_RUNTIME_DIR: xdg, FORCE_COLOR: '0', ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Starts `ivt ...args`; returns the child and a promise of its result. */
export function startIvt(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [IVT, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
  });
  return { child, done };
}

export function ivt(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startIvt(args, env).done;
}

/** Runs tasks with at most `n` in flight (the machine has two cores). */
export async function pool<T, R>(items: T[], n: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** Dawn's harmless start-up warnings, which are not ours to judge. */
export function withoutDawnNoise(text: string): string {
  return text.split('\n').filter((l) => !/^Warning: max\w+ artificially reduced/.test(l)).join('\n');
}

/** A JS stack frame in the output: "    at f (file:///...:1:2)" or "    at file:///...". */
export const STACK_RE = /^\s+at (?:.+ \()?(?:file:\/\/|node:|\/)[^\n]*:\d+:\d+\)?$/m;
