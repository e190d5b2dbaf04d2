// safetensors: round trips for every dtype, the byte layout checked by an independent parser,
// byte-identity with a file written by the reference implementation (huggingface/safetensors
// 0.8.0, `safetensors.numpy.save_file`), a corpus of malformed files that must each be refused
// with a UserError naming the file, and atomic writes. CPU only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../engine/errors.js';
import { readSafetensors, writeSafetensors, type NamedSafeTensor } from '../../engine/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'st-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
// Fixed seed, and no engine import: this file needs no GPU.
let seed = 12345;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const SIZE = { F32: 4, F16: 2, I32: 4, U32: 4 } as const;

function sample(name: string, dtype: NamedSafeTensor['dtype'], shape: number[]): NamedSafeTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, () => rand());
  const data = dtype === 'F32' ? Float32Array.from(v, (x) => (x - 0.5) * 1e3)
    : dtype === 'F16' ? Uint16Array.from(v, (x) => Math.floor(x * 0x7c00)) // finite half bit patterns
    : dtype === 'I32' ? Int32Array.from(v, (x) => Math.floor((x - 0.5) * 2 ** 32))
    : Uint32Array.from(v, (x) => Math.floor(x * 2 ** 32));
  return { name, dtype, shape, data };
}

const bytesOf = (d: ArrayBufferView) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

test('round trip: every dtype, odd shapes, empty [0] and [3,0], scalar [], metadata', async () => {
  const tensors: NamedSafeTensor[] = [];
  for (const dtype of ['F32', 'F16', 'I32', 'U32'] as const) {
    for (const [i, shape] of [[7], [3, 5], [2, 3, 5], [0], [3, 0], [], [1, 1, 13]].entries()) tensors.push(sample(`${dtype.toLowerCase()}.t${i}`, dtype, shape));
  }
  // A subarray view at an odd element offset: the writer must take only its bytes.
  const big = Float32Array.from({ length: 9 }, (_, i) => i);
  tensors.push({ name: 'view', dtype: 'F32', shape: [3], data: big.subarray(3, 6) });
  const path = join(dir, 'roundtrip.safetensors');
  await writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode ✓' });
  const back = await readSafetensors(path);
  assert.equal(back.metadata, { format: 'pt', note: 'ünïcode ✓' });
  assert.is(back.tensors.size, tensors.length);
  for (const t of tensors) {
    const r = back.tensors.get(t.name);
    assert.ok(r, t.name);
    assert.is(r!.dtype, t.dtype, t.name);
    assert.equal(r!.shape, t.shape, t.name);
    assert.is(r!.data.constructor, t.data.constructor, t.name);
    assert.equal([...bytesOf(r!.data)], [...bytesOf(t.data)], t.name);
    assert.is(r!.data.byteOffset, 0, 'own aligned buffer');
  }
  // Bit-exact for F32 specials that are finite: -0, denormals, max.
  const specials: NamedSafeTensor = { name: 'x', dtype: 'F32', shape: [4], data: Float32Array.of(-0, 1e-45, 3.4028234663852886e38, -1.1754942e-38) };
  await writeSafetensors(path, [specials]);
  const s = (await readSafetensors(path)).tensors.get('x')!;
  assert.equal([...bytesOf(s.data)], [...bytesOf(specials.data)]);
  assert.equal((await readSafetensors(path)).metadata, {});
});

/** An independent minimal parser: exactly what any standard reader relies on. */
function parseLayout(file: Uint8Array) {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(file.subarray(8, 8 + n)).toString('utf8'));
  return { n, header, base: 8 + n };
}

