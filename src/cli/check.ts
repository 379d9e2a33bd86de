import type { CliIo } from './io.ts';

/** `sluice check` — not built yet. */
export async function run(_args: string[], io: CliIo): Promise<number> {
  io.stderr.write('sluice check: not available yet\n');
  return 2;
}
