// The IVT-LR model: every stage's loss is finite and trains; the latent chain passes
// gradients (checked numerically); detach cuts them; ablations change the computation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { preset, validateConfig } from '../../model/config.js';
import { IvtModel, Sample, FULL_LATENT, IMAGE_WORDS } from '../../model/ivt.js';
import { generate } from '../../model/generate.js';
import { randomVisionIndices, randomVisionOrder } from '../../model/latent_vision.js';
import { rng, setup } from '../helpers.js';

test.before(setup);

function fakeSamples(n: number, vocab: number, J: number, patchDim: number, seed: number): Sample[] {
  const r = rng(seed);
  const tok = () => 6 + Math.floor(r() * (vocab - 6));
  return Array.from({ length: n }, (_, i) => ({
    patches: Float32Array.from({ length: J * patchDim }, () => r() * 2 - 1),
    prompt: Array.from({ length: 5 + (i % 3) }, tok),
    steps: [0, 1, 2].map(() => Array.from({ length: 3 + ((i + 1) % 2) }, tok)),
    answer: [tok(), tok(), 1],
    answerIndex: i % 4,
  }));
}

test('tied query/key initialisation: keys start equal to queries in the language model only; other weights as untied', async () => {
  const base = preset('tiny', 40, { layers: 2 });
  const tied = new IvtModel({ ...base, tiedQkInit: true }, 0);
  const untied = new IvtModel({ ...base, tiedQkInit: false }, 0);
  const D = base.dim;
  for (let l = 0; l < 2; l++) {
    const name = `lm.h.${l}.attn.c_attn.weight`;
    const t = (await tied.ps.params.get(name)!.toArray()) as Float32Array;
    const u = (await untied.ps.params.get(name)!.toArray()) as Float32Array;
    assert.equal(Array.from(t.subarray(D * D, 2 * D * D)), Array.from(t.subarray(0, D * D)), `${name}: keys are not the queries`);
    assert.not.equal(Array.from(u.subarray(D * D, 2 * D * D)), Array.from(u.subarray(0, D * D)));
    // Queries and values are the same draws either way.
    assert.equal(Array.from(t.subarray(0, D * D)), Array.from(u.subarray(0, D * D)));
    assert.equal(Array.from(t.subarray(2 * D * D)), Array.from(u.subarray(2 * D * D)));
  }
  const vision = 'vision.blocks.0.attn.c_attn.weight';
  assert.ok(tied.ps.params.has(vision), vision);
  assert.equal(Array.from((await tied.ps.params.get(vision)!.toArray()) as Float32Array), Array.from((await untied.ps.params.get(vision)!.toArray()) as Float32Array));
  assert.throws(() => validateConfig({ ...base, tiedQkInit: 'yes' as never }, 'config.json'), /tiedQkInit/);
  tied.ps.dispose();
  untied.ps.dispose();
});

test('loss at every stage is finite; backward reaches the vision encoder through latent vision', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(3, cfg.vocab, model.J, model.vision.patchDim, 1);
  for (let stage = 0; stage <= 3; stage++) {
    const [loss, gPatch, gScale] = await E.tidyAsync(async () => {
      for (const p of model.ps.list()) { p.grad?.dispose(); p.grad = null; }
      const l = model.loss(samples, stage, FULL_LATENT);
      E.backward(l);
      const gp = model.vision.patchEmbed.weight.grad!;
      const gs = model.latentScale.grad;
      return [await l.item(), E.sumAll(E.mul(gp, gp)).item(), gs ? await E.sumAll(E.mul(gs, gs)).item() : 0];
    });
    assert.ok(Number.isFinite(loss) && loss > 0, `stage ${stage} loss ${loss}`);
    assert.ok((await gPatch) > 0, `stage ${stage}: no gradient at the patch embedding`);
    if (stage > 0) assert.ok(gScale > 0, `stage ${stage}: no gradient reached the latent scale`);
  }
  model.ps.dispose();
});