test('byte layout: u64 LE header length, space-padded JSON (multiple of 8), contiguous offsets, aligned, LE values', async () => {
  const tensors = [sample('b.weight', 'F16', [3]), sample('a', 'F32', [2, 2]), sample('c', 'I32', [5]), sample('d', 'U32', [1]), sample('e', 'F16', [0])];
  const path = join(dir, 'layout.safetensors');
  await writeSafetensors(path, tensors, { format: 'pt' });
  const file = new Uint8Array(readFileSync(path));
  const { n, header, base } = parseLayout(file);
  assert.is(n % 8, 0, 'header length is a multiple of 8');
  const raw = Buffer.from(file.subarray(8, 8 + n)).toString('utf8');
  assert.ok(/^\{.*\} *$/.test(raw), 'JSON then only spaces');
  assert.equal(header.__metadata__, { format: 'pt' });
  // Reference order: F32, U32, I32, then F16, by name within a dtype.
  assert.equal(Object.keys(header), ['__metadata__', 'a', 'd', 'c', 'b.weight', 'e']);
  let pos = 0;
  for (const name of Object.keys(header).slice(1)) {
    const h = header[name];
    const t = tensors.find((x) => x.name === name)!;
    assert.is(h.dtype, t.dtype);
    assert.equal(h.shape, t.shape);
    assert.equal(h.data_offsets, [pos, pos + t.data.length * SIZE[t.dtype]], `${name} offsets`);
    assert.is((base + pos) % SIZE[t.dtype], 0, `${name} aligned in the file`);
    const dv = new DataView(file.buffer, file.byteOffset + base + pos);
    for (let i = 0; i < t.data.length; i++) {
      const got = t.dtype === 'F32' ? dv.getFloat32(4 * i, true) : t.dtype === 'F16' ? dv.getUint16(2 * i, true)
        : t.dtype === 'I32' ? dv.getInt32(4 * i, true) : dv.getUint32(4 * i, true);
      assert.is(got, t.data[i], `${name}[${i}]`);
    }
    pos = h.data_offsets[1];
  }
  assert.is(file.length, base + pos, 'buffer fully covered, nothing after');
});

// Written by huggingface/safetensors 0.8.0:
//   save_file({'weight': f16 [[1,-2,0.5]], 'b': f32 [3.5,-0.25], 'idx': i32 [7,-1],
//              'u': u32 [4000000000], 'e': f32 zeros((0,3)), 's': f32 scalar 2.0}, metadata={'format':'pt'})
const REFERENCE_HEX =
  '70010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c2262223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c385d7d2c2265223a7b226474797065223a22463332222c227368617065223a5b302c335d2c22646174615f6f666673657473223a5b382c385d7d2c2273223a7b226474797065223a22463332222c227368617065223a5b5d2c22646174615f6f666673657473223a5b382c31325d7d2c2275223a7b226474797065223a22553332222c227368617065223a5b315d2c22646174615f6f666673657473223a5b31322c31365d7d2c22696478223a7b226474797065223a22493332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b31362c32345d7d2c22776569676874223a7b226474797065223a22463136222c227368617065223a5b312c335d2c22646174615f6f666673657473223a5b32342c33305d7d7d2000006040000080be0000004000286bee07000000ffffffff003c00c00038';

test('a file written by the reference implementation: read with the right values, and rewritten byte-identically', async () => {
  const ref = Buffer.from(REFERENCE_HEX, 'hex');
  const path = join(dir, 'reference.safetensors');
  writeFileSync(path, ref);
  const { tensors, metadata } = await readSafetensors(path);
  assert.equal(metadata, { format: 'pt' });
  assert.equal([...tensors.keys()].sort(), ['b', 'e', 'idx', 's', 'u', 'weight']);
  assert.equal([...tensors.get('b')!.data], [3.5, -0.25]);
  assert.equal(tensors.get('e')!.shape, [0, 3]);
  assert.is(tensors.get('e')!.data.length, 0);
  assert.equal(tensors.get('s')!.shape, []);
  assert.equal([...tensors.get('s')!.data], [2]);
  assert.equal([...tensors.get('u')!.data], [4000000000]);
  assert.equal([...tensors.get('idx')!.data], [7, -1]);
  assert.is(tensors.get('weight')!.dtype, 'F16');
  assert.equal([...tensors.get('weight')!.data], [0x3c00, 0xc000, 0x3800]); // 1, -2, 0.5 as half bits
  const out = join(dir, 'rewritten.safetensors');
  await writeSafetensors(out, [...tensors].map(([name, t]) => ({ name, ...t })), metadata);
  assert.is(readFileSync(out).toString('hex'), REFERENCE_HEX, 'same bytes as the reference writer');
});

