// The safetensors file format (https://github.com/huggingface/safetensors), read and written
// without dependencies, so checkpoints load unchanged in PyTorch / `safetensors` / transformers:
//
//   [u64 little-endian N] [N bytes of UTF-8 JSON header] [byte buffer]
//   header = { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
//              "__metadata__": { "<key>": "<string>" } (optional) }
//
// Offsets are relative to the start of the buffer; tensors are row-major, little-endian.
//
// Writing: tensors are laid out in the reference implementation's order (dtype, element size
// descending, then name), so the same tensors give the same bytes as `safetensors.save_file`. With the header padded with spaces to a multiple of 8 bytes,
// every tensor then starts at a file offset that is a multiple of its element size, so readers
// can map the file without copying. Writes are atomic (temp file, fsync, rename, fsync dir).
//
// Reading validates everything the reference validates (and reports gaps / trailing bytes,
// which the reference also refuses) and raises UserError naming the file and the offending
// field, because a bad file is the user's to fix, never a crash.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { fsyncDir } from './atomic_file.js';
import { dirname } from 'node:path';
import { UserError } from './errors.js';

export type SafeDType = 'F32' | 'F16' | 'I32' | 'U32';
/** F16 values are raw IEEE half bits (there is no Float16Array in Node 20). */
export type SafeData = Float32Array | Uint16Array | Int32Array | Uint32Array;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: SafeData;
}
export interface NamedSafeTensor extends SafeTensor {
  name: string;
}
export interface WriteOptions {
  /** Refuse (and write nothing) if any F32/F16 value is NaN or infinite; the error names the tensor. */
  requireFinite?: boolean;
}
export interface ReadOptions {
  /** Largest header accepted, in bytes (default 100,000,000, the reference's limit). */
  maxHeaderBytes?: number;
}

export const SAFE_DTYPE_BYTES: Record<SafeDType, number> = { F32: 4, F16: 2, I32: 4, U32: 4 };
const ARRAY_OF: Record<SafeDType, { new (n: number): SafeData; name: string }> = {
  F32: Float32Array, F16: Uint16Array, I32: Int32Array, U32: Uint32Array,
};
// Valid safetensors dtypes this engine has no type for: named in the error, unlike typos.
const OTHER_DTYPES = new Set(['BOOL', 'U8', 'I8', 'I16', 'U16', 'BF16', 'F64', 'I64', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);
const METADATA_KEY = '__metadata__';
// The reference writer orders tensors by its Dtype enum, descending (F32 > U32 > I32 > F16:
// element size descending), then by name. Same order here, so our files are byte-identical.
const DTYPE_RANK: Record<SafeDType, number> = { F32: 3, U32: 2, I32: 1, F16: 0 };

function assertLittleEndian(): void {
  // Typed arrays use the host's byte order; the format is little-endian.
  if (endianness() !== 'LE') throw new Error('safetensors: big-endian hosts are not supported');
}

function isSafeDType(d: unknown): d is SafeDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(SAFE_DTYPE_BYTES, d);
}

/** Element count of a shape, or null if it is not an array of non-negative integers or overflows. */
function shapeNumel(shape: unknown): number | null {
  if (!Array.isArray(shape)) return null;
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return null;
    n *= d;
    if (!Number.isSafeInteger(n)) return null;
  }
  return n;
}