test('gradient through the latent chain matches finite differences; detach cuts it', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(2, cfg.vocab, model.J, model.vision.patchDim, 2);
  // A weight of the first LM block influences the loss at stage 3 both directly and through
  // every recycled hidden state h1..h3. Perturb a few entries and compare.
  const w = model.blocks[0].fc.weight;
  const base = Float64Array.from(await w.toArray());
  const lossAt = (lo = FULL_LATENT) => E.tidyAsync(async () => E.noGrad(() => model.loss(samples, 3, lo)).item());
  const grad = await E.tidyAsync(async () => {
    w.grad?.dispose(); w.grad = null;
    E.backward(model.loss(samples, 3, FULL_LATENT));
    return Float64Array.from(await w.grad!.toArray());
  });
  const setW = (data: Float64Array) => { E.rt().flush(); E.rt().upload(w.storage.buffer, w.byteOffset, Float32Array.from(data)); };
  const eps = 1e-2;
  let checked = 0;
  for (const idx of [3, 77, 190, 401]) {
    const up = Float64Array.from(base); up[idx] += eps; setW(up);
    const lp = await lossAt();
    const dn = Float64Array.from(base); dn[idx] -= eps; setW(dn);
    const lm = await lossAt();
    setW(base);
    const fd = (lp - lm) / (2 * eps);
    assert.ok(Math.abs(fd - grad[idx]) <= 2e-3 + 0.05 * Math.abs(fd), `w[${idx}]: autograd ${grad[idx]}, finite difference ${fd}`);
    checked++;
  }
  assert.is(checked, 4);
  // With detach, the latent scale gets no gradient from the hidden-state path except via
  // its own multiplication: the chain into earlier positions is cut, so gradients differ.
  const gDetached = await E.tidyAsync(async () => {
    w.grad?.dispose(); w.grad = null;
    E.backward(model.loss(samples, 3, { ...FULL_LATENT, detach: true }));
    return Float64Array.from(await w.grad!.toArray());
  });
  let diff = 0;
  for (let i = 0; i < grad.length; i++) diff = Math.max(diff, Math.abs(grad[i] - gDetached[i]));
  assert.ok(diff > 1e-6, 'detaching the latent chain did not change the gradient');
  model.ps.dispose();
});

for (const positions of ['rope', 'learned'] as const) test(`latent inference on the KV cache equals recomputing the whole prefix at every step (${positions} positions)`, async () => {
  const cfg = preset('tiny', 40, { positions });
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(3, cfg.vocab, model.J, model.vision.patchDim, 3);
  const opts = { latentSteps: 3, latent: FULL_LATENT, maxNewTokens: 6, eos: 1, withSelections: true };
  const cached = await generate(model, samples, opts);
  const recomputed = await generate(model, samples, { ...opts, recompute: true });
  assert.equal(cached.selections, recomputed.selections, 'selected image tokens differ');
  assert.equal(cached.tokens, recomputed.tokens, 'decoded tokens differ');
  assert.is(cached.selections.length, 3);
  for (const step of cached.selections) for (const row of step) assert.is(new Set(row).size, cfg.topK);
  // No image token is chosen twice across steps.
  for (let b = 0; b < samples.length; b++) {
    const all = cached.selections.flatMap((st) => st[b]);
    assert.is(new Set(all).size, all.length, `row ${b} repeated an image token across steps`);
  }
  model.ps.dispose();
});