// ---------------------------------------------------------------------------------------
// Malformed files.

/** A file from a header (object or raw text) and a buffer; header padded like the writer does unless raw. */
function build(header: unknown, buffer: Uint8Array, o: { raw?: boolean; len?: bigint } = {}): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (!o.raw) text = text.padEnd(Math.ceil(Buffer.byteLength(text) / 8) * 8, ' ');
  const h = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + h.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, o.len ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(buffer, 8 + h.length);
  return out;
}

test('malformed files: every one refused with a UserError naming the file, none crash', async () => {
  // Base: valid, three tensors of two dtypes plus an empty one, with metadata.
  const baseHeader = () => ({
    __metadata__: { format: 'pt' },
    w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
    i: { dtype: 'I32', shape: [2], data_offsets: [24, 32] },
    z: { dtype: 'F32', shape: [0], data_offsets: [32, 32] },
    h: { dtype: 'F16', shape: [3], data_offsets: [32, 38] },
  } as Record<string, any>);
  const buf = Uint8Array.from({ length: 38 }, (_, i) => (i * 37) & 0xff);
  const good = build(baseHeader(), buf);
  const goodPath = join(dir, 'good.safetensors');
  writeFileSync(goodPath, good);
  assert.is((await readSafetensors(goodPath)).tensors.size, 4, 'the base file is valid');
  // As in the reference, a null __metadata__ means none.
  writeFileSync(goodPath, build({ ...baseHeader(), __metadata__: null }, buf));
  assert.equal((await readSafetensors(goodPath)).metadata, {});
  const headerLen = Number(new DataView(good.buffer).getBigUint64(0, true));

  const cases: { what: string; bytes: Uint8Array; opts?: { maxHeaderBytes: number } }[] = [];
  const add = (what: string, bytes: Uint8Array, opts?: { maxHeaderBytes: number }) => cases.push({ what, bytes, opts });
  const mutate = (what: string, f: (h: Record<string, any>) => void, b = buf) => {
    const h = baseHeader();
    f(h);
    add(what, build(h, b));
  };

  // Truncated at every length.
  for (let len = 0; len < good.length; len++) add(`truncated to ${len} bytes`, good.slice(0, len));
  // Every header byte replaced by 0xff (never valid UTF-8) and by 0x80 (a stray continuation byte).
  for (let i = 8; i < 8 + headerLen; i++) {
    for (const b of [0xff, 0x80]) {
      const c = good.slice();
      c[i] = b;
      add(`header byte ${i} = 0x${b.toString(16)}`, c);
    }
  }
  // Every JSON structural character replaced by a letter.
  for (let i = 8; i < 8 + headerLen; i++) {
    if ('{}[]:,"'.includes(String.fromCharCode(good[i]))) {
      const c = good.slice();
      c[i] = 0x78;
      add(`structural byte ${i} '${String.fromCharCode(good[i])}' = 'x'`, c);
    }
  }
  // Header length field.
  for (const len of [0n, 1n, BigInt(headerLen) + 39n, BigInt(headerLen) + 1000n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
    const c = good.slice();
    new DataView(c.buffer).setBigUint64(0, len, true);
    add(`header length ${len}`, c);
  }
  add('header over maxHeaderBytes', good, { maxHeaderBytes: headerLen - 8 });
  // Not JSON / not an object / wrong start.
  for (const text of ['not json at all', '{"w":', '[1,2,3]', '"string"', '42', 'null', ' {}', '\ufeff{}', '{} trailing', '{"a":1}{"b":2}']) {
    add(`header text ${JSON.stringify(text)}`, build(text, buf));
  }
  add('header is an empty object but the buffer has bytes', build({}, buf));
  // dtype.
  for (const dtype of ['F64', 'BF16', 'I64', 'U8', 'BOOL', 'f32', 'FLOAT', '', 7, null, ['F32']]) mutate(`dtype ${JSON.stringify(dtype)}`, (h) => { h.w.dtype = dtype; });
  mutate('dtype missing', (h) => { delete h.w.dtype; });
  // shape.
  for (const shape of [[-1, 6], [2.5, 2], ['2', 3], '6', null, {}, [6, 1, 1, 2], [3], [2, 3, 0], [1e300, 1e300], [2 ** 53, 2]]) mutate(`shape ${JSON.stringify(shape)}`, (h) => { h.w.shape = shape; });
  mutate('shape missing', (h) => { delete h.w.shape; });
  mutate('empty tensor claims bytes', (h) => { h.z.shape = [1]; });
  // data_offsets.
  for (const offs of [[24, 0], [0, 25], [0, 23], [1, 25], [-4, 20], ['0', 24], [0], [0, 24, 48], null, '0,24', [0, 24.5], [0, 2 ** 60]]) {
    mutate(`w.data_offsets ${JSON.stringify(offs)}`, (h) => { h.w.data_offsets = offs; });
  }
  mutate('data_offsets missing', (h) => { delete h.w.data_offsets; });
  mutate('last tensor beyond the buffer', (h) => { h.h.data_offsets = [34, 40]; });
  mutate('overlap: i inside w', (h) => { h.i.data_offsets = [16, 24]; h.z.data_offsets = [24, 24]; h.h.data_offsets = [24, 30]; }, buf.slice(0, 30));
  mutate('overlap: two tensors on the same bytes', (h) => { h.h.data_offsets = [24, 30]; h.i = { dtype: 'F16', shape: [3], data_offsets: [24, 30] }; }, buf.slice(0, 30));
  mutate('gap between tensors', (h) => { h.i.data_offsets = [28, 36]; h.z.data_offsets = [36, 36]; h.h.data_offsets = [36, 42]; }, new Uint8Array(42));
  mutate('gap at the start', (h) => { for (const k of ['w', 'i', 'z', 'h']) h[k].data_offsets = h[k].data_offsets.map((x: number) => x + 4); }, new Uint8Array(42));
  for (const extra of [1, 2, 8, 100]) add(`${extra} trailing bytes`, build(baseHeader(), new Uint8Array(38 + extra)));
  // Entries and metadata of the wrong kind.
  for (const v of [5, null, [], 'F32', true]) mutate(`tensor entry ${JSON.stringify(v)}`, (h) => { h.w = v; });
  for (const m of [5, [], 'pt', { format: 1 }, { a: null }, { a: ['x'] }]) mutate(`__metadata__ ${JSON.stringify(m)}`, (h) => { h.__metadata__ = m; });
  // A duplicated key: JSON.parse keeps the last, the other's bytes become a gap.
  add('duplicate tensor name', build('{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[24,48]}}', new Uint8Array(48)));
  add('short file 7 bytes', new Uint8Array(7));
  add('only a header length', new Uint8Array(8));

  let rejected = 0;
  const crashes: string[] = [];
  for (const [k, c] of cases.entries()) {
    const path = join(dir, `bad-${k}.safetensors`);
    writeFileSync(path, c.bytes);
    try {
      await readSafetensors(path, c.opts);
      crashes.push(`${c.what}: accepted`);
    } catch (e) {
      if (!(e instanceof UserError)) crashes.push(`${c.what}: ${(e as Error).name}: ${(e as Error).message}`);
      else if (!e.message.includes(path)) crashes.push(`${c.what}: message does not name the file: ${e.message}`);
      else rejected++;
    }
    rmSync(path);
  }
  console.log(`  malformed files: ${rejected}/${cases.length} rejected with a UserError naming the file`);
  assert.equal(crashes, []);
  assert.is(rejected, cases.length);
  assert.ok(cases.length > 300, `${cases.length} cases`);
});

test('specific messages name the field', async () => {
  const expect = async (bytes: Uint8Array, re: RegExp) => {
    const path = join(dir, 'msg.safetensors');
    writeFileSync(path, bytes);
    try {
      await readSafetensors(path);
      assert.unreachable('accepted');
    } catch (e) {
      assert.instance(e, UserError);
      assert.match((e as Error).message, re);
    }
  };
  const w = (extra: object) => ({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...extra } });
  await expect(build(w({ dtype: 'BF16' }), new Uint8Array(8)), /tensor "w": dtype BF16 is not supported here/);
  await expect(build(w({ dtype: 'Q4' }), new Uint8Array(8)), /tensor "w": unknown dtype "Q4"/);
  await expect(build(w({ shape: [3] }), new Uint8Array(8)), /tensor "w": 8 bytes for F32 shape \[3\] \(needs 12\)/);
  await expect(build(w({}), new Uint8Array(12)), /4 trailing bytes/);
  await expect(build(w({}), new Uint8Array(4)), /tensor "w".*beyond the 4-byte buffer/);
  await expect(new Uint8Array(3), /shorter than the 8-byte header length/);
  await expect(build('{"w":}', new Uint8Array(0)), /not valid JSON/);
  await expect(build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /tensor "b" overlaps tensor "a"/);
  try {
    await readSafetensors(join(dir, 'does-not-exist.safetensors'));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, UserError);
    assert.match((e as Error).message, /does-not-exist\.safetensors: cannot open \(ENOENT\)/);
  }
});

