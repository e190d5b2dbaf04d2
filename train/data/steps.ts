// Rationale -> reasoning steps, as METHOD.md "Training (curriculum)" specifies: split the
// rationale into sentences; if there are more than N sentences, merge them into N contiguous
// chunks, giving the remainder to the first chunks (7 sentences, N = 3 -> 3 + 2 + 2).
// Rationales with N or fewer sentences keep one step per sentence.
//
// Differences from the reference code, on purpose: it splits on ". " and so drops the full
// stop of every sentence but the last and never splits on "?" or "!". Here a sentence keeps
// its punctuation, "?", "!" also end sentences, a line break ends a sentence (ScienceQA
// lectures put one paragraph or list item per line), and a few abbreviations ("e.g.") do not.

const ABBREVIATIONS = new Set(['e.g.', 'i.e.', 'etc.', 'vs.', 'mr.', 'mrs.', 'ms.', 'dr.', 'st.', 'approx.', 'fig.']);

/**
 * Whether a word ending in "." is an abbreviation rather than a sentence's end: a listed one;
 * "No." before a number ("No. 5"; ScienceQA's answers "No." end sentences); letters with dots
 * ("U.S."); a single capital initial where a name goes on ("John F. Kennedy", or starting a
 * sentence), not after a lower-case word ("sample A. So, ...", ScienceQA's labelled samples).
 */
function isAbbreviation(word: string, prev: string | undefined, next: string): boolean {
  const w = word.toLowerCase();
  if (ABBREVIATIONS.has(w)) return true;
  if (w === 'no.') return /^\d/.test(next);
  if (/^([A-Za-z]\.){2,}$/.test(word)) return true;
  if (/^[A-Z]\.$/.test(word)) {
    // "Vitamin C. It helps.": a word that starts sentences, not names, ends the sentence.
    if (SENTENCE_STARTERS.has(next.replace(/[,;:]$/, ''))) return false;
    return prev === undefined || /^[A-Z]/.test(prev) || /[.!?]["'”’)\]]*$/.test(prev);
  }
  return false;
}

/** Capitalised words that begin sentences and are not names: after "C." they mean a new sentence. */
const SENTENCE_STARTERS = new Set(['It', 'Its', 'The', 'This', 'That', 'These', 'Those', 'A', 'An', 'So', 'In', 'On', 'At', 'If', 'When',
  'Then', 'There', 'They', 'He', 'She', 'We', 'You', 'I', 'Their', 'For', 'But', 'And', 'Or', 'As', 'To', 'Each', 'Both', 'All', 'Some']);

/** Splits text into sentences: whitespace-normalised, punctuation kept, empties dropped. */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const words = line.split(/\s+/).filter((w) => w.length > 0);
    let current: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      current.push(word);
      const next = words[i + 1];
      // A sentence ends at ., ! or ? (optionally followed by closing quotes/brackets), unless
      // the word is an abbreviation. (A lower-case next word does not say otherwise: the
      // synthetic rationales' sentences start in lower case, "nine red square is ...".)
      if (next === undefined) continue;
      const ends = /[.!?]["'”’)\]]*$/.test(word);
      if (ends && !isAbbreviation(word, i > 0 ? words[i - 1] : undefined, next)) {
        sentences.push(current.join(' '));
        current = [];
      }
    }
    if (current.length > 0) sentences.push(current.join(' '));
  }
  return sentences;
}

/**
 * The rationale as at most `maxSteps` steps. Each step is one sentence, or, when there are
 * more sentences than steps, a run of consecutive sentences joined by a space.
 */
export function rationaleToSteps(text: string, maxSteps: number): string[] {
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new Error(`rationaleToSteps: maxSteps must be a positive integer, got ${maxSteps}`);
  const sentences = splitSentences(text);
  if (sentences.length <= maxSteps) return sentences;
  const base = Math.floor(sentences.length / maxSteps);
  const remainder = sentences.length % maxSteps;
  const steps: string[] = [];
  let start = 0;
  for (let i = 0; i < maxSteps; i++) {
    const end = start + base + (i < remainder ? 1 : 0);
    steps.push(sentences.slice(start, end).join(' '));
    start = end;
  }
  return steps;
}
