/**
 * The benchmark upstream (bench/upstream.ts) as a child process pinned to the server core.
 *
 * @example
 *   const upstream = await startUpstreamProcess();
 *   // … load gateways in front of upstream.url …
 *   await upstream.child.stop();
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, spawnPinned } from './procs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function startUpstreamProcess(): Promise<{ url: string; child: Child }> {
  const child = spawnPinned(0, process.execPath, [join(ROOT, 'bench', 'upstream.ts')], {
    name: 'upstream',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  try {
    const m = await child.waitForLine(/listening (http:\/\/\S+)/, 10_000);
    return { url: m[1], child };
  } catch (error) {
    await child.stop();
    throw error;
  }
}