test('atomic write: a NaN found midway leaves the previous file intact and no temp files; F16 Inf too', async () => {
  const sub = mkdtempSync(join(dir, 'atomic-'));
  const path = join(sub, 'model.safetensors');
  const before = [sample('a', 'F32', [1000]), sample('b', 'F32', [4])];
  await writeSafetensors(path, before);
  const original = readFileSync(path);
  // 'a' (large, written first) is fine; 'b' holds the NaN: the failure comes after bytes were written.
  const b = sample('b', 'F32', [4]);
  (b.data as Float32Array)[2] = NaN;
  try {
    await writeSafetensors(path, [sample('a', 'F32', [1000]), b], undefined, { requireFinite: true });
    assert.unreachable('wrote a NaN');
  } catch (e) {
    assert.match((e as Error).message, /tensor "b" \[4\] has NaN at flat index 2/);
  }
  assert.ok(readFileSync(path).equals(original), 'previous file unchanged');
  assert.equal(readdirSync(sub), ['model.safetensors'], 'no temp file left');
  // No previous file: nothing created.
  const fresh = join(sub, 'fresh.safetensors');
  const h = sample('h', 'F16', [3]);
  (h.data as Uint16Array)[1] = 0xfc00; // -Inf
  try {
    await writeSafetensors(fresh, [h], undefined, { requireFinite: true });
    assert.unreachable('wrote an Inf');
  } catch (e) {
    assert.match((e as Error).message, /tensor "h" \[3\] has 64512 at flat index 1/);
  }
  assert.not.ok(existsSync(fresh));
  // Without requireFinite, non-finite values are stored bit-exactly.
  await writeSafetensors(fresh, [h, b]);
  const back = await readSafetensors(fresh);
  assert.ok(Number.isNaN(back.tensors.get('b')!.data[2]));
  assert.is(back.tensors.get('h')!.data[1], 0xfc00);
  assert.equal(readdirSync(sub).sort(), ['fresh.safetensors', 'model.safetensors']);
});

