import type { CliIo } from './io.ts';

/** `sluice incident` — not built yet. */
export async function run(_args: string[], io: CliIo): Promise<number> {
  io.stderr.write('sluice incident: not available yet\n');
  return 2;
}
