// Word-level tokenizer with byte fallback. The vocabulary is the frequent "pieces" of the
// training split (a piece is a word, one digit, one punctuation mark, each with an optional
// leading space, or one whitespace character) plus all 256 bytes, so ANY text encodes, and
// decode(encode(s)) === s exactly for every well-formed string, non-ASCII included: a piece
// not in the vocabulary is written as its UTF-8 bytes. Special tokens are never produced by
// encode() (the text "<eos>" is just text); the model inserts them by id.
//
// Why words rather than BPE: the synthetic data has a few dozen words, so a word vocabulary
// gives short sequences and a vocabulary of a few hundred, which a tiny model learns fast;
// digits are single tokens so numbers stay compositional.
import { readFileSync } from 'node:fs';
import { UserError } from '../engine/errors.js';
import { writeFileAtomic } from '../engine/atomic_file.js';
import type { ProblemRecord } from './data/record.js';
import { letterOf } from './data/record.js';

export const SPECIAL_TOKENS = ['<pad>', '<eos>', '<bot>', '<eot>', '<latent>', '<image>'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];
const BYTE_BASE = SPECIAL_TOKENS.length;
const WORD_BASE = BYTE_BASE + 256;
const FORMAT = 'ivt-word-byte-tokenizer';

/** Splits text into pieces whose concatenation is exactly the text. */
const PIECE = / ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]|\s/gsu;

export function pieces(text: string): string[] {
  return text.match(PIECE) ?? [];
}

export interface TokenizerJson {
  format: typeof FORMAT;
  version: 1;
  specials: string[];
  words: string[];
}

const encoder = new TextEncoder();

export class Tokenizer {
  readonly words: readonly string[];
  private readonly wordIds: Map<string, number>;
  readonly pad = 0;
  readonly eos = 1;
  readonly bot = 2;
  readonly eot = 3;
  readonly latent = 4;
  readonly image = 5;

  constructor(words: readonly string[]) {
    this.words = words.slice();
    this.wordIds = new Map(words.map((w, i) => [w, WORD_BASE + i]));
    if (this.wordIds.size !== words.length) throw new Error('Tokenizer: duplicate words in vocabulary');
  }

