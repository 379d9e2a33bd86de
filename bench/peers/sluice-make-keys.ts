/**
 * Creates API keys for the benchmark through sluice's own CLI, in one process (a node
 * start per key would take minutes for 1000 keys): the same as running
 * `node src/cli/main.ts keys create --account acct-N --data DIR` N times.
 *
 *   node bench/peers/sluice-make-keys.ts --count 1000 --data /tmp/dir
 *
 * prints one key per line, then `done N`. Exits 3 with the CLI's words when a key
 * cannot be created (e.g. the command is not built yet).
 */
import { parseArgs } from 'node:util';

/**
 * The secret key in what `keys create` printed: a JSON field (`key`, `secret`,
 * `apiKey`), the only word printed, a `key: …`/`secret: …` line, or else the longest
 * word of 16+ characters.
 *
 * @example extractKey('sk_live_8f2…\n') // → 'sk_live_8f2…'
 */
export function extractKey(stdout: string): string | undefined {
  const text = stdout.trim();
  if (text === '') return undefined;
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    for (const field of ['key', 'secret', 'apiKey']) {
      if (typeof json[field] === 'string') return json[field];
    }
  } catch {
    // Not JSON.
  }
  if (!/\s/.test(text)) return text;
  const labelled = text.match(/^\s*(?:api[ -]?key|secret|key)\s*[:=]\s*(\S+)\s*$/im);
  if (labelled) return labelled[1];
  const words = text.split(/\s+/).filter((w) => /^[A-Za-z0-9_.~+/=-]{16,}$/.test(w));
  words.sort((a, b) => b.length - a.length);
  return words[0];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { count: { type: 'string' }, data: { type: 'string' } },
  });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || values.data === undefined) {
    process.stderr.write('usage: sluice-make-keys.ts --count N --data DIR\n');
    return 2;
  }
  const { main: sluice } = await import('../../src/cli/main.ts');
  for (let i = 1; i <= count; i++) {
    let out = '';
    let err = '';
    const io = {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: process.env,
      cwd: process.cwd(),
    };
    const args = ['keys', 'create', '--account', `acct-${i}`, '--data', values.data];
    const status = await sluice(args, io);
    const key = status === 0 ? extractKey(out) : undefined;
    if (key === undefined) {
      process.stderr.write(`keys create failed (exit ${status}): ${(err || out).trim()}\n`);
      return 3;
    }
    process.stdout.write(`${key}\n`);
  }
  process.stdout.write(`done ${count}\n`);
  return 0;
}

if (import.meta.main) {
  // Exit explicitly: a store may keep handles open. Pipes are synchronous on Linux.
  process.exit(await main());
}