test('random latent vision: k distinct tokens a step, none repeated across steps, fixed per problem, the same on the KV cache and recomputed', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(4, cfg.vocab, model.J, model.vision.patchDim, 3);
  const latent = { ...FULL_LATENT, randomVision: true };
  const opts = { latentSteps: 3, latent, maxNewTokens: 6, eos: 1, withSelections: true };
  const cached = await generate(model, samples, opts);
  const recomputed = await generate(model, samples, { ...opts, recompute: true });
  assert.equal(cached.selections, recomputed.selections);
  assert.equal(cached.tokens, recomputed.tokens);
  samples.forEach((s, b) => {
    const order = randomVisionOrder(s, model.J);
    assert.equal([...order].sort((x, y) => x - y), Array.from({ length: model.J }, (_, j) => j), 'a permutation of the image tokens');
    assert.equal(cached.selections.map((st) => st[b]), [0, 1, 2].map((i) => order.slice(i * cfg.topK, (i + 1) * cfg.topK)), `problem ${b}`);
    // Fixed per problem: the same problem (a copy, not the cached object) alone in a batch, or
    // behind another problem, draws the same tokens.
    const copy = { ...s, patches: Float32Array.from(s.patches) };
    const alone = randomVisionIndices([copy], model.J, cfg.topK, 1);
    const behind = randomVisionIndices([samples[(b + 1) % samples.length]!, { ...copy }], model.J, cfg.topK, 1);
    assert.equal(Array.from(alone), order.slice(cfg.topK, 2 * cfg.topK));
    assert.equal(Array.from(behind.slice(cfg.topK), (x) => x - model.J), order.slice(cfg.topK, 2 * cfg.topK));
  });
  // Different problems draw different orders (four identical permutations of 16 would be a broken hash).
  assert.ok(new Set(samples.map((s) => randomVisionOrder(s, model.J).join(','))).size > 1);
  // Not the attention's choice: the same weights select otherwise with attention.
  const attended = await generate(model, samples, { ...opts, latent: FULL_LATENT });
  assert.not.equal(attended.selections, cached.selections);
  assert.throws(() => randomVisionIndices(samples, model.J, cfg.topK, 4), /needs more than the 16 image tokens/);
  model.ps.dispose();
});

test('decoding stops at a stop sequence: the row ends there and counts no further pass', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(3, cfg.vocab, model.J, model.vision.patchDim, 3);
  const opts = { latentSteps: 2, latent: FULL_LATENT, maxNewTokens: 6, eos: 1 };
  const free = await generate(model, samples, opts);
  // Stop each row after its own first two greedy tokens (the same tokens it decodes anyway).
  const stop = free.tokens.map((t) => t.slice(0, 2));
  const stopped = await generate(model, samples, { ...opts, stop });
  for (let b = 0; b < samples.length; b++) {
    const at = free.tokens[b].findIndex((_, i) => stop.some((st) => st.length === 2 && free.tokens[b][i - 1] === st[0] && free.tokens[b][i] === st[1]));
    const ended = free.tokens[b].indexOf(1);
    const len = Math.min(at < 0 ? Infinity : at + 1, ended < 0 ? Infinity : ended + 1, free.tokens[b].length);
    assert.equal(stopped.tokens[b], free.tokens[b].slice(0, len), `row ${b} tokens`);
    // 1 prompt pass + 2 latent passes give the first token; each further token is one pass.
    assert.is(stopped.passes[b], 1 + 2 + len - 1, `row ${b} passes`);
  }
  model.ps.dispose();
});

