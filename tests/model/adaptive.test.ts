// Adaptive latent steps (IvtConfig.adaptiveLatents): a count head on the prompt's last hidden
// state chooses how many latent steps a question runs. Inference runs exactly the chosen count,
// token for token what a fixed run of that count gives, also in a batch whose questions choose
// different counts; the count loss's gradient by finite
// differences; the trainer gives a problem of m steps min(s, m) latent steps at stage s.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from '../../engine/index.js';
import { preset } from '../../model/config.js';
import { IvtModel, Sample, FULL_LATENT } from '../../model/ivt.js';
import { generate } from '../../model/generate.js';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { groupBy, train } from '../../train/trainer.js';
import { rng, setup } from '../helpers.js';
import { metricsLines, tempDir, tinyRunOptions } from '../train/util.js';
import { stage0Source } from '../../cli/bench_commands.js';
import { loadRun } from '../../cli/train_commands.js';
import { runLatencyBench } from '../../bench/latency.js';

test.before(setup);

function fakeSamples(n: number, vocab: number, J: number, patchDim: number, seed: number, steps = 3): Sample[] {
  const r = rng(seed);
  const tok = () => 6 + Math.floor(r() * (vocab - 6));
  return Array.from({ length: n }, (_, i) => ({
    patches: Float32Array.from({ length: J * patchDim }, () => r() * 2 - 1),
    prompt: Array.from({ length: 5 + (i % 3) }, tok),
    steps: Array.from({ length: steps }, () => Array.from({ length: 3 + ((i + 1) % 2) }, tok)),
    answer: [tok(), tok(), 1],
    answerIndex: i % 4,
  }));
}

const upload = (t: E.Tensor, data: Float32Array) => { E.rt().flush(); E.rt().upload(t.storage.buffer, t.byteOffset, data); };

test('the count head picks the latent steps: each count runs exactly as a fixed run of it, passes and all, capped at the stage', async () => {
  const cfg = { ...preset('tiny', 40), adaptiveLatents: true };
  const model = new IvtModel(cfg, 0);
  const head = model.countHead!;
  assert.equal(head.weight.shape, [cfg.latentSteps + 1, cfg.dim]);
  upload(head.weight, new Float32Array(head.weight.size));
  const samples = fakeSamples(3, cfg.vocab, model.J, model.vision.patchDim, 11);
  const draft = [7, 8, 9];
  for (let c = 0; c <= cfg.latentSteps; c++) {
    upload(head.bias!, Float32Array.from({ length: cfg.latentSteps + 1 }, (_, j) => (j === c ? 5 : 0)));
    for (const s of samples) {
      for (const withDraft of [false, true]) {
        const opts = { latentSteps: cfg.latentSteps, latent: FULL_LATENT, maxNewTokens: 6, eos: 1, withSelections: true, ...(withDraft ? { draft } : {}) };
        const adaptive = await generate(model, [s], { ...opts, adaptive: true });
        const fixed = await generate(model, [s], { ...opts, latentSteps: c });
        assert.equal(adaptive.latentCounts, [c]);
        assert.equal(fixed.latentCounts, [c]);
        assert.equal(adaptive.tokens, fixed.tokens, `count ${c}: tokens`);
        assert.equal(adaptive.passes, fixed.passes, `count ${c}: passes`);
        assert.equal(adaptive.selections, fixed.selections, `count ${c}: selections`);
      }
    }
    // At stage s the count is at most s.
    const capped = await generate(model, [samples[0]!], { latentSteps: 1, latent: FULL_LATENT, maxNewTokens: 6, eos: 1, adaptive: true });
    assert.equal(capped.latentCounts, [Math.min(c, 1)]);
  }
  model.ps.dispose();
});

test('a batch whose questions choose different counts: each question exactly as when run alone', async () => {
  const cfg = { ...preset('tiny', 40), adaptiveLatents: true };
  const model = new IvtModel(cfg, 0);
  const head = model.countHead!;
  // A head whose choice swings with the prompt: large random weights, no bias.
  const r = rng(23);
  upload(head.weight, Float32Array.from({ length: head.weight.size }, () => (r() * 2 - 1) * 20));
  upload(head.bias!, new Float32Array(cfg.latentSteps + 1));
  const samples = fakeSamples(9, cfg.vocab, model.J, model.vision.patchDim, 31);
  for (const withDraft of [false, true]) {
    const opts = { latentSteps: cfg.latentSteps, latent: FULL_LATENT, maxNewTokens: 6, eos: 1, withSelections: true, adaptive: true, ...(withDraft ? { draft: [7, 8, 9] } : {}) };
    const batched = await generate(model, samples, opts);
    assert.ok(new Set(batched.latentCounts).size >= 3, `counts ${batched.latentCounts}: the batch should split into groups`);
    for (let b = 0; b < samples.length; b++) {
      const alone = await generate(model, [samples[b]!], opts);
      const c = alone.latentCounts[0]!;
      assert.is(batched.latentCounts[b], c, `question ${b}: count`);
      assert.equal(batched.tokens[b], alone.tokens[0], `question ${b}: tokens`);
      assert.is(batched.passes[b], alone.passes[0], `question ${b}: passes`);
      for (let si = 0; si < c; si++) assert.equal(batched.selections[si]![b], alone.selections[si]![0], `question ${b}: step ${si + 1}'s selection`);
    }
  }
  model.ps.dispose();
});

