// Rationale -> steps, as METHOD.md specifies (sentence split; more than N sentences merge into
// N contiguous chunks with the remainder going to the first chunks).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rationaleToSteps, splitSentences } from '../../train/data/steps.js';

test('sentences keep their punctuation; ? and ! end sentences too', () => {
  assert.equal(splitSentences('First one. Is it? Yes!  Done.'), ['First one.', 'Is it?', 'Yes!', 'Done.']);
});

test('line breaks end sentences; blank lines and extra spaces vanish', () => {
  assert.equal(splitSentences('A heading\n\nThe body goes on.   Second.\r\nLast line'), ['A heading', 'The body goes on.', 'Second.', 'Last line']);
});

test('abbreviations, initials and decimals do not end sentences', () => {
  assert.equal(splitSentences('Use e.g. a ruler. J. Smith measured 3.5 cm. End.'), ['Use e.g. a ruler.', 'J. Smith measured 3.5 cm.', 'End.']);
  // ScienceQA's own boundaries: a labelled sample, the answer "No.", dotted initials; No. before a number.
  assert.equal(splitSentences('It is larger than each particle in sample A. So, the particles move faster.'), ['It is larger than each particle in sample A.', 'So, the particles move faster.']);
  assert.equal(splitSentences('Can you buy it? No. So, a pencil is a good.'), ['Can you buy it?', 'No.', 'So, a pencil is a good.']);
  assert.equal(splitSentences('The U.S. is big. See No. 5 below. John F. Kennedy spoke.'), ['The U.S. is big.', 'See No. 5 below.', 'John F. Kennedy spoke.']);
  assert.equal(splitSentences('Oranges have vitamin C. It helps. Vitamin C. The body needs it.'), ['Oranges have vitamin C.', 'It helps.', 'Vitamin C.', 'The body needs it.']);
});

test('closing quotes stay with their sentence', () => {
  assert.equal(splitSentences('He said "stop." Then left.'), ['He said "stop."', 'Then left.']);
});

test('7 sentences into 3 steps: 3 + 2 + 2, in order', () => {
  const text = 'S1. S2. S3. S4. S5. S6. S7.';
  assert.equal(rationaleToSteps(text, 3), ['S1. S2. S3.', 'S4. S5.', 'S6. S7.']);
});

test('8 sentences into 3 steps: 3 + 3 + 2; 9 into 3: 3 + 3 + 3', () => {
  assert.equal(rationaleToSteps('a. b. c. d. e. f. g. h.', 3), ['a. b. c.', 'd. e. f.', 'g. h.']);
  assert.equal(rationaleToSteps('a. b. c. d. e. f. g. h. i.', 3).map((s) => s.split(' ').length), [3, 3, 3]);
});

test('N or fewer sentences keep one step each; empty rationale gives no steps', () => {
  assert.equal(rationaleToSteps('Only one.', 3), ['Only one.']);
  assert.equal(rationaleToSteps('One. Two. Three.', 3), ['One.', 'Two.', 'Three.']);
  assert.equal(rationaleToSteps('', 3), []);
  assert.equal(rationaleToSteps('  \n ', 3), []);
});

test('merging never loses or reorders text', () => {
  const sentences = Array.from({ length: 23 }, (_, i) => `Sentence ${i}.`);
  for (const n of [1, 2, 3, 4, 5, 22, 23, 30]) {
    const steps = rationaleToSteps(sentences.join(' '), n);
    assert.is(steps.length, Math.min(n, 23));
    assert.is(steps.join(' '), sentences.join(' '));
    const sizes = steps.map((s) => splitSentences(s).length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced chunks for n=${n}: ${sizes}`);
    assert.equal(sizes, [...sizes].sort((a, b) => b - a), 'remainder goes to the first chunks');
  }
});

test('maxSteps must be a positive integer', () => {
  assert.throws(() => rationaleToSteps('a.', 0));
  assert.throws(() => rationaleToSteps('a.', 1.5));
});

test.run();
