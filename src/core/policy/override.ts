/**
 * Command-line overrides of the server settings (`--listen`, `--upstream`, `--data`),
 * checked with the same rules as the policy file and applied over a compiled policy.
 */
import { SluiceError } from '../errors.ts';
import { deepFreeze } from './compile-context.ts';
import type { Policy } from './types.ts';
import { parseHttpUrl, parseListen } from './values.ts';

export interface ServerOverrides {
  /** `HOST:PORT`, e.g. `127.0.0.1:8080` (`[::1]:8080` for IPv6). */
  listen?: string;
  /** Base URL of the upstream API, `http://` or `https://`. */
  upstream?: string;
  dataDir?: string;
}

function usage(message: string): SluiceError {
  return new SluiceError('SLUICE_ERR_CLI_USAGE', message, { exitCode: 2 });
}

/**
 * A new policy with the given server settings replaced; the policy itself is not changed.
 * Throws `SLUICE_ERR_CLI_USAGE` (exit 2) naming the option when a value is wrong.
 *
 * @example
 * withServerOverrides(policy, { listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:3000' });
 */
export function withServerOverrides(policy: Policy, overrides: ServerOverrides): Policy {
  let { listen, upstream, dataDir } = policy.server;
  if (overrides.listen !== undefined) {
    const parsed = parseListen(overrides.listen);
    if (!parsed.ok) throw usage(`--listen: ${parsed.message}`);
    listen = parsed.value;
  }
  if (overrides.upstream !== undefined) {
    const parsed = parseHttpUrl(overrides.upstream);
    if (!parsed.ok) throw usage(`--upstream: ${parsed.message}`);
    upstream = parsed.value;
  }
  if (overrides.dataDir !== undefined) {
    if (overrides.dataDir.trim() === '') throw usage('--data: the directory name is empty');
    dataDir = overrides.dataDir;
  }
  return deepFreeze({ ...policy, server: { ...policy.server, listen, upstream, dataDir } });
}