test('the count loss: cross-entropy against min(N, steps); its gradient on the head and on the model by finite differences', async () => {
  const cfg = { ...preset('tiny', 40), adaptiveLatents: true };
  const model = new IvtModel(cfg, 0);
  const samples = [...fakeSamples(2, cfg.vocab, model.J, model.vision.patchDim, 5, 3), ...fakeSamples(2, cfg.vocab, model.J, model.vision.patchDim, 6, 1), ...fakeSamples(1, cfg.vocab, model.J, model.vision.patchDim, 7, 5)];
  // The loss on its own, at stage 0 (single pass) and stage 2 (latent prefix), against its definition.
  for (const stage of [0, 2]) {
    const parts = E.tidy(() => E.keep(E.noGrad(() => model.lossParts(samples, stage, FULL_LATENT, false, 0).count!)));
    const logits = await E.tidyAsync(async () => {
      const { promptLast } = E.noGrad(() => model.supervisedLogits(samples, stage, FULL_LATENT));
      return Float64Array.from(await E.noGrad(() => model.countLogits(promptLast!)).toArray());
    });
    const K = cfg.latentSteps + 1;
    let want = 0;
    samples.forEach((s, b) => {
      const row = logits.subarray(b * K, (b + 1) * K);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      want += lse - row[Math.min(cfg.latentSteps, s.steps.length)]!;
    });
    want /= samples.length;
    const got = await parts.item();
    parts.dispose();
    assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, Math.abs(want)), `stage ${stage}: count loss ${got}, expected ${want}`);
  }
  // Gradient of the count loss on a head weight and on a language-model weight.
  for (const name of ['latent.count.weight', 'lm.h.0.mlp.c_fc.weight']) {
    const p = model.ps.params.get(name)!;
    const base = Float32Array.from(await p.toArray() as Float32Array);
    const lossAt = async () => E.tidyAsync(async () => E.noGrad(() => model.lossParts(samples, 1, FULL_LATENT, false, 0).count!).item());
    const grad = await E.tidyAsync(async () => {
      const { count } = model.lossParts(samples, 1, FULL_LATENT, false, 0);
      E.backward(count!);
      const g = Float64Array.from(await p.grad!.toArray());
      for (const q of model.ps.list()) q.grad = null;
      return g;
    });
    const r = rng(3);
    for (let c = 0; c < 3; c++) {
      const idx = Math.floor(r() * base.length), eps = 1e-2;
      const at = async (d: number) => { const w = Float32Array.from(base); w[idx]! += d; upload(p, w); return lossAt(); };
      const num = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      upload(p, base);
      assert.ok(Math.abs(num - grad[idx]!) <= 2e-3 + 3e-2 * Math.max(Math.abs(num), Math.abs(grad[idx]!)), `${name}[${idx}]: autograd ${grad[idx]}, finite difference ${num}`);
    }
  }
  model.ps.dispose();
});

test('the head reads the same state in training (stage 0, one pass) and at inference (the prompt pass on the cache)', async () => {
  const cfg = { ...preset('tiny', 40), adaptiveLatents: true };
  const model = new IvtModel(cfg, 0);
  const head = model.countHead!;
  const r = rng(21);
  upload(head.weight, Float32Array.from({ length: head.weight.size }, () => r() * 2 - 1));
  const K = cfg.latentSteps + 1;
  const seen = new Set<number>();
  for (const s of fakeSamples(12, cfg.vocab, model.J, model.vision.patchDim, 23)) {
    const logits = await E.tidyAsync(async () => {
      const { promptLast } = E.noGrad(() => model.supervisedLogits([s], 0, FULL_LATENT));
      return Float64Array.from(await E.noGrad(() => model.countLogits(promptLast!)).toArray());
    });
    let best = 0;
    for (let c = 1; c < K; c++) if (logits[c]! > logits[best]!) best = c;
    const g = await generate(model, [s], { latentSteps: cfg.latentSteps, latent: FULL_LATENT, maxNewTokens: 2, eos: 1, adaptive: true });
    assert.equal(g.latentCounts, [best], `logits ${Array.from(logits).map((x) => x.toFixed(3)).join(' ')}`);
    seen.add(best);
  }
  assert.ok(seen.size >= 2, 'the random head chose more than one count over the problems');
  model.ps.dispose();
});

