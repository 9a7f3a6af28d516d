/**
 * A node:test reporter that writes, at the end of a run, the seconds each test file took: the sum of its top-level
 * tests' durations, as JSON `{ "test/dir/x.test.ts": seconds }` (paths relative to the working directory).
 * scripts/test.ts starts the longest files first from such a record (test/durations.json), so that two long files do
 * not end the run alone. Plain JavaScript: Node 20 loads a reporter before tsx's hooks are in place.
 */
import * as path from 'node:path';

export default async function* durations(source) {
  const seconds = {};
  for await (const ev of source) {
    if ((ev.type === 'test:pass' || ev.type === 'test:fail') && ev.data.nesting === 0 && ev.data.file) {
      const file = path.relative(process.cwd(), ev.data.file);
      seconds[file] = (seconds[file] ?? 0) + (ev.data.details?.duration_ms ?? 0) / 1000;
    }
  }
  const sorted = Object.fromEntries(Object.entries(seconds).sort(([a], [b]) => (a < b ? -1 : 1)).map(([f, s]) => [f, Math.round(s * 10) / 10]));
  yield `${JSON.stringify(sorted, null, 2)}\n`;
}