/** Index of the first NaN/Inf, or -1. F16: exponent bits all ones. */
export function firstNonFinite(t: SafeTensor): number {
  if (t.dtype === 'F32') {
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return i;
  } else if (t.dtype === 'F16') {
    const d = t.data as Uint16Array;
    for (let i = 0; i < d.length; i++) if ((d[i] & 0x7c00) === 0x7c00) return i;
  }
  return -1;
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  // FileHandle.write may write less than asked; loop until done.
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

/**
 * Writes a file atomically: `<path>.tmp-<pid>-<random>` in the same directory (so the rename
 * stays on one filesystem), `produce` fills it, fsync, rename over `path`, fsync the directory.
 * On any error the temp file is removed and `path` is untouched.
 */
export async function writeAtomic(path: string, produce: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx');
  let closed = false;
  try {
    await produce(fh);
    await fh.sync();
    await fh.close();
    closed = true;
    await rename(tmp, path);
  } catch (e) {
    if (!closed) await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fsyncDir(dirname(path));
}

/** writeAtomic for a string or bytes. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomic(path, (fh) => writeAll(fh, typeof data === 'string' ? new TextEncoder().encode(data) : data));
}

/**
 * Writes tensors as a safetensors file, atomically. Layout order: dtype (F32, U32, I32, F16),
 * then name, as the reference writer does (each tensor aligned to its element size).
 * Inputs are validated first (nothing is created for a malformed call); with requireFinite,
 * values are checked just before each tensor is written and a failure removes the temp file.
 */
export async function writeSafetensors(path: string, tensors: NamedSafeTensor[], metadata?: Record<string, string>, opts: WriteOptions = {}): Promise<void> {
  assertLittleEndian();
  const names = new Set<string>();
  for (const t of tensors) {
    const what = `${path}: tensor "${t.name}"`;
    if (typeof t.name !== 'string' || t.name === METADATA_KEY) throw new Error(`${what}: invalid name`);
    if (names.has(t.name)) throw new Error(`${what}: duplicate name`);
    names.add(t.name);
    if (!isSafeDType(t.dtype)) throw new Error(`${what}: dtype ${String(t.dtype)} is not one of ${Object.keys(SAFE_DTYPE_BYTES).join(', ')}`);
    const n = shapeNumel(t.shape);
    if (n === null) throw new Error(`${what}: invalid shape [${t.shape}]`);
    if (!(t.data instanceof ARRAY_OF[t.dtype])) throw new Error(`${what}: ${t.dtype} data must be a ${ARRAY_OF[t.dtype].name}`);
    if (t.data.length !== n) throw new Error(`${what}: ${t.data.length} values for shape [${t.shape}] (${n} elements)`);
  }
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string') throw new Error(`${path}: metadata "${k}" must be a string`);
  }
  const order = [...tensors].sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const t of order) {
    const end = offset + t.data.byteLength;
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, end] };
    offset = end;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20); // spaces: still valid JSON
    p.set(json);
    json = p;
  }
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  await writeAtomic(path, async (fh) => {
    await writeAll(fh, prefix);
    await writeAll(fh, json);
    for (const t of order) {
      if (opts.requireFinite) {
        const bad = firstNonFinite(t);
        if (bad >= 0) throw new Error(`${path}: refusing to write non-finite values: tensor "${t.name}" [${t.shape}] has ${t.data[bad]} at flat index ${bad}`);
      }
      await writeAll(fh, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  });
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** Reads and fully validates a safetensors file; every problem is a UserError naming the file and field. */
export async function readSafetensors(path: string, opts: ReadOptions = {}): Promise<SafetensorsFile> {
  assertLittleEndian();
  const maxHeader = opts.maxHeaderBytes ?? 100_000_000;
  const bad = (msg: string) => new UserError(`${path}: not a valid safetensors file: ${msg}`);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new UserError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UserError(`${path}: not a regular file`);
    const fileSize = st.size;
    const readExact = async (pos: number, len: number, what: string): Promise<Uint8Array> => {
      const buf = new Uint8Array(len);
      let done = 0;
      while (done < len) {
        const { bytesRead } = await fh.read(buf, done, len - done, pos + done);
        if (bytesRead === 0) throw bad(`truncated while reading the ${what} (file changed while reading?)`);
        done += bytesRead;
      }
      return buf;
    };
    if (fileSize < 8) throw bad(`${fileSize} bytes, shorter than the 8-byte header length`);
    const n64 = new DataView((await readExact(0, 8, 'header length')).buffer).getBigUint64(0, true);
    if (n64 > BigInt(maxHeader)) throw bad(`header length ${n64} exceeds the limit of ${maxHeader} bytes`);
    const n = Number(n64);
    if (8 + n > fileSize) throw bad(`header length ${n} runs past the end of the file (${fileSize} bytes)`);
    if (n < 2) throw bad(`header length ${n} is too small for a JSON object`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(await readExact(8, n, 'header'));
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw bad('header is not valid UTF-8');
    }
    // The reference requires the header to start with '{' (no BOM, no leading whitespace).
    if (!text.startsWith('{')) throw bad('header does not start with "{"');
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      throw bad(`header is not valid JSON (${(e as Error).message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');

    const metadata: Record<string, string> = {};
    const entries: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] = [];
    for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
      if (name === METADATA_KEY) {
        if (info === null) continue; // the reference treats null as absent
        if (typeof info !== 'object' || Array.isArray(info)) throw bad(`"${METADATA_KEY}" is not an object`);
        for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
          if (typeof v !== 'string') throw bad(`"${METADATA_KEY}"."${k}" is not a string`);
          metadata[k] = v;
        }
        continue;
      }
      const where = `tensor "${name}"`;
      if (info === null || typeof info !== 'object' || Array.isArray(info)) throw bad(`${where} is not an object`);
      const { dtype, shape, data_offsets: offs } = info as Record<string, unknown>;
      if (typeof dtype !== 'string') throw bad(`${where}: missing or non-string "dtype"`);
      if (!isSafeDType(dtype)) {
        if (OTHER_DTYPES.has(dtype)) throw bad(`${where}: dtype ${dtype} is not supported here (supported: F32, F16, I32, U32)`);
        throw bad(`${where}: unknown dtype "${dtype}"`);
      }
      const numel = shapeNumel(shape);
      if (numel === null) throw bad(`${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
        throw bad(`${where}: "data_offsets" must be [begin, end] non-negative integers, got ${JSON.stringify(offs)}`);
      }
      const [begin, end] = offs as number[];
      if (end < begin) throw bad(`${where}: data_offsets end ${end} < begin ${begin}`);
      if (end - begin !== numel * SAFE_DTYPE_BYTES[dtype]) {
        throw bad(`${where}: ${end - begin} bytes for ${dtype} shape [${shape as number[]}] (needs ${numel * SAFE_DTYPE_BYTES[dtype]})`);
      }
      entries.push({ name, dtype, shape: shape as number[], begin, end });
    }

    // The tensors must tile the buffer exactly: no overlap, no gap, nothing after the last.
    // (This also catches a duplicated name in the JSON, which JSON.parse silently collapses:
    // the dropped entry's bytes become a gap.)
    const bufferStart = 8 + n;
    const bufferSize = fileSize - bufferStart;
    const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let pos = 0;
    let prev: string | null = null;
    for (const e of sorted) {
      if (e.end > bufferSize) throw bad(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] beyond the ${bufferSize}-byte buffer (truncated file?)`);
      if (e.begin < pos) throw bad(`tensor "${e.name}" overlaps tensor "${prev}" (bytes ${e.begin}..${pos})`);
      if (e.begin > pos) throw bad(`gap of ${e.begin - pos} bytes before tensor "${e.name}" (at buffer offset ${pos})`);
      pos = e.end;
      prev = e.name;
    }
    if (pos !== bufferSize) throw bad(`${bufferSize - pos} trailing bytes after the last tensor`);

    // One read of the whole buffer, then copies into fresh (aligned) typed arrays.
    const buffer = await readExact(bufferStart, bufferSize, 'tensor data');
    const tensors = new Map<string, SafeTensor>();
    for (const e of entries) {
      const data = new ARRAY_OF[e.dtype]((e.end - e.begin) / SAFE_DTYPE_BYTES[e.dtype]);
      new Uint8Array(data.buffer).set(buffer.subarray(e.begin, e.end));
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
    }
    return { tensors, metadata };
  } finally {
    await fh.close();
  }
}