  get vocabSize(): number {
    return WORD_BASE + this.words.length;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const piece of pieces(text)) {
      const id = this.wordIds.get(piece);
      if (id !== undefined) { ids.push(id); continue; }
      for (const b of encoder.encode(piece)) ids.push(BYTE_BASE + b);
    }
    return ids;
  }

  /** Text of the ids; special tokens are written as their names unless skipSpecial. */
  decode(ids: ArrayLike<number>, opts: { skipSpecial?: boolean } = {}): string {
    let out = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) { out += new TextDecoder('utf-8').decode(new Uint8Array(bytes)); bytes = []; }
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`Tokenizer.decode: id ${id} outside the vocabulary (size ${this.vocabSize})`);
      if (id >= BYTE_BASE && id < WORD_BASE) { bytes.push(id - BYTE_BASE); continue; }
      flush();
      if (id < BYTE_BASE) { if (!opts.skipSpecial) out += SPECIAL_TOKENS[id]; }
      else out += this.words[id - WORD_BASE];
    }
    flush();
    return out;
  }

  /** A readable name for one id (for logs and debugging). */
  tokenName(id: number): string {
    if (id < BYTE_BASE) return SPECIAL_TOKENS[id] ?? `<?${id}>`;
    if (id < WORD_BASE) return `<0x${(id - BYTE_BASE).toString(16).padStart(2, '0').toUpperCase()}>`;
    return JSON.stringify(this.words[id - WORD_BASE]);
  }

  isSpecial(id: number): boolean {
    return id >= 0 && id < BYTE_BASE;
  }

  toJSON(): TokenizerJson {
    return { format: FORMAT, version: 1, specials: [...SPECIAL_TOKENS], words: [...this.words] };
  }

  static fromJSON(json: unknown, source = 'tokenizer JSON'): Tokenizer {
    const j = json as Partial<TokenizerJson> | null;
    if (typeof j !== 'object' || j === null || j.format !== FORMAT) throw new UserError(`${source}: not an ivt tokenizer (format must be "${FORMAT}")`);
    if (j.version !== 1) throw new UserError(`${source}: unsupported tokenizer version ${String(j.version)}`);
    if (!Array.isArray(j.specials) || j.specials.join('\u0000') !== SPECIAL_TOKENS.join('\u0000')) {
      throw new UserError(`${source}: special tokens must be exactly ${SPECIAL_TOKENS.join(' ')}`);
    }
    if (!Array.isArray(j.words) || !j.words.every((w) => typeof w === 'string' && w.length > 0)) throw new UserError(`${source}: "words" must be a list of non-empty strings`);
    if (new Set(j.words).size !== j.words.length) throw new UserError(`${source}: "words" has duplicates`);
    for (const w of j.words) {
      if (pieces(w).length !== 1 || pieces(w)[0] !== w) throw new UserError(`${source}: "${w}" is not a single piece and could never be produced by encode()`);
    }
    return new Tokenizer(j.words);
  }

  /** Written to a temporary file and renamed: a crash leaves the old file or the new one. */
  save(path: string): void {
    writeFileAtomic(path, JSON.stringify(this.toJSON(), null, 1) + '\n');
  }

  static load(path: string): Tokenizer {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new UserError(`${path}: cannot read tokenizer (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UserError(`${path}: not valid JSON (${(err as Error).message})`);
    }
    return Tokenizer.fromJSON(json, path);
  }
}

export interface BuildOptions {
  /** Keep pieces seen at least this often (default 2; rarer ones fall back to bytes). */
  minCount?: number;
  /** At most this many word pieces (default 8000), the most frequent first. */
  maxWords?: number;
  /**
   * Texts whose pieces (seen at least minCount times there) are appended after the ranked
   * words where they are not among them, within maxWords; the ranked words' ids do not move.
   */
  append?: Iterable<string>;
}

/** Builds the vocabulary from texts (the training split). Deterministic: ties break by text. */
export function buildTokenizer(texts: Iterable<string>, opts: BuildOptions = {}): Tokenizer {
  const minCount = opts.minCount ?? 2;
  const maxWords = opts.maxWords ?? 8000;
  const ranked = (source: Iterable<string>): string[] => {
    const counts = new Map<string, number>();
    for (const text of source) for (const p of pieces(text)) counts.set(p, (counts.get(p) ?? 0) + 1);
    return [...counts.entries()]
      // A single byte already has its own token; a word token for it would be redundant.
      .filter(([p, c]) => c >= minCount && encoder.encode(p).length > 1)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([p]) => p);
  };
  const words = ranked(texts).slice(0, maxWords);
  if (opts.append) {
    const have = new Set(words);
    words.push(...ranked(opts.append).filter((p) => !have.has(p)).slice(0, Math.max(0, maxWords - words.length)));
  }
  return new Tokenizer(words);
}

/**
 * A reasoning step as the model reads and writes it: the step, then a newline (METHOD.md), with
 * a space before it so its first word is the same token as that word inside a sentence (" ten",
 * not "ten"). Why: at stage s the hidden state that replaces step s+1 was trained, one stage
 * earlier, to predict step s+1's first token; where a step starts with its result (the synthetic
 * data's cell-first wording) that token should be the one the question and the picture use.
 */
export function stepText(step: string): string {
  return ' ' + step + '\n';
}

/** The prompt as the model reads it: the hint, the question, then the options on one line as "(A) red (B) green". */
export function promptText(r: Pick<ProblemRecord, 'hint' | 'question' | 'choices'>): string {
  const opts = r.choices.map((c, i) => `(${letterOf(i)}) ${c}`).join(' ');
  return `${r.hint ? r.hint + '\n' : ''}${r.question}\n${opts}\n`;
}

/** The answer line METHOD.md's target text ends with. */
export function answerLine(answerIndex: number): string {
  return `Therefore, the answer is ${letterOf(answerIndex)}`;
}

/** The answer line up to its letter ("Therefore, the answer is"), tokenised: the draft generate() can verify in one pass. */
export function answerDraft(tok: Tokenizer): number[] {
  const ids = tok.encode(answerLine(0));
  const letter = tok.decode(ids.slice(-1));
  if (letter !== ' A') throw new Error(`answerDraft: the answer line does not end in a one-token letter (last token ${JSON.stringify(letter)})`);
  return ids.slice(0, -1);
}

/** The answer line for each option, tokenised: decoding can stop as soon as one is complete. */
export function answerStops(tok: Tokenizer, numChoices: number): number[][] {
  return Array.from({ length: numChoices }, (_, i) => tok.encode(answerLine(i)));
}

/**
 * The texts a vocabulary should be built from: every question, hint, choice and step of the
 * (training) records, plus the answer lines for each letter in use.
 */
export function trainingTexts(records: readonly ProblemRecord[]): string[] {
  const texts: string[] = [];
  let maxChoices = 0;
  for (const r of records) {
    texts.push(r.question, r.hint, ...r.choices, ...r.steps.map(stepText));
    maxChoices = Math.max(maxChoices, r.choices.length);
  }
  for (let i = 0; i < maxChoices; i++) texts.push(answerLine(i), answerLine(i));
  return texts;
}

/**
 * The vocabulary of a training run: trainingTexts(records) and any extra texts (captions),
 * ranked by frequency; then the choice words as the prompt reads them, after their letter (" red"
 * in "(A) red"), where they are not words already. Appended rather than ranked with the rest:
 * a dataset whose choice words occur in its rationales too (the synthetic data) keeps exactly
 * the vocabulary, and so the initialisation, it had before they were added; one whose choice
 * words occur only among the options (many ScienceQA answers) no longer reads them as bytes.
 */
export function buildTrainingTokenizer(records: readonly ProblemRecord[], extraTexts: readonly string[] = [], opts: BuildOptions = {}): Tokenizer {
  return buildTokenizer([...trainingTexts(records), ...extraTexts], { ...opts, append: records.flatMap((r) => r.choices.map((c) => ' ' + c)) });
}
