// Loader for ScienceQA's layout (also what the synthetic generator writes):
//   DIR/problems.json     {pid: {question, choices, answer (index), hint, image ("image.png"|null),
//                                lecture, solution, split, ...}}
//   DIR/pid_splits.json   {train: [pid...], val: [...], test: [...]} (other keys, e.g. ScienceQA's
//                         "minitrain", are ignored); optional, else each record's "split" is used
//   DIR/images/<split>/<pid>/<image>
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../../engine/errors.js';
import { SPLITS, isSplit, type ProblemRecord, type Split } from './record.js';
import { rationaleToSteps } from './steps.js';
import { assertSafeSegment, resolveInside } from './paths.js';
import { isObject, readJsonFile, readJsonObjectById, requireChoices, requireInteger, requireString, requireStringOrNull, type JsonObject } from './validate.js';
import { applyImagePolicy, emptyReport, finishReport, resolveLoadOptions, type LoadOptions, type LoadedDataset } from './dataset.js';

/** pid -> split from pid_splits.json, checking its shape and that every pid is known. */
function readPidSplits(file: string, problems: JsonObject): Map<string, Split> {
  const raw = readJsonFile(file);
  if (!isObject(raw)) throw new UserError(`${file}: must be an object {train: [...], val: [...], test: [...]}`);
  const map = new Map<string, Split>();
  for (const split of SPLITS) {
    const list = raw[split];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new UserError(`${file}: field "${split}" must be an array of problem ids`);
    list.forEach((pid, i) => {
      if (typeof pid !== 'string' && typeof pid !== 'number') throw new UserError(`${file}: "${split}"[${i}] must be a problem id string`);
      const key = String(pid);
      if (!(key in problems)) throw new UserError(`${file}: "${split}"[${i}] names problem "${key}", which is not in problems.json`);
      const prev = map.get(key);
      if (prev !== undefined) throw new UserError(`${file}: problem "${key}" is listed in both "${prev}" and "${split}"`);
      map.set(key, split);
    });
  }
  return map;
}

export function loadScienceQA(dir: string, options: LoadOptions = {}): LoadedDataset {
  const opts = resolveLoadOptions(options);
  const root = resolve(dir);
  const problemsFile = join(root, 'problems.json');
  const splitsFile = join(root, 'pid_splits.json');
  const raw = readJsonObjectById(problemsFile);
  if (!isObject(raw)) throw new UserError(`${problemsFile}: must be an object keyed by problem id`);
  const splitOf = existsSync(splitsFile) ? readPidSplits(splitsFile, raw) : null;
  const report = emptyReport('scienceqa', root, opts.missingImage);

  // Order: train, val, test; within a split, pid_splits.json order (else file order).
  const pids = Object.keys(raw);
  const ordered: Array<[string, Split]> = [];
  for (const pid of pids) {
    const record = raw[pid];
    const where = `${problemsFile}: record "${pid}"`;
    if (!isObject(record)) throw new UserError(`${where}: must be an object`);
    const own = record['split'];
    if (own !== undefined && !isSplit(own) && typeof own !== 'string') throw new UserError(`${where}: field "split" must be a string`);
    const listed = splitOf?.get(pid);
    let split: Split;
    if (listed !== undefined) {
      if (isSplit(own) && own !== listed) throw new UserError(`${where}: field "split" is "${own}" but ${splitsFile} lists it under "${listed}"`);
      split = listed;
    } else if (isSplit(own)) {
      split = own;
    } else {
      throw new UserError(`${where}: no split (not in pid_splits.json, and field "split" is ${own === undefined ? 'missing' : `"${String(own)}"`}; expected train, val or test)`);
    }
    ordered.push([pid, split]);
  }
  if (splitOf) {
    const rank = new Map<string, number>();
    let i = 0;
    for (const pid of splitOf.keys()) rank.set(pid, i++);
    ordered.sort((a, b) => (rank.get(a[0]) ?? Infinity) - (rank.get(b[0]) ?? Infinity));
  }
  ordered.sort((a, b) => SPLITS.indexOf(a[1]) - SPLITS.indexOf(b[1]));

  const records: ProblemRecord[] = [];
  report.total = ordered.length;
  for (const [pid, split] of ordered) {
    const record = raw[pid] as JsonObject;
    const where = `${problemsFile}: record "${pid}"`;
    const question = requireString(record, 'question', where, { nonEmpty: true });
    const choices = requireChoices(record, 'choices', where);
    const answerIndex = requireInteger(record, 'answer', where, 0, choices.length - 1);
    const hint = requireString(record, 'hint', where, { optional: true });
    const lecture = requireString(record, 'lecture', where, { optional: true });
    const solution = requireString(record, 'solution', where, { optional: true });
    const image = requireStringOrNull(record, 'image', where);
    if (!opts.splits.includes(split)) { report.otherSplits += 1; continue; }

    let imagePath: string | null = null;
    let exists = false;
    if (image !== null) {
      if (isAbsolute(image)) throw new UserError(`${where}: field "image": absolute path "${image}" is not allowed`);
      // A file name inside the problem's own folder, as ScienceQA has it: join() would fold a
      // ".." away before the containment check, and "../2/image.png" is another problem's picture.
      if (image === '' || image === '.' || image === '..' || /[\\/\0]/.test(image)) throw new UserError(`${where}: field "image": "${image}" must be a file name in the problem's folder (images/${split}/${pid}/), without "/" or ".."`);
      assertSafeSegment(pid, where);
      const resolved = resolveInside(root, join('images', split, pid, image), `${where}: field "image"`);
      imagePath = resolved.path;
      exists = resolved.exists;
    }
    const kept = applyImagePolicy(report, pid, imagePath, exists);
    if (kept === undefined) continue;

    const rationale = (opts.rationale === 'solution' ? [solution] : [lecture, solution])
      .map((s) => s.trim()).filter((s) => s.length > 0).join('\n');
    records.push({
      id: pid, split, question, hint, choices, answerIndex, rationale,
      steps: rationaleToSteps(rationale, opts.maxSteps), imagePath: kept,
    });
  }
  return finishReport(report, records, problemsFile);
}