test('alignment loss: matches a float64 reference (image tokens through the tied output embedding, ignored slots skipped) and trains the vision encoder', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  const J = model.J;
  const samples = fakeSamples(3, cfg.vocab, J, model.vision.patchDim, 5);
  const r = rng(9);
  // Sample 0: every slot set; sample 1: only the first slot (an empty cell has only its name); sample 2: none.
  samples[0]!.imageWords = Int32Array.from({ length: J * IMAGE_WORDS }, () => 6 + Math.floor(r() * (cfg.vocab - 6)));
  samples[1]!.imageWords = Int32Array.from({ length: J * IMAGE_WORDS }, (_, i) => (i % IMAGE_WORDS === 0 ? 6 + Math.floor(r() * (cfg.vocab - 6)) : -1));
  const [got, img, wte] = await E.tidyAsync(async () => {
    const images = E.noGrad(() => E.reshape(model.vision.forward(Float32Array.from(samples.flatMap((s) => [...s.patches])), 3), [3 * J, cfg.dim]));
    const l = E.noGrad(() => model.alignmentLoss(images, samples)!);
    return [await l.item(), await images.toArray(), await model.wte.toArray()];
  });
  // Reference: per slot, mean over the set targets of -log softmax(image . wte^T)[target]; then the mean over slots that have any.
  const V = cfg.vocab, D = cfg.dim;
  const slotLosses: number[] = [];
  for (let k = 0; k < IMAGE_WORDS; k++) {
    let sum = 0, n = 0;
    samples.forEach((s, b) => {
      if (!s.imageWords) return;
      for (let j = 0; j < J; j++) {
        const t = s.imageWords[j * IMAGE_WORDS + k]!;
        if (t < 0) continue;
        const logits = Array.from({ length: V }, (_, v) => { let z = 0; for (let d = 0; d < D; d++) z += img[(b * J + j) * D + d]! * wte[v * D + d]!; return z; });
        const m = Math.max(...logits);
        const lse = m + Math.log(logits.reduce((a, z) => a + Math.exp(z - m), 0));
        sum += lse - logits[t]!;
        n++;
      }
    });
    if (n) slotLosses.push(sum / n);
  }
  const want = slotLosses.reduce((a, x) => a + x, 0) / slotLosses.length;
  assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want), `alignment loss ${got}, float64 reference ${want}`);
  assert.is(model.alignmentLoss(E.zeros([3 * J, cfg.dim]), samples.map((s) => ({ ...s, imageWords: undefined }))), null);
  // lossParts: total = lm + weight * align; the alignment term alone reaches the projector.
  const [total, lm, align, gProj] = await E.tidyAsync(async () => {
    for (const p of model.ps.list()) { p.grad?.dispose(); p.grad = null; }
    const parts = model.lossParts(samples, 0, FULL_LATENT, false, 0.5);
    E.backward(E.mulScalar(parts.align!, 1));
    const g = model.vision.proj2.weight.grad!;
    return [await parts.total.item(), await parts.lm.item(), await parts.align!.item(), await E.sumAll(E.mul(g, g)).item()];
  });
  assert.ok(Math.abs(total - (lm + 0.5 * align)) <= 1e-5 * total, `total ${total} = ${lm} + 0.5 * ${align}`);
  assert.ok(gProj > 0, 'no gradient from the alignment loss at the projector');
  model.ps.dispose();
});

test('captions are supervised in full even in the no-CoT mode', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(2, cfg.vocab, model.J, model.vision.patchDim, 6);
  const count = async (ss: Sample[]) => E.tidyAsync(async () => {
    const { labels } = E.noGrad(() => model.supervisedLogits(ss, 0, FULL_LATENT, true));
    return (await labels.toArray()).filter((v) => v >= 0).length;
  });
  const answers = samples.reduce((a, s) => a + s.answer.length, 0);
  assert.is(await count(samples), answers);
  const withCaption = [samples[0]!, { ...samples[1]!, caption: true }];
  assert.is(await count(withCaption), samples[0]!.answer.length + samples[1]!.steps.flat().length + samples[1]!.answer.length);
  model.ps.dispose();
});

