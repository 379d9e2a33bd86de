import type { CliIo } from './io.ts';

/** `sluice keys` — not built yet. */
export async function run(_args: string[], io: CliIo): Promise<number> {
  io.stderr.write('sluice keys: not available yet\n');
  return 2;
}