test('writer input validation: refuses before creating anything', async () => {
  const path = join(dir, 'invalid-input.safetensors');
  const bad: [string, NamedSafeTensor[], RegExp][] = [
    ['wrong array type', [{ name: 'a', dtype: 'F16', shape: [2], data: new Float32Array(2) }], /F16 data must be a Uint16Array/],
    ['length mismatch', [{ name: 'a', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }], /3 values for shape \[2,2\]/],
    ['duplicate', [sample('a', 'F32', [1]), sample('a', 'F32', [1])], /duplicate name/],
    ['reserved name', [sample('__metadata__', 'F32', [1])], /invalid name/],
    ['bad shape', [{ name: 'a', dtype: 'F32', shape: [-1], data: new Float32Array(0) }], /invalid shape/],
    ['bad dtype', [{ name: 'a', dtype: 'F64' as 'F32', shape: [1], data: new Float32Array(1) }], /dtype F64 is not one of/],
  ];
  for (const [what, tensors, re] of bad) {
    try {
      await writeSafetensors(path, tensors);
      assert.unreachable(what);
    } catch (e) {
      assert.match((e as Error).message, re, what);
    }
  }
  assert.not.ok(existsSync(path));
  assert.equal(readdirSync(dir).filter((n) => n.includes('.tmp-')), []);
});

test.run();