test('a batch mixing a long prompt with a long suffix: padding stays inside maxLen and changes no real row', async () => {
  const cfg = { ...preset('tiny', 40), maxLen: 64 };
  const model = new IvtModel(cfg, 0);
  const [a, b] = fakeSamples(2, cfg.vocab, model.J, model.vision.patchDim, 8);
  // a: long prompt, short suffix; b: short prompt, long suffix. Each fits alone (<= 64 positions);
  // padded to b's suffix, a's positions would reach J + 30 + 28 > 64.
  const longA: Sample = { ...a!, prompt: Array.from({ length: 30 }, (_, i) => 6 + (i % 30)), steps: [[7, 8]], answer: [9, 1] };
  const longB: Sample = { ...b!, prompt: [6, 7], steps: [Array.from({ length: 26 }, (_, i) => 6 + (i % 30))], answer: [9, 1] };
  const rows = async (ss: Sample[]) => E.tidyAsync(async () => {
    const { logits } = E.noGrad(() => model.supervisedLogits(ss, 0, FULL_LATENT));
    return { v: await logits.toArray(), Ts: logits.shape[1]! };
  });
  const both = await rows([longA, longB]);
  const alone = await rows([longA]);
  const n = (longA.steps.flat().length + longA.answer.length) * cfg.vocab;
  let diff = 0;
  for (let i = 0; i < n; i++) diff = Math.max(diff, Math.abs(both.v[i]! - alone.v[i]!));
  assert.ok(diff <= 1e-4, `row a's logits change when batched with b: ${diff}`);
  model.ps.dispose();
});


test('without latent steps, the one-pass route gives the cached two-pass route\'s logits and gradients', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  // Prompts of different lengths (left padding) and suffixes of different lengths (right padding).
  const samples = fakeSamples(3, cfg.vocab, model.J, model.vision.patchDim, 11);
  samples[1] = { ...samples[1]!, steps: [samples[1]!.steps[0]!] };
  const names = ['lm.h.0.attn.c_attn.weight', 'lm.wte.weight', 'vision.pos_row'];
  for (const answerOnly of [false, true]) {
    const run = (viaCache: boolean) => E.tidyAsync(async () => {
      for (const p of model.ps.list()) { p.grad?.dispose(); p.grad = null; }
      const { logits, labels } = model.supervisedLogits(samples, 0, FULL_LATENT, answerOnly, viaCache);
      E.backward(E.crossEntropy(logits, labels));
      const grads = await Promise.all(names.map((n) => model.ps.params.get(n)!.grad!.toArray()));
      return { logits: (await logits.toArray()) as Float32Array, labels: Array.from(await labels.toArray()), grads: grads as Float32Array[] };
    });
    const one = await run(false), two = await run(true);
    assert.equal(one.labels, two.labels);
    assert.is(one.logits.length, two.logits.length);
    let worst = 0;
    one.logits.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - two.logits[i]!) / (1e-3 + Math.abs(two.logits[i]!)))));
    assert.ok(worst < 1e-4, `answerOnly ${answerOnly}: logits differ by ${worst} (relative)`);
    one.grads.forEach((g, k) => {
      const ref = two.grads[k]!;
      const scale = Math.max(...Array.from(ref, Math.abs));
      let diff = 0;
      g.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - ref[i]!))));
      assert.ok(diff <= 1e-4 * scale, `answerOnly ${answerOnly}: ${names[k]} gradient differs by ${diff} (max ${scale})`);
    });
  }
  model.ps.dispose();
});

test('decoding without a token limit stops each row at its own last position, flagged truncated, whatever rows share its batch', async () => {
  const cfg = preset('tiny', 40, { maxLen: 48 });
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(3, cfg.vocab, model.J, model.vision.patchDim, 23); // prompts of 5, 6, 7 tokens
  for (const latentSteps of [0, 1]) {
    const opts = { latentSteps, latent: FULL_LATENT, maxNewTokens: Number.POSITIVE_INFINITY, eos: -1 }; // never ends by itself
    const together = await generate(model, samples, opts);
    for (let b = 0; b < samples.length; b++) {
      const alone = await generate(model, [samples[b]!], opts);
      const prefix = model.J + samples[b]!.prompt.length + latentSteps * (cfg.topK + 1);
      assert.is(alone.tokens[0]!.length, cfg.maxLen - prefix + 1, `latent ${latentSteps}, row ${b}: its last logits are position maxLen - 1's`);
      assert.equal(alone.truncated, [true]);
      assert.equal(together.tokens[b], alone.tokens[0], `latent ${latentSteps}, row ${b}: the same tokens in a batch`);
      assert.is(together.passes[b], alone.passes[0], `latent ${latentSteps}, row ${b}: the same passes in a batch`);
    }
    assert.equal(together.truncated, [true, true, true]);
    // A limit below the positions: maxNewTokens tokens, truncated too; an EOS ends a row untruncated.
    const short = await generate(model, samples, { ...opts, maxNewTokens: 4 });
    assert.ok(short.tokens.every((t) => t.length === 4) && short.truncated.every(Boolean));
    const eos = together.tokens[0]![2]!;
    const ended = await generate(model, [samples[0]!], { ...opts, eos });
    assert.equal(ended.truncated, [false]);
    assert.is(ended.tokens[0]![ended.tokens[0]!.length - 1], eos);
  }
  model.ps.dispose();
});

