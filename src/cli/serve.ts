import type { CliIo } from './io.ts';

/** `sluice serve` — not built yet. */
export async function run(_args: string[], io: CliIo): Promise<number> {
  io.stderr.write('sluice serve: not available yet\n');
  return 2;
}
