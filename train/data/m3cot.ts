// Loader for M3CoT's layout as JSON lines, one problem per line:
//   {"id": "...", "question": "...", "choices": ["..", ..], "answer": "B", "rationale": "...",
//    "image": "images/xyz.png" | null, "context": "..." (optional), "split": "train" (optional)}
// Either one .jsonl file (each line needs "split", unless the file is named train/val/dev/test
// .jsonl) or a folder holding train.jsonl, val.jsonl (or dev.jsonl) and test.jsonl. Image paths
// are relative to the folder that holds the .jsonl files and may not leave it.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../../engine/errors.js';
import { isSplit, SPLITS, type ProblemRecord, type Split } from './record.js';
import { rationaleToSteps } from './steps.js';
import { resolveInside } from './paths.js';
import { isObject, readUtf8File, requireChoices, requireString, requireStringOrNull } from './validate.js';
import { applyImagePolicy, emptyReport, finishReport, resolveLoadOptions, type LoadOptions, type LoadedDataset } from './dataset.js';

const FILE_SPLIT: Record<string, Split> = { 'train.jsonl': 'train', 'val.jsonl': 'val', 'dev.jsonl': 'val', 'test.jsonl': 'test' };

/** The .jsonl files of an M3CoT dataset path (a file or a folder). */
export function m3cotFiles(path: string): string[] {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new UserError(`${abs}: no such file or folder`);
  if (statSync(abs).isFile()) return [abs];
  const files = Object.keys(FILE_SPLIT).map((name) => join(abs, name)).filter((f) => existsSync(f));
  if (files.length === 0) throw new UserError(`${abs}: no train.jsonl, val.jsonl, dev.jsonl or test.jsonl here`);
  if (existsSync(join(abs, 'val.jsonl')) && existsSync(join(abs, 'dev.jsonl'))) {
    throw new UserError(`${abs}: both val.jsonl and dev.jsonl exist; keep one (both mean the validation split)`);
  }
  return files;
}

export function loadM3CoT(path: string, options: LoadOptions = {}): LoadedDataset {
  const opts = resolveLoadOptions(options);
  const files = m3cotFiles(path);
  const root = dirname(files[0]!);
  const report = emptyReport('m3cot', root, opts.missingImage);
  const records: ProblemRecord[] = [];
  const seen = new Map<string, string>();

  for (const file of files) {
    const fileSplit = FILE_SPLIT[basename(file)];
    const lines = readUtf8File(file).split('\n');
    lines.forEach((text, i) => {
      if (text.trim().length === 0) return;
      const line = i + 1;
      let where = `${file}:${line}`;
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        throw new UserError(`${where}: not valid JSON (${(err as Error).message})`);
      }
      if (!isObject(raw)) throw new UserError(`${where}: each line must be a JSON object`);
      const idValue = raw['id'];
      if (typeof idValue !== 'string' && typeof idValue !== 'number') throw new UserError(`${where}: field "id" is missing or not a string`);
      const id = String(idValue);
      where = `${file}:${line}: record "${id}"`;
      const earlier = seen.get(id);
      if (earlier !== undefined) throw new UserError(`${where}: duplicate id (first seen at ${earlier})`);
      seen.set(id, `${file}:${line}`);
      report.total += 1;

      const question = requireString(raw, 'question', where, { nonEmpty: true });
      const choices = requireChoices(raw, 'choices', where);
      const letter = requireString(raw, 'answer', where, { nonEmpty: true }).trim();
      if (!/^[A-Z]$/.test(letter)) throw new UserError(`${where}: field "answer" must be one capital letter A-Z, got "${letter}"`);
      const answerIndex = letter.charCodeAt(0) - 65;
      if (answerIndex >= choices.length) throw new UserError(`${where}: field "answer" is "${letter}" but there are only ${choices.length} choices`);
      const rationale = requireString(raw, 'rationale', where).trim();
      const hint = requireString(raw, 'context', where, { optional: true });
      // "image", or "image_path" as some exports name it.
      const image = !('image' in raw) && 'image_path' in raw ? requireStringOrNull(raw, 'image_path', where) : requireStringOrNull(raw, 'image', where);
      // The validation split under the names exports give it (as its file may be dev.jsonl).
      const rawSplit = raw['split'];
      const ownSplit = rawSplit === 'dev' || rawSplit === 'validation' ? 'val' : rawSplit;
      if (ownSplit !== undefined && !isSplit(ownSplit)) throw new UserError(`${where}: field "split" must be one of ${SPLITS.join(', ')} (or dev / validation for val), got ${JSON.stringify(rawSplit)}`);
      if (fileSplit !== undefined && ownSplit !== undefined && ownSplit !== fileSplit) {
        throw new UserError(`${where}: field "split" is "${ownSplit}" but the file is the ${fileSplit} split`);
      }
      const split = fileSplit ?? ownSplit;
      if (split === undefined) throw new UserError(`${where}: field "split" is missing (needed when the file is not named train/val/dev/test.jsonl)`);
      if (!opts.splits.includes(split)) { report.otherSplits += 1; return; }

      let imagePath: string | null = null;
      let exists = false;
      if (image !== null) {
        if (isAbsolute(image)) throw new UserError(`${where}: field "image": absolute path "${image}" is not allowed`);
        const resolved = resolveInside(root, image, `${where}: field "image"`);
        imagePath = resolved.path;
        exists = resolved.exists;
      }
      const kept = applyImagePolicy(report, id, imagePath, exists);
      if (kept === undefined) return;
      records.push({ id, split, question, hint, choices, answerIndex, rationale, steps: rationaleToSteps(rationale, opts.maxSteps), imagePath: kept });
    });
  }
  records.sort((a, b) => SPLITS.indexOf(a.split) - SPLITS.indexOf(b.split));
  return finishReport(report, records, files.length === 1 ? files[0]! : root);
}