test('a drafted continuation verified in one pass gives greedy decoding\'s tokens with fewer passes (none after latent steps: it rides on the last one); a wrong draft changes nothing but one pass', async () => {
  const cfg = preset('tiny', 40);
  const model = new IvtModel(cfg, 0);
  const samples = fakeSamples(3, cfg.vocab, model.J, model.vision.patchDim, 21);
  let laterDrafts = 0;
  for (const latentSteps of [0, 2]) {
    for (const batch of [[samples[0]!], samples]) {
      const opts = { latentSteps, latent: FULL_LATENT, maxNewTokens: 9, eos: -1 }; // no EOS: every row decodes 9 tokens
      const plain = await generate(model, batch, opts);
      // The draft every row's greedy decoding starts with, when they agree (always for one row).
      const L = 4;
      const first = plain.tokens[0]!.slice(0, L);
      const agree = first.length === L && plain.tokens.every((t) => t.slice(0, L).join() === first.join());
      if (agree) {
        const d = await generate(model, batch, { ...opts, draft: first });
        assert.equal(d.tokens, plain.tokens, `latent ${latentSteps}, batch ${batch.length}: drafted tokens differ`);
        // With latent steps the draft is verified inside the last latent pass: its L tokens cost
        // nothing; without, one pass instead of L.
        const saved = latentSteps > 0 ? L : L - 1;
        d.passes.forEach((p, b) => assert.is(p, plain.passes[b]! - saved, `latent ${latentSteps}, row ${b}: passes ${p} vs ${plain.passes[b]}`));
      } else assert.ok(batch.length > 1, 'one row always agrees with itself');
      // A draft that starts one token later: not taken at the first position (with latent steps
      // it is tried in the last latent pass and rejected, at no cost), then verified in a pass of
      // its own once the first token is out.
      const later = plain.tokens[0]!.slice(1, 1 + L);
      if (plain.tokens.every((t) => t.slice(1, 1 + L).join() === later.join() && t[0] !== later[0])) {
        const d = await generate(model, batch, { ...opts, draft: later });
        assert.equal(d.tokens, plain.tokens, `latent ${latentSteps}: a later draft changed the tokens`);
        laterDrafts++;
        d.passes.forEach((p, b) => assert.is(p, plain.passes[b]! - (L - 1), `latent ${latentSteps}, row ${b}: later draft passes`));
      }
      // A draft whose second token is not the greedy one: same tokens; one more pass without
      // latent steps, none with them (rejected inside the last latent pass, and not run again).
      const wrong = [plain.tokens[0]![0]!, (plain.tokens[0]![1]! + 1) % cfg.vocab, 5];
      if (plain.tokens.every((t) => t[0] === wrong[0] && t.length > 1)) {
        const w = await generate(model, batch, { ...opts, draft: wrong });
        assert.equal(w.tokens, plain.tokens, 'a rejected draft changed the tokens');
        w.passes.forEach((p, b) => assert.is(p, plain.passes[b]! + (latentSteps > 0 ? 0 : 1), `latent ${latentSteps}, row ${b}: rejected draft passes`));
      }
    }
  }
  assert.ok(laterDrafts >= 2, `the later-draft case ran ${laterDrafts} times`);
  model.ps.dispose();
});

test.run();
