// Answer extraction: strict (the reported accuracy: the text ends with the answer line on a
// line of its own) and lenient (diagnosis only: the answer line may follow other text directly).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { extractAnswer, extractAnswerLenient } from '../../train/samples.js';
import { generatedText } from '../../train/eval.js';
import { buildTokenizer } from '../../train/tokenizer.js';

test('strict: the answer line alone on the last line, a letter among the choices', () => {
  assert.is(extractAnswer('Therefore, the answer is B', 4), 1);
  assert.is(extractAnswer(' nine red square is one cell left.\ngreen is the colour.\nTherefore, the answer is D ', 4), 3);
  assert.is(extractAnswer('Therefore, the answer is E', 4), -1, 'not a choice');
  assert.is(extractAnswer('seven redTherefore, the answer is A', 4), -1, 'the line does not start a line');
  assert.is(extractAnswer('Therefore, the answer is A.\nmore', 4), -1, 'text after the answer line');
  assert.is(extractAnswer('the answer is A', 4), -1);
  assert.is(extractAnswer('', 4), -1);
});

test('lenient: the answer line may follow other text directly, still last and a choice', () => {
  assert.is(extractAnswerLenient('seven redTherefore, the answer is A', 4), 0);
  assert.is(extractAnswerLenient('Therefore, the answer is C', 4), 2);
  assert.is(extractAnswerLenient('six red square is A', 4), -1, 'no answer line');
  assert.is(extractAnswerLenient('redTherefore, the answer is F', 4), -1, 'not a choice');
  assert.is(extractAnswerLenient('Therefore, the answer is A and B', 4), -1, 'not last');
});

test('the text answers are extracted from keeps special tokens, all but a final EOS', () => {
  const tok = buildTokenizer(['Therefore, the answer is A B C D', 'green is the colour.']);
  const line = tok.encode('Therefore, the answer is B');
  assert.is(extractAnswer(generatedText(tok, [...line, tok.eos]), 4), 1, 'a final EOS is not text');
  // Id 0 is <pad> (SPECIAL_TOKENS), which encode never produces.
  const withPad = [...line.slice(0, 2), 0, ...line.slice(2), tok.eos];
  assert.is(tok.decode(withPad.slice(0, -1), { skipSpecial: true }), 'Therefore, the answer is B', 'a decoder that drops specials would accept it');
  assert.is(extractAnswer(generatedText(tok, withPad), 4), -1, 'a <pad> inside the answer line: unparsed');
});

test.run();