test('groupBy: parts in order of first appearance, order kept within each', () => {
  assert.equal(groupBy([5, 1, 4, 2, 3], (i) => i % 2), [[5, 1, 3], [4, 2]]);
  assert.equal(groupBy([], (i) => i), []);
});

test('training: a problem of m steps trains with min(s, m) latent steps at stage s, batches of one count; the count loss is logged', async () => {
  const root = tempDir('ivt-adaptive');
  const data = join(root, 'data');
  await writeSynthDataset(data, { train: 16, val: 4, test: 4, seed: 3, startBy: 'cell', queries: ['colour'], wording: 'cell-value', minSteps: 2 });
  const run = join(root, 'run');
  await train(tinyRunOptions(data, run, { stages: 3, maxTrain: 16, adaptiveLatents: true }));
  interface Line { step: number; stage: number; loss?: number; count_loss?: number; mixed_stage?: number; latent_steps?: number }
  const lines = metricsLines<Line>(run).filter((l) => l.loss !== undefined);
  assert.ok(lines.every((l) => typeof l.count_loss === 'number' && Number.isFinite(l.count_loss)), 'every step logs its count loss');
  // Stages 1 and 2 train every problem at the stage; stage 3 trains the 2-step problems with 2.
  for (const l of lines) {
    assert.is(l.mixed_stage, undefined, `step ${l.step}: no stage mixing in this run`);
    if (l.stage < 3) assert.is(l.latent_steps, undefined, `step ${l.step}`);
    else assert.ok(l.latent_steps === undefined || l.latent_steps === 2, `step ${l.step}: stage 3 trained with ${l.latent_steps} latent steps`);
  }
  const s3 = lines.filter((l) => l.stage === 3);
  assert.ok(s3.some((l) => l.latent_steps === 2) && s3.some((l) => l.latent_steps === undefined), 'stage 3 has batches of both counts');
  // Branches off its stage 0 inherit the count head, unless told to drop it.
  for (const [name, adaptiveLatents] of [['inherit', undefined], ['drop', false]] as const) {
    const branch = join(root, name);
    await train(tinyRunOptions(data, branch, { stages: 3, maxTrain: 16, initFrom: run, initTag: 'stage-0', startStage: 1, adaptiveLatents }));
    const cfg = JSON.parse(readFileSync(join(branch, 'config.json'), 'utf8')) as { adaptiveLatents?: boolean };
    const opts = JSON.parse(readFileSync(join(branch, 'options.json'), 'utf8')) as { adaptiveLatents?: boolean };
    const has = adaptiveLatents !== false;
    assert.is(cfg.adaptiveLatents === true, has, `${name}: config.json`);
    assert.is(opts.adaptiveLatents, has, `${name}: options.json records what the model has`);
    const steps = metricsLines<Line>(branch).filter((l) => l.loss !== undefined);
    assert.ok(steps.length > 0 && steps.every((l) => (l.count_loss !== undefined) === has), `${name}: count loss logged iff the head is there`);
    // The latency benchmark times a branch's explicit CoT with the stage-0 weights it branched off.
    assert.is(stage0Source(branch), run);
  }
  assert.is(stage0Source(run), run);
  // The latency benchmark of an adaptive model, with the fixed-count row beside.
  const load = async (tag?: string) => { const { model, tok, cfg } = await loadRun(run, tag); return { model, tok, latentSteps: cfg.latentSteps }; };
  const report = await runLatencyBench({ run, data, split: 'test', batch: 1, limit: 3, load, log: () => {} });
  assert.equal(report.rows.map((r) => `${r.mode}${r.draft ? '+draft' : ''}${r.adaptive ? ' adaptive' : ''}${r.fixed_latents ? ' fixed' : ''}`), ['cot', 'ivt adaptive', 'ivt-recompute', 'cot+draft', 'ivt+draft adaptive', 'ivt fixed']);
  assert.ok(report.adaptive && report.adaptive.fewer_passes > 0);
  // Batched too: the same rows, the same answers (groups by count).
  const batched = await runLatencyBench({ run, data, split: 'test', batch: 2, limit: 3, load, log: () => {} });
  assert.equal(batched.rows.map((r) => [r.mode, r.accuracy, r.avg_passes]), report.rows.map((r) => [r.mode, r.accuracy, r.avg_passes]));
  // Without the option: no count loss, every batch at its stage.
  const plain = join(root, 'plain');
  await train(tinyRunOptions(data, plain, { stages: 3, maxTrain: 16 }));
  for (const l of metricsLines<Line>(plain).filter((x) => x.loss !== undefined)) {
    assert.is(l.count_loss, undefined);
    assert.is(l.latent_steps, undefined);
  }
});

test.run();
